"""Placement suggestions: exact families, CPU rescaling and prices from small catalogs and the bundled ones."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from gitbot.metrics.usage import NodeInfo
from gitbot.model import ObjectSource, SourceKind, Target, TargetKind, Workload, WorkloadId
from gitbot.placement import MAX_SPEEDUP, NoPlacement, Placement, counted_ratio, family_of, snippet, suggest
from gitbot.pricing.catalog import load_catalog
from gitbot.pricing.cost import HOURS_PER_MONTH, usd

GI = 2**30
HEADER = ("cloud,region,instance_type,family,category,arch,vcpu,memory_gib,price_ondemand_usd_hour,price_spot_usd_hour,"
          "spot_is_estimate,cpu_perf_per_vcpu,cpu_perf_source\n")
# general 4 GiB/vCPU, compute 2 GiB/vCPU with cores twice as fast, memory 8 GiB/vCPU; $0.04/vCPU-ish
ROWS = """\
aws,us-east-1,g1.xlarge,g1,general,amd64,4,16,0.20,0.08,true,1000,coremark
aws,us-east-1,g1.2xlarge,g1,general,amd64,8,32,0.40,0.16,true,1000,coremark
aws,us-east-1,c1.xlarge,c1,compute,amd64,4,8,0.16,0.05,true,2000,coremark
aws,us-east-1,r1.xlarge,r1,memory,amd64,4,32,0.24,0.06,true,1000,coremark
aws,us-east-1,t1.xlarge,t1,burstable,amd64,4,16,0.01,,false,1000,coremark
aws,us-east-1,x1.xlarge,x1,compute,amd64,4,8,0.01,,false,,
aws,us-east-1,a1.xlarge,a1,compute,arm64,4,8,0.01,,false,3000,coremark
"""


def catalog(tmp_path: Path, rows: str = ROWS):
    path = tmp_path / "catalog.csv"
    path.write_text(HEADER + rows)
    return load_catalog(str(path))


def workload(tier: str = "production") -> Workload:
    return Workload(WorkloadId("shop", "Deployment", "web"), Target(TargetKind.PLAIN, "web.yaml", "web.yaml"),
                    ObjectSource("web.yaml", 0, 1, SourceKind.PLAIN), tier, tier, 2, ())


NODE = NodeInfo("n1", "g1.xlarge", "us-east-1", "us-east-1a", "on-demand", "amd64")


def test_a_memory_heavy_pod_moves_to_the_memory_family(tmp_path: Path) -> None:
    # 500m and 4 GiB: on g1.xlarge the memory share dominates (4/16 x $0.20 = $0.05/h); on r1.xlarge
    # 4/32 x $0.24 = $0.03/h; on c1 (cores counted sqrt(2)x as fast: 354m) 4/8 x $0.16 = $0.08/h
    found = suggest(workload(), 500, 4 * GI, Decimal(2), NODE, catalog(tmp_path), spot=False)
    assert isinstance(found, Placement)
    assert (found.current.instance.instance_type, found.current.hourly_per_pod) == ("g1.xlarge", Decimal("0.05"))
    assert (found.suggested.instance.instance_type, found.suggested.capacity, found.suggested.cpu_m) == ("r1.xlarge", "on-demand", 500)
    assert found.suggested.hourly_per_pod == Decimal("0.03")
    assert (found.monthly_before, found.monthly_after) == (Decimal("0.05") * 2 * HOURS_PER_MONTH, Decimal("0.03") * 2 * HOURS_PER_MONTH)
    assert found.monthly_before - found.monthly_after == Decimal("29.20")
    assert found.speed_ratio == Decimal(1)
    assert found.reason == ("500m CPU and 4Gi per pod (8.0 GiB per vCPU) fits r1 (memory-optimised, on-demand) better than "
                            "g1 (general purpose, on-demand)")
    # preferred by default: pods run elsewhere where the family cannot be provisioned, never Pending
    assert found.affinity == "preferred"
    assert found.snippet == (
        "affinity:\n  nodeAffinity:\n    preferredDuringSchedulingIgnoredDuringExecution:\n      - weight: 100\n"
        "        preference:\n          matchExpressions:\n            - key: karpenter.k8s.aws/instance-family\n"
        "              operator: In\n              values: [r1]\n"
    )
    required = suggest(workload(), 500, 4 * GI, Decimal(2), NODE, catalog(tmp_path), spot=False, affinity="required")
    assert isinstance(required, Placement) and required.affinity == "required"
    assert required.snippet == (
        "affinity:\n  nodeAffinity:\n    requiredDuringSchedulingIgnoredDuringExecution:\n      nodeSelectorTerms:\n"
        "        - matchExpressions:\n            - key: karpenter.k8s.aws/instance-family\n              operator: In\n"
        "              values: [r1]\n"
    )


def test_cpu_is_rescaled_by_the_square_root_of_the_core_speed_ratio(tmp_path: Path) -> None:
    # 2 cores and 2 GiB: g1 charges the CPU share, 2000/4000 x $0.20 = $0.10/h. c1's cores are twice as
    # fast in CoreMark (2000 vs 1000 per vCPU); counted sqrt(2) = 1.41421356x as fast, the same work needs
    # ceil(2000 / 1.41421356) = 1415m there (not 1000m): 1415/4000 x $0.16 = $0.0566/h.
    # x1 (no benchmark) and a1 (arm64) and t1 (burstable) are never candidates, however cheap.
    found = suggest(workload(), 2000, 2 * GI, Decimal(1), NODE, catalog(tmp_path), spot=False)
    assert isinstance(found, Placement)
    assert (found.suggested.instance.instance_type, found.suggested.cpu_m, found.suggested.hourly_per_pod) == ("c1.xlarge", 1415, Decimal("0.0566"))
    assert (found.benchmark_ratio, found.speed_ratio) == (Decimal(2), Decimal(2).sqrt())
    assert str(found.speed_ratio)[:10] == "1.41421356"
    assert usd(found.monthly_after - found.monthly_before) == Decimal("-31.68")  # (0.0566 - 0.10) x 730
    assert found.reason.endswith("; c1 cores counted 1.41x as fast as g1 (CoreMark 2.00x: square root), so 2 becomes 1415m")
    # no floor below the observed median of 500m: 1415m is above it
    floored = suggest(workload(), 2000, 2 * GI, Decimal(1), NODE, catalog(tmp_path), spot=False, cpu_p50_m=500)
    assert isinstance(floored, Placement) and (floored.suggested.cpu_m, floored.floored) == (1415, False)


# f1: cores 3x as fast in CoreMark; s1: 4x slower (and very cheap per vCPU)
SPEED_ROWS = """aws,us-east-1,g1.xlarge,g1,general,amd64,4,16,0.20,0.08,true,1000,coremark
aws,us-east-1,f1.xlarge,f1,compute,amd64,4,8,0.16,0.05,true,3000,coremark
"""
SLOW_ROWS = """aws,us-east-1,g1.xlarge,g1,general,amd64,4,16,0.20,0.08,true,1000,coremark
aws,us-east-1,s1.xlarge,s1,compute,amd64,4,8,0.08,0.03,true,250,coremark
"""


def test_counted_ratio_is_the_square_root_within_1_5x_either_way() -> None:
    assert MAX_SPEEDUP == Decimal("1.5")
    assert counted_ratio(Decimal(1)) == Decimal(1)
    assert counted_ratio(Decimal("1.44")) == Decimal("1.2")
    assert counted_ratio(Decimal("2.25")) == Decimal("1.5")  # the square root reaches the cap exactly
    assert counted_ratio(Decimal("2.7")) == Decimal("1.5")  # m8a-like against m6i: sqrt 1.64, capped
    assert counted_ratio(Decimal("0.64")) == Decimal("0.8")
    assert counted_ratio(Decimal("0.25")) == 1 / Decimal("1.5")  # sqrt 0.5, capped at 1/1.5


def test_a_much_faster_family_is_counted_at_most_1_5x_as_fast(tmp_path: Path) -> None:
    # f1 is 3x as fast in CoreMark: sqrt 1.73, capped at 1.5, so 2000m becomes ceil(1333.3) = 1334m
    # (not 667m as the raw ratio, nor 1155m as the square root would have it): 1334/4000 x $0.16 = $0.05336/h
    found = suggest(workload(), 2000, 2 * GI, Decimal(1), NODE, catalog(tmp_path, SPEED_ROWS), spot=False)
    assert isinstance(found, Placement)
    assert (found.suggested.instance.instance_type, found.suggested.cpu_m, found.suggested.hourly_per_pod) == ("f1.xlarge", 1334, Decimal("0.05336"))
    assert (found.benchmark_ratio, found.speed_ratio, found.floored) == (Decimal(3), Decimal("1.5"), False)
    assert usd(found.monthly_after - found.monthly_before) == Decimal("-34.05")  # (0.05336 - 0.10) x 730 = -34.0472
    assert found.reason == ("2 CPU and 2Gi per pod (1.0 GiB per vCPU) fits f1 (compute-optimised, on-demand) better than "
                            "g1 (general purpose, on-demand); f1 cores counted 1.50x as fast as g1 "
                            "(CoreMark 3.00x: square root, capped at 1.50x), so 2 becomes 1334m")


def test_a_slower_family_is_counted_at_most_1_5x_slower(tmp_path: Path) -> None:
    # s1 is 4x slower in CoreMark: sqrt 0.5, capped at 1/1.5, so 1000m becomes 1500m there (not 4000m,
    # nor 2000m): 1500/4000 x $0.08 = $0.03/h against g1's 1000/4000 x $0.20 = $0.05/h. The p50 floor
    # does nothing on slower cores: the request only grows.
    found = suggest(workload(), 1000, GI, Decimal(2), NODE, catalog(tmp_path, SLOW_ROWS), spot=False, cpu_p50_m=900)
    assert isinstance(found, Placement)
    assert (found.suggested.instance.instance_type, found.suggested.cpu_m, found.suggested.hourly_per_pod) == ("s1.xlarge", 1500, Decimal("0.03"))
    assert (found.benchmark_ratio, found.speed_ratio, found.floored) == (Decimal("0.25"), 1 / Decimal("1.5"), False)
    assert found.monthly_before - found.monthly_after == Decimal("29.20")  # (0.05 - 0.03) x 2 x 730
    assert found.reason.endswith("; s1 cores counted 0.67x as fast as g1 (CoreMark 0.25x: square root, capped at 0.67x), "
                                 "so 1 becomes 1500m")
    # a slower family within the cap keeps the square root: r5a against m6i in the bundled catalog (below)


def test_a_faster_family_never_gets_less_cpu_than_the_observed_p50(tmp_path: Path) -> None:
    # 2000m requested, the pods' median 1600m: on f1 (counted 1.5x) 1334m would be below it, so 1600m
    # is priced: 1600/4000 x $0.16 = $0.064/h, still the cheapest (g1 $0.10/h)
    found = suggest(workload(), 2000, 2 * GI, Decimal(1), NODE, catalog(tmp_path, SPEED_ROWS), spot=False, cpu_p50_m=1600)
    assert isinstance(found, Placement)
    assert (found.suggested.instance.instance_type, found.suggested.cpu_m, found.suggested.hourly_per_pod) == ("f1.xlarge", 1600, Decimal("0.064"))
    assert (found.cpu_scaled_m, found.cpu_p50_m, found.floored) == (1334, 1600, True)
    assert usd(found.monthly_after - found.monthly_before) == Decimal("-26.28")  # (0.064 - 0.10) x 730
    assert found.reason.endswith("; f1 cores counted 1.50x as fast as g1 (CoreMark 3.00x: square root, capped at 1.50x), "
                                 "so 2 would become 1334m, below the 1600m CPU p50 observed on g1: kept at 1600m")
    # a median above the request (the request was cut below it) keeps the request, and no more:
    # 2000/4000 x $0.16 = $0.08/h, 20% below g1
    above = suggest(workload(), 2000, 2 * GI, Decimal(1), NODE, catalog(tmp_path, SPEED_ROWS), spot=False, cpu_p50_m=2500)
    assert isinstance(above, Placement)
    assert (above.suggested.cpu_m, above.suggested.hourly_per_pod, above.floored) == (2000, Decimal("0.08"), True)
    assert above.reason.endswith("so 2 would become 1334m, below the 2500m CPU p50 observed on g1: kept at 2")


def test_non_production_goes_to_spot_and_small_savings_are_not_suggested(tmp_path: Path) -> None:
    spot = suggest(workload("non-production"), 500, 4 * GI, Decimal(1), NODE, catalog(tmp_path), spot=True)
    assert isinstance(spot, Placement)
    # spot: r1 4/32 x $0.06 = $0.0075/h against g1 on-demand $0.05/h
    assert (spot.suggested.instance.instance_type, spot.suggested.capacity, spot.suggested.hourly_per_pod) == ("r1.xlarge", "spot", Decimal("0.0075"))
    assert "karpenter.sh/capacity-type" in spot.snippet and "values: [spot]" in spot.snippet
    # 1 core and 4 GiB is g1's own shape: nothing is 10% cheaper on-demand
    assert suggest(workload(), 1000, 4 * GI, Decimal(1), NODE, catalog(tmp_path), spot=False) == NoPlacement(
        "g1 (general purpose, on-demand) is within 10% of the cheapest fit"
    )


def test_no_suggestion_without_a_known_node_or_requests(tmp_path: Path) -> None:
    unknown = NodeInfo("n1", "z9.huge", "us-east-1", None, None, "amd64")
    assert suggest(workload(), 500, GI, Decimal(1), unknown, catalog(tmp_path), spot=False) == NoPlacement("node type z9.huge is not in the catalog")
    assert suggest(workload(), 0, GI, Decimal(1), NODE, catalog(tmp_path), spot=False) == NoPlacement("no CPU or memory request to place")


def test_bundled_aws_catalog_exact_family_and_price() -> None:
    # a 250m / 3 GiB pod on m6i.xlarge (4 vCPU, 16 GiB, $0.192/h): memory share 3/16 -> $0.036/h.
    # The cheapest fit in us-east-1 is r5a (memory-optimised, $2.712/h for 48 vCPU / 384 GiB): its
    # cores are slower (CoreMark median 13085.25 against m6i's 16840.7 per vCPU: 0.777x, counted
    # sqrt 0.88147x, within the cap), so 250m becomes 284m, but memory still dominates:
    # 3/384 x $2.712 = $0.0211875/h.
    node = NodeInfo("n", "m6i.xlarge", "us-east-1", "us-east-1a", "on-demand", "amd64")
    found = suggest(workload(), 250, 3 * GI, Decimal(1), node, load_catalog("aws"), spot=False)
    assert isinstance(found, Placement)
    assert found.current.hourly_per_pod == Decimal("0.036")
    assert (found.suggested.instance.instance_type, found.suggested.instance.category) == ("r5a.12xlarge", "memory")
    assert found.benchmark_ratio == Decimal("13085.25") / Decimal("16840.7")
    assert found.speed_ratio == (Decimal("13085.25") / Decimal("16840.7")).sqrt()
    assert str(found.speed_ratio)[:7] == "0.88147"
    assert found.suggested.cpu_m == 284
    assert found.reason.endswith("; r5a cores counted 0.88x as fast as m6i (CoreMark 0.78x: square root), so 250m becomes 284m")
    assert found.suggested.hourly_per_pod == Decimal("0.0211875")
    assert usd(found.monthly_after - found.monthly_before) == Decimal("-10.81")  # (0.0211875 - 0.036) x 730


def test_gcp_and_azure_snippets_use_their_labels_and_spot_tolerations() -> None:
    gcp = load_catalog("gcp:us-central1")
    highmem = gcp.find("n2-highmem-4", "us-central1")
    assert highmem is not None and family_of(highmem) == "n2-highmem"
    assert snippet(highmem, ["n2-highmem-2", "n2-highmem-4"], "spot", "required") == (
        "affinity:\n  nodeAffinity:\n    requiredDuringSchedulingIgnoredDuringExecution:\n      nodeSelectorTerms:\n"
        "        - matchExpressions:\n            - key: node.kubernetes.io/instance-type\n              operator: In\n"
        "              values: [n2-highmem-2, n2-highmem-4]\n"
        'nodeSelector:\n  cloud.google.com/gke-spot: "true"\n'
        'tolerations:\n  - key: cloud.google.com/gke-spot\n    operator: Equal\n    value: "true"\n    effect: NoSchedule\n'
    )
    # preferred: spot is one more preferred label, not a nodeSelector; the toleration only allows spot nodes
    assert snippet(highmem, ["n2-highmem-2", "n2-highmem-4"], "spot") == (
        "affinity:\n  nodeAffinity:\n    preferredDuringSchedulingIgnoredDuringExecution:\n      - weight: 100\n"
        "        preference:\n          matchExpressions:\n            - key: node.kubernetes.io/instance-type\n"
        "              operator: In\n              values: [n2-highmem-2, n2-highmem-4]\n"
        '            - key: cloud.google.com/gke-spot\n              operator: In\n              values: ["true"]\n'
        'tolerations:\n  - key: cloud.google.com/gke-spot\n    operator: Equal\n    value: "true"\n    effect: NoSchedule\n'
    )
    azure = load_catalog("azure:eastus").find("Standard_E4s_v5", "eastus")
    assert azure is not None
    text = snippet(azure, ["Standard_E4s_v5"], "spot", "required")
    assert "nodeSelector:\n  kubernetes.azure.com/scalesetpriority: spot\n" in text
    assert "  - key: kubernetes.azure.com/scalesetpriority\n    operator: Equal\n    value: spot\n    effect: NoSchedule\n" in text
    text = snippet(azure, ["Standard_E4s_v5"], "spot")
    assert "nodeSelector" not in text and "            - key: kubernetes.azure.com/scalesetpriority\n              operator: In\n" in text
    assert "  - key: kubernetes.azure.com/scalesetpriority\n    operator: Equal\n    value: spot\n    effect: NoSchedule\n" in text
    with pytest.raises(ValueError, match="affinity must be one of preferred, required, not 'soft'"):
        snippet(azure, ["Standard_E4s_v5"], "spot", "soft")


@pytest.mark.parametrize("fmt", ["json", "markdown"])
def test_the_demo_plan_carries_placement_suggestions(fmt: str) -> None:
    from gitbot.output.render import render
    from gitbot.pipeline import PlanRequest, plan

    root = Path(__file__).resolve().parents[1]
    result, doc = plan(PlanRequest(repo=root / "fixtures" / "demo-repo", metrics_file=root / "fixtures" / "demo-metrics.om.gz"))
    by_workload = {p["workload"]: p for p in doc["placements"]}
    index = by_workload["search-prod/StatefulSet/search-index"]
    # m6a's cores are 1.215x m6i's in CoreMark, counted sqrt = 1.102x: the 920m request becomes 835m
    assert (index["current"]["family"], index["suggested"]["family"], index["suggested"]["category"]) == ("m6i", "m6a", "general")
    assert (index["cpu_speed_ratio"], index["suggested"]["cpu_request_m"]) == ("1.10", 835)
    assert index["monthly_cost"] == {"before_usd": "96.71", "after_usd": "79.00", "delta_usd": "-17.71"}
    # the pods' observed CPU medians reach placement (the floor for a faster family): storefront's is
    # 301m, above the 166m that m8a's raw CoreMark ratio (2.60x) made of its 430m before
    p50 = {str(p.workload.id): p.cpu_p50_m for p in result.placements}
    assert (p50["shop/Deployment/storefront"], p50["shop/Deployment/cart"], p50["search-prod/StatefulSet/search-index"]) == (301, 80, 430)
    staging = by_workload["search-staging/StatefulSet/search-index"]
    assert (staging["current"]["capacity_type"], staging["suggested"]["capacity_type"]) == ("spot", "spot")
    assert {p["node_affinity"] for p in doc["placements"]} == {"preferred"}
    text = render(doc, fmt)
    assert "m6a" in text and ("### Placement suggestions (comment-only)" in text if fmt == "markdown" else '"placements"' in text)
    if fmt == "markdown":
        # its own table and cost model, with the risk of the affinity next to it
        assert "| Workload | Now | Suggested | node share, $/month |\n|---|---|---|---:|\n" in text
        assert ("| `search-prod/StatefulSet/search-index` | m6i (general, on-demand, 920m CPU) | m6a (general, on-demand, 835m CPU) | "
                "$96.71 → $79.00 (−$17.71) |") in text
        assert "**Preferred node affinity:** the scheduler (and Karpenter, when it provisions) uses the suggested family" in text
        # co-location: the preferred pod affinity narrows a production service to fewer zones
        assert ("  - **Fewer zones:** the pod affinity concentrates production service `shop-prod/Deployment/checkout` in the "
                "zones us-east-1a, us-east-1b (2 of its 3); a zone outage then takes a larger share of its pods.") in text


def test_a_required_affinity_says_pods_stay_pending() -> None:
    from gitbot.output.render import _affinity_caveat

    assert _affinity_caveat([{"node_affinity": "required"}], markdown=True) == (
        "**Required node affinity:** pods stay Pending wherever a node of the suggested family and capacity type cannot be "
        "provisioned. Check that the cluster's node pools (e.g. the Karpenter NodePool's requirements) allow it before applying a snippet."
    )
    assert _affinity_caveat([{}], markdown=False) == (  # a plan.json of an older gitbot: its snippets were required
        "node affinity: required: pods stay Pending where the family cannot be provisioned; check the node pools allow it"
    )


DEMO = Path(__file__).resolve().parents[1] / "fixtures" / "demo-repo"
METRICS = Path(__file__).resolve().parents[1] / "fixtures" / "demo-metrics.om.gz"
# the report's 1500m and 6Gi (its memory request takes no margin under its 8Gi limit) fit m6a best
CRONJOB_AFFINITY = """\
          affinity:
            nodeAffinity:
              preferredDuringSchedulingIgnoredDuringExecution:
                - weight: 100
                  preference:
                    matchExpressions:
                      - key: karpenter.k8s.aws/instance-family
                        operator: In
                        values: [m6a]
"""
CRONJOB_REQUIRED_AFFINITY = """\
          affinity:
            nodeAffinity:
              requiredDuringSchedulingIgnoredDuringExecution:
                nodeSelectorTerms:
                  - matchExpressions:
                      - key: karpenter.k8s.aws/instance-family
                        operator: In
                        values: [m6a]
"""


def demo_copy(tmp_path: Path, config_extra: str) -> Path:
    import shutil

    repo = tmp_path / "repo"
    shutil.copytree(DEMO, repo)
    with (repo / ".gitbot.yaml").open("a") as config:
        config.write(config_extra)
    return repo


def test_placement_edit_writes_the_block_where_the_pod_spec_is_and_says_why_not_elsewhere(tmp_path: Path) -> None:
    from gitbot.pipeline import PlanRequest, plan

    repo = demo_copy(tmp_path, "placement: edit\n")
    # a pod spec that already has a nodeSelector keeps its suggestion as a comment
    cart = repo / "apps" / "cart" / "deployment.yaml"
    cart.write_text(cart.read_text().replace("      containers:\n", "      nodeSelector: {pool: general}\n      containers:\n", 1))
    before = (repo / "apps" / "reports" / "cronjob.yaml").read_text()
    _, doc = plan(PlanRequest(repo=repo, metrics_file=METRICS, write=True))
    outcomes = {p["workload"]: (p["status"], p["edited_file"], p["why_not_edited"]) for p in doc["placements"]}
    assert outcomes == {
        "shop/Deployment/cart": ("comment-only", None, "the pod spec already sets nodeSelector; merge the snippet by hand"),
        "shop/Deployment/image-resizer": ("change", "apps/image-resizer/deployment.yaml", None),
        "shop/Deployment/legacy-admin": ("change", "apps/legacy-admin/deployment.yaml", None),
        "shop/CronJob/nightly-report": ("change", "apps/reports/cronjob.yaml", None),
        "shop/Deployment/storefront": ("change", "apps/storefront/deployment.yaml", None),
        "shop-prod/Deployment/checkout": ("comment-only", None, "platform/checkout/base/deployment.yaml is also rendered by "
                                          "platform/checkout/overlays/staging; add the snippet in this target's overlay"),
        "shop-staging/Deployment/checkout": ("comment-only", None, "platform/checkout/base/deployment.yaml is also rendered by "
                                             "platform/checkout/overlays/production; add the snippet in this target's overlay"),
        "shop-prod/Deployment/pricing-engine": ("change", "platform/pricing-engine/base/deployment.yaml", None),
        **{f"search-{env}/{kind}": ("comment-only", None, "the pod spec is not in a plain manifest or Kustomize resource "
                                    "(helm-template); paste the snippet where it is set")
           for env in ("staging", "prod") for kind in ("Deployment/search-gateway", "StatefulSet/search-index")},
    }
    # the block follows the pod spec's last key, at its indentation, after the resource edits
    after = (repo / "apps" / "reports" / "cronjob.yaml").read_text()
    assert after == before.replace('cpu: "1"\n                  memory: 8Gi\n', 'cpu: "1500m"\n                  memory: 6Gi\n') + CRONJOB_AFFINITY
    assert doc["written"] is True


def test_a_pod_spec_that_already_schedules_keeps_the_comment(tmp_path: Path) -> None:
    from gitbot.pipeline import PlanRequest, plan

    repo = demo_copy(tmp_path, "placement: edit\n")
    cart = repo / "apps" / "cart" / "deployment.yaml"
    cart.write_text(cart.read_text().replace("      containers:\n", "      affinity: {}\n      containers:\n", 1))
    _, doc = plan(PlanRequest(repo=repo, metrics_file=METRICS))
    cart_placement = next(p for p in doc["placements"] if p["workload"] == "shop/Deployment/cart")
    assert (cart_placement["status"], cart_placement["why_not_edited"]) == (
        "comment-only", "the pod spec already sets affinity; merge the snippet by hand")
    assert "affinity" not in next(e["diff"] for e in doc["edits"] if e["file"] == "apps/cart/deployment.yaml").replace("-      affinity", "")


def test_without_placement_edit_nothing_is_written_for_placements() -> None:
    from gitbot.pipeline import PlanRequest, plan

    _, doc = plan(PlanRequest(repo=DEMO, metrics_file=METRICS))
    assert {(p["status"], p["edited_file"], p["why_not_edited"]) for p in doc["placements"]} == {("comment-only", None, None)}
    assert not any("nodeAffinity" in e["diff"] for e in doc["edits"])
    assert "shop/DaemonSet/node-agent" not in {p["workload"] for p in doc["placements"]}  # it must run on every node


def test_placement_edit_with_required_affinity_writes_a_required_term(tmp_path: Path) -> None:
    from gitbot.pipeline import PlanRequest, plan

    repo = demo_copy(tmp_path, "placement:\n  mode: edit\n  affinity: required\n")
    before = (repo / "apps" / "reports" / "cronjob.yaml").read_text()
    _, doc = plan(PlanRequest(repo=repo, metrics_file=METRICS, write=True))
    report = next(p for p in doc["placements"] if p["workload"] == "shop/CronJob/nightly-report")
    assert (report["status"], report["node_affinity"]) == ("change", "required")
    after = (repo / "apps" / "reports" / "cronjob.yaml").read_text()
    assert after == before.replace('cpu: "1"\n                  memory: 8Gi\n', 'cpu: "1500m"\n                  memory: 6Gi\n') + CRONJOB_REQUIRED_AFFINITY


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("placement: edit\n", ("edit", "preferred")),
        ("placement: {affinity: required}\n", ("comment", "required")),
        ("placement: {mode: edit, affinity: preferred}\n", ("edit", "preferred")),
        ("placement: {affinity: always}\n", "config .gitbot.yaml: placement.affinity: must be preferred or required, not 'always'"),
        ("placement: {mode: sometimes}\n", "config .gitbot.yaml: placement.mode: must be comment or edit, not 'sometimes'"),
        ("placement: {weight: 5}\n", "config .gitbot.yaml: placement.weight: unknown key (allowed: affinity, mode)"),
        ("placement: 3\n", "config .gitbot.yaml: placement: expected comment, edit or a mapping with mode and affinity, got a number"),
    ],
)
def test_the_placement_key_takes_a_mode_or_a_mapping(tmp_path: Path, text: str, expected: object) -> None:
    from gitbot.config import load_config
    from gitbot.errors import InputError

    (tmp_path / ".gitbot.yaml").write_text(text)
    if isinstance(expected, str):
        with pytest.raises(InputError) as info:
            load_config(tmp_path, None)
        assert str(info.value) == expected
    else:
        config = load_config(tmp_path, None)
        assert (config.placement, config.placement_affinity) == expected
