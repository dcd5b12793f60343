"""End to end through the CLI on the bundled demo: golden JSON, schema, formats, --write, exit codes.

Regenerate the golden files after an intended change with ``GITBOT_UPDATE_GOLDEN=1 pytest tests/test_cli.py``
and review the diff like any other change.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import git
import jsonschema
import pytest
from click.testing import CliRunner

from gitbot.cli import main

ROOT = Path(__file__).resolve().parents[1]
DEMO = "fixtures/demo-repo"
METRICS = "fixtures/demo-metrics.om.gz"
GOLDEN = ROOT / "tests" / "golden"
UPDATE = os.environ.get("GITBOT_UPDATE_GOLDEN") == "1"


def run(*args: str, cwd: Path = ROOT) -> tuple[int, str, str]:
    """The CLI in-process, without the render cache: outputs name each target "rendered", never
    "cached", whatever ran before."""
    runner = CliRunner(env={"GITBOT_RENDER_CACHE": "off"})
    old = os.getcwd()
    os.chdir(cwd)
    try:
        result = runner.invoke(main, list(args), catch_exceptions=False)
    finally:
        os.chdir(old)
    return result.exit_code, result.stdout, result.stderr


def golden(name: str, text: str) -> None:
    path = GOLDEN / name
    if UPDATE:
        path.write_text(text, encoding="utf-8")
    assert path.exists(), f"missing golden file {path}; run with GITBOT_UPDATE_GOLDEN=1"
    assert text == path.read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def plan_json() -> dict:
    code, out, _ = run("plan", DEMO, "--metrics-file", METRICS, "--format", "json")
    assert code == 0
    return json.loads(out)


def test_demo_plan_matches_the_golden_json(plan_json):
    golden("demo-plan.json", json.dumps(plan_json, indent=2, ensure_ascii=False) + "\n")


def test_demo_plan_validates_against_the_documented_schema(plan_json):
    schema = json.loads((ROOT / "docs" / "plan-schema.json").read_text())
    jsonschema.Draft202012Validator.check_schema(schema)
    jsonschema.Draft202012Validator(schema).validate(plan_json)


def test_demo_plan_covers_the_story_the_demo_tells(plan_json):
    by = {(c["workload"], c["container"]): c for c in plan_json["containers"]}
    assert plan_json["summary"]["by_status"] == {"change": 15, "unchanged": 0, "comment-only": 0, "skipped": 2}
    assert (plan_json["summary"]["workloads"], plan_json["summary"]["containers"]) == (13, 17)
    # no CPU request -> one is added
    cart = by[("shop/Deployment/cart", "cart")]["fields"]["cpu_request_m"]
    assert (cart["current"], cart["recommended"], cart["written_text"], cart["source"]["present"]) == (None, 155, "155m", False)
    # idle, over-provisioned service: halved (max-step-down), not cut to its tiny usage in one go
    admin = by[("shop/Deployment/legacy-admin", "admin")]
    assert admin["fields"]["cpu_request_m"]["recommended"] == 1000
    assert "max-step-down" in admin["fields"]["cpu_request_m"]["rule_ids"]
    # OOM-killed container: memory goes up, above the kill level
    resizer = by[("shop/Deployment/image-resizer", "resizer")]
    assert resizer["usage"]["oom_events"] > 0
    assert resizer["fields"]["memory_limit_bytes"]["recommended"] > resizer["usage"]["oom_memory_bytes"]
    assert "oom-bump" in resizer["rule_ids"]
    # CPU-throttled container: the limit goes up
    engine = by[("shop-prod/Deployment/pricing-engine", "engine")]
    assert engine["usage"]["throttled_ratio"] > 0.05
    assert engine["fields"]["cpu_limit_m"]["recommended"] > engine["fields"]["cpu_limit_m"]["current"]
    # HPA-aware CPU
    web = by[("shop/Deployment/storefront", "web")]
    assert web["fields"]["cpu_request_m"]["rule_ids"][0] == "hpa-cpu"
    # the nightly batch is sized for its (memory-heavy) runs
    report = by[("shop/CronJob/nightly-report", "report")]
    assert report["usage"]["memory_bytes"]["max"] == 6268678144  # 5.84Gi working set at its peak
    # p99 5.68Gi without margin (the 8Gi limit stays above the peak), rounded up to whole Gi
    assert report["fields"]["memory_request_bytes"]["recommended"] == 6 * 2**30
    # init container and exemption are reported, not dropped
    assert by[("shop/DaemonSet/node-agent", "setup")]["status"] == "skipped"
    assert by[("shop/DaemonSet/node-agent", "fluent-bit")]["reasons"] == [
        "exempt in config: sized by the logging team together with the vendor (ticket OPS-1432)"
    ]
    # joined through the kube-state-metrics owner chain, except legacy-admin, whose pods the demo
    # snapshot exports without kube_pod_owner: matched by name, and flagged
    by_name = [(c["workload"], c["container"]) for c in plan_json["containers"] if c["usage"] and c["usage"]["joined_by"] == "name"]
    assert by_name == [("shop/Deployment/legacy-admin", "admin")]
    assert "pods matched by name" in admin["explanation"]


def test_table_markdown_and_diff_outputs(plan_json):
    code, table, _ = run("plan", DEMO, "--metrics-file", METRICS, "--format", "table")
    assert code == 0
    golden("demo-plan.txt", table)
    code, markdown, _ = run("plan", DEMO, "--metrics-file", METRICS, "--format", "markdown")
    # the intents first; one set of numbers: the Total is the sum of the rows above it
    assert markdown.startswith("## gitbot: fixes 14 OOM kills, adds missing CPU requests, raises resources of 3 containers and saves $66.79/month\n")
    assert ("| Increases | 4 | $29.78 | $57.63 | +$27.85 |\n| Decreases | 11 | $331.78 | $237.14 | −$94.64 |\n"
            "| other containers (skipped) | 2 | $6.27 | $6.27 | $0.00 |\n| **Total** | **17** | **$367.83** | **$301.04** | **−$66.79** |") in markdown
    assert plan_json["summary"]["monthly_cost"]["delta_usd"] == "-66.79"
    code, diff, _ = run("plan", DEMO, "--metrics-file", METRICS, "--format", "diff")
    assert diff == "".join(e["diff"] for e in plan_json["edits"])
    golden("demo-plan.diff", diff)


@pytest.fixture()
def demo_copy(tmp_path: Path) -> git.Repo:
    work = tmp_path / "demo"
    shutil.copytree(ROOT / DEMO, work)
    repo = git.Repo.init(work)
    repo.git.add(A=True)
    repo.index.commit("demo", author=git.Actor("t", "t@example.com"), committer=git.Actor("t", "t@example.com"))
    return repo


def test_write_changes_one_line_per_field_and_a_second_plan_proposes_nothing(demo_copy, plan_json):
    work = Path(demo_copy.working_tree_dir)
    metrics = str(ROOT / METRICS)
    code, out, _ = run("plan", ".", "--metrics-file", metrics, "--write", "--format", "json", cwd=work)
    assert code == 0
    first = json.loads(out)
    assert first["written"] is True
    # exactly one changed line per changed field: a value change is -1/+1, an inserted field +1,
    # plus the parent key when a whole block (e.g. `limits:`) had to be created
    changed = {}
    for c in first["containers"]:
        if c["status"] == "change" and c["container"] != "envoy":  # envoy: overlay patches, below
            for f in c["fields"].values():
                if f["changed"]:
                    key = f["source"]["file"]
                    added, removed = changed.get(key, (0, 0))
                    changed[key] = (added + 1, removed + (1 if f["source"]["present"] else 0))
    # envoy's base lines are shared by both overlays, which want different values, and the base
    # stays: production's patch of the Deployment gets an envoy item (7 lines after the api's edited
    # values), staging a new 18-line patch file (the api listed by name, to stay first) and a
    # `patches:` entry (+2 lines with the key)
    overlay_files = {
        "platform/checkout/overlays/staging/gitbot-resources.yaml": (18, 0),
        "platform/checkout/overlays/staging/kustomization.yaml": (2, 0),
    }
    # (git pairs the api's old `memory: 1Gi` request with its new, equal limit: one line less each way)
    api, _ = changed["platform/checkout/overlays/production/api-resources.yaml"]
    changed["platform/checkout/overlays/production/api-resources.yaml"] = (api + 7 - 1, api - 1)
    demo_copy.git.add("-N", ".")
    numstat = {}
    for line in demo_copy.git.diff("--numstat").splitlines():
        added, removed, name = line.split("\t")
        numstat[name] = (int(added), int(removed))
    # values-staging.yaml sets no resources: two whole blocks are inserted (resources, requests, cpu,
    # memory, limits, memory: 6 lines each), leaving the chart's shared defaults alone
    assert {name: numstat.pop(name) for name in overlay_files} == overlay_files
    assert numstat.pop("charts/search/values-staging.yaml") == (12, 0)
    del changed["charts/search/values-staging.yaml"]
    assert numstat == changed
    assert numstat == {
        "apps/cart/deployment.yaml": (3, 2),
        "apps/image-resizer/deployment.yaml": (2, 2),  # its memory request stays at the 256Mi kill level
        "apps/legacy-admin/deployment.yaml": (4, 4),
        "apps/node-agent/daemonset.yaml": (3, 3),
        "apps/reports/cronjob.yaml": (2, 2),
        "apps/storefront/deployment.yaml": (4, 4),
        "charts/search/values-production.yaml": (7, 7),  # the CPU request too: 920m is more than a rounding step below 1
        "platform/checkout/base/deployment.yaml": (4, 4),
        "platform/checkout/overlays/production/api-resources.yaml": (10, 3),
        "platform/pricing-engine/base/deployment.yaml": (4, 4),  # the memory limit too: 1.35Gi, no longer held at 1.5Gi
    }
    # the applied values read back as the recommendations
    code, out, _ = run("plan", ".", "--metrics-file", metrics, "--format", "json", cwd=work)
    second = json.loads(out)
    assert second["summary"]["by_status"]["change"] == 0
    assert second["edits"] == []
    applied = {(c["workload"], c["container"]): c for c in first["containers"] if c["status"] == "change"}
    for c in second["containers"]:
        if (c["workload"], c["container"]) in applied:
            before = applied[(c["workload"], c["container"])]["fields"]
            assert {k: f["current"] for k, f in c["fields"].items()} == {k: f["recommended"] for k, f in before.items()}


def test_dry_run_touches_nothing(demo_copy):
    work = Path(demo_copy.working_tree_dir)
    code, _, _ = run("plan", ".", "--metrics-file", str(ROOT / METRICS), "--format", "diff", cwd=work)
    assert code == 0
    assert demo_copy.git.status("--porcelain") == ""


def test_exit_codes():
    assert run("plan", DEMO, "--metrics-file", METRICS, "--format", "json", "--fail-on-changes")[0] == 1
    code, _, err = run("plan", DEMO, "--metrics-file", ".gitignore", "--format", "json")
    assert (code, err) == (2, "gitbot: error: metrics file .gitignore:1: bad metric name '.venv/'\n")
    code, _, err = run("plan", DEMO, "--metrics-file", "fixtures/demo-repo/README.md", "--format", "json")
    assert code == 2 and err.startswith("gitbot: error: metrics file fixtures/demo-repo/README.md:")
    code, _, err = run("plan", "does-not-exist")
    assert code == 2 and "does-not-exist" in err
    code, _, err = run("plan", DEMO, "--metrics-file", METRICS, "--catalog", "nope")
    assert code == 2 and err.startswith("gitbot: error: catalog: ")
    assert run("inventory", DEMO, "--format", "diff")[0] == 2


def test_malformed_snapshot_names_file_and_line(tmp_path):
    bad = tmp_path / "bad.om"
    bad.write_text('# TYPE x gauge\nx{a="1"} 1 100\nx{a="1" 2 200\n')
    code, _, err = run("plan", DEMO, "--metrics-file", str(bad))
    assert code == 2
    assert err.startswith(f"gitbot: error: metrics file {bad}:3: ") and err.count("\n") == 1


def test_bad_config_is_a_one_line_input_error(tmp_path):
    shutil.copytree(ROOT / DEMO, tmp_path / "demo")
    (tmp_path / "demo" / ".gitbot.yaml").write_text("environments: 12\n")
    code, _, err = run("plan", str(tmp_path / "demo"))
    assert code == 2
    assert err.count("\n") == 1 and err.startswith("gitbot: error: config ")


def test_environment_variables_mirror_options(monkeypatch):
    monkeypatch.setenv("GITBOT_METRICS_FILE", METRICS)
    monkeypatch.setenv("GITBOT_FORMAT", "json")
    monkeypatch.setenv("GITBOT_FAIL_ON_CHANGES", "1")
    code, out, _ = run("plan", DEMO)
    assert code == 1
    assert json.loads(out)["usage_source"]["source"] == f"snapshot {METRICS}"


@pytest.mark.parametrize("command", [["--help"], ["plan", "--help"], ["inventory", "--help"]])
def test_help_has_examples_and_exit_codes(command):
    code, out, _ = run(*command)
    assert code == 0
    assert ("Examples:" in out) or ("Exit codes" in out)


def test_inventory_json_lists_the_source_of_every_field():
    code, out, _ = run("inventory", DEMO, "--format", "json")
    doc = json.loads(out)
    assert code == 0 and doc["summary"] == {"workloads": 13, "containers": 17}
    storefront = next(w for w in doc["workloads"] if w["workload"] == "shop/Deployment/storefront")
    cpu = storefront["containers"][0]["fields"]["cpu_request_m"]
    assert (cpu["current"], cpu["text"], cpu["source"]["file"], cpu["source"]["kind"]) == (500, "500m", "apps/storefront/deployment.yaml", "plain")
    assert storefront["hpa"]["cpu_utilization_pct"] is not None


def test_installed_console_script_runs_the_demo():
    exe = Path(sys.executable).with_name("gitbot")
    result = subprocess.run([str(exe), "plan", DEMO, "--metrics-file", METRICS], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["summary"]["by_status"]["change"] == 15  # not a TTY: JSON


def test_the_diff_output_applies_with_git_apply_and_equals_write(demo_copy, tmp_path):
    work = Path(demo_copy.working_tree_dir)
    metrics = str(ROOT / METRICS)
    code, diff, _ = run("plan", ".", "--metrics-file", metrics, "--format", "diff", cwd=work)
    assert code == 0 and diff
    patch = tmp_path / "gitbot.patch"
    patch.write_text(diff)
    demo_copy.git.apply(str(patch))

    def touched() -> dict[str, str]:
        demo_copy.git.add("-N", ".")
        return {p: (work / p).read_text() for p in demo_copy.git.diff("--name-only").splitlines()}

    applied = touched()
    demo_copy.git.reset("-q")
    demo_copy.git.checkout("--", ".")
    demo_copy.git.clean("-fdq")
    run("plan", ".", "--metrics-file", metrics, "--write", "--format", "json", cwd=work)
    written = touched()
    assert applied == written and len(written) == 13


def test_pr_dry_run_prints_the_complete_pull_request(tmp_path, monkeypatch):
    """No token, no remote, no network: the branch, commit message, diff and body of each PR. In
    GitHub Actions it also sets the step outputs and writes the body to the job summary."""
    for name in ("GITBOT_GITHUB_TOKEN", "GITHUB_TOKEN", "GITHUB_REPOSITORY"):
        monkeypatch.delenv(name, raising=False)
    outputs, summary = tmp_path / "outputs", tmp_path / "summary.md"
    monkeypatch.setenv("GITHUB_OUTPUT", str(outputs))
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    code, out, err = run("pr", DEMO, "--metrics-file", METRICS, "--dry-run", "--scope", "repository")
    assert code == 0, err
    golden("demo-pr-dry-run.txt", out)
    assert out.startswith("─" * 100 + "\nbranch: gitbot/all\ntitle: gitbot: fixes 14 OOM kills, adds missing CPU requests, raises resources of 3 containers and saves $66.79/month in the repository\n")
    assert (GOLDEN / "demo-plan.diff").read_text() in out  # the same edits as `gitbot plan`
    assert outputs.read_text() == "changes-count=15\nmonthly-delta-usd=-66.79\npr-url=\n"  # the sum of the body's rows
    # the job summary is a table of the scopes (the bodies, markers and all, are on the pull requests)
    assert summary.read_text().splitlines()[-1] == (
        "| `all` | — | planned: dry run: GitHub was not asked | fixes 14 OOM kills, adds missing CPU requests, raises resources "
        "of 3 containers and saves $66.79/month in the repository | −$66.79 |"
    )
