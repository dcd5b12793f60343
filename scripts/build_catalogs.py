"""Build the bundled price catalogs in ``gitbot/pricing/data/`` from the shared source catalogs.

    python scripts/build_catalogs.py [SOURCE_DIR] [--out DIR]

SOURCE_DIR defaults to ``../shared/data/catalogs`` next to the repository root; --out defaults to
``gitbot/pricing/data``. The output is deterministic: the same sources give the same bytes (rows are
sorted, numbers keep their source text, nothing depends on the clock or the environment).

What is kept: instance types that are commonly used as Kubernetes nodes -- current general-purpose,
compute, memory and burstable families, no GPU, no bare metal, no shared-core or fractional-vCPU types,
no confidential / constrained-vCPU / isolated variants -- in a handful of regions.
"""

from __future__ import annotations

import argparse
import csv
import json
import re
import sys
from collections import Counter
from collections.abc import Callable, Iterable
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_SOURCE = REPO_ROOT.parent / "shared" / "data" / "catalogs"
DEFAULT_OUT = REPO_ROOT / "gitbot" / "pricing" / "data"

COLUMNS = (
    "cloud",
    "region",
    "instance_type",
    "family",
    "category",
    "arch",
    "vcpu",
    "memory_gib",
    "price_ondemand_usd_hour",
    "price_spot_usd_hour",
    "spot_is_estimate",
    "cpu_perf_per_vcpu",
    "cpu_perf_source",
)

AWS_REGION = "us-east-1"  # aws_ec2.csv is single-region (Karpenter's generated us-east-1 price list)
# c/m/r generation 5+ with the a (AMD), g (Graviton), i (Intel), d (local NVMe) and -flex variants;
# network (n), EBS (b), high-frequency (z), 'e' and other niche variants are left out.
AWS_FAMILY = re.compile(r"^[cmr](?:[5-9])(?:a|g|i)?d?(?:-flex)?$")
AWS_BURSTABLE = frozenset({"t3", "t3a", "t4g"})
AWS_CATEGORY = {"c": "compute", "m": "general", "r": "memory", "t": "burstable"}

GCP_REGIONS = ("us-central1", "us-east1", "europe-west1")
GCP_FAMILIES = frozenset(
    {"e2", "n1", "n2", "n2d", "n4", "n4a", "n4d", "t2a", "t2d", "c2", "c2d", "c3", "c3d", "c4", "c4a", "c4d"}
)
GCP_TYPE = re.compile(r"^(?P<family>[a-z0-9]+)-(?P<shape>standard|highcpu|highmem)-\d+$")
GCP_CATEGORY = {"standard": "general", "highcpu": "compute", "highmem": "memory"}
GCP_ARM = frozenset({"t2a", "c4a", "n4a"})

AZURE_REGIONS = ("eastus", "westeurope")
# D v2+ (DS2_v2 was the long-time AKS default), E v3+, F v2+ and B. The series letter (or DS) is followed
# directly by the vCPU count, which leaves out DC/EC (confidential), FX and constrained-vCPU sizes such as
# E16-4s_v5; suffixes starting with "i" (isolated, whole-host sizes) are left out too.
AZURE_SIZE = re.compile(r"^Standard_(?P<series>[DEFB])(?P<s>S?)\d+(?P<suffix>[a-z]*)(?:_v(?P<version>\d+))?$")
AZURE_MIN_VERSION = {"D": 2, "E": 3, "F": 2}

OPENCOST_FILES = {"default": "default.json", "aws": "aws.json", "gcp": "gcp.json", "azure": "azure.json"}
OPENCOST_KEYS = {"cpu_vcpu_hour": "CPU", "ram_gib_hour": "RAM", "spot_cpu_vcpu_hour": "spotCPU", "spot_ram_gib_hour": "spotRAM",
                 "zone_egress_gib": "zoneNetworkEgress"}

Row = dict[str, str]


def number(text: str) -> str:
    """The source's number as plain decimal text without trailing zeros ('' stays '')."""
    text = text.strip()
    if not text:
        return ""
    try:
        value = Decimal(text)
    except InvalidOperation:
        raise SystemExit(f"not a number: {text!r}") from None
    if not value.is_finite():
        raise SystemExit(f"not a number: {text!r}")
    normalized = format(value.normalize(), "f")
    return "0" if normalized in ("0", "-0") else normalized


def whole(text: str) -> bool:
    value = number(text)
    return positive(value) and "." not in value


def positive(text: str) -> bool:
    return bool(number(text)) and Decimal(text) > 0


def read(path: Path) -> list[Row]:
    with path.open(newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def spot(real: str, estimate: str) -> tuple[str, str]:
    if number(real):
        return number(real), "false"
    if number(estimate):
        return number(estimate), "true"
    return "", "false"


def aws_rows(source: Path) -> list[Row]:
    out = []
    for r in read(source / "aws_ec2.csv"):
        family, category = r["family"], r["category"]
        if category in "cmr" and not (AWS_FAMILY.match(family) and int(r["generation"]) >= 5):
            continue
        if category == "t" and family not in AWS_BURSTABLE:
            continue
        if category not in AWS_CATEGORY or "metal" in r["size"] or r["gpu_count"] or not number(r["price_ondemand_usd_hour"]):
            continue
        if not whole(r["vcpu"]) or not positive(r["memory_gib"]):
            continue
        # CoreMark first: ECU exists only for a few old types, and mixing both scales inside one
        # family (c5.large has ECU, c5.12xlarge has not) would make per-vCPU comparisons meaningless.
        if number(r["coremark_iter_per_sec_per_vcpu"]):
            perf, perf_source = number(r["coremark_iter_per_sec_per_vcpu"]), "coremark"
        elif number(r["ecu"]):
            perf, perf_source = number(str(Decimal(r["ecu"]) / Decimal(r["vcpu"]))), "ecu"
        else:
            perf, perf_source = "", ""
        price_spot, estimated = spot("", r["price_spot_est_usd_hour"])
        out.append(
            {
                "cloud": "aws",
                "region": AWS_REGION,
                "instance_type": r["instance_type"],
                "family": family,
                "category": AWS_CATEGORY[category],
                "arch": r["arch"],
                "vcpu": number(r["vcpu"]),
                "memory_gib": number(r["memory_gib"]),
                "price_ondemand_usd_hour": number(r["price_ondemand_usd_hour"]),
                "price_spot_usd_hour": price_spot,
                "spot_is_estimate": estimated,
                "cpu_perf_per_vcpu": perf,
                "cpu_perf_source": perf_source,
            }
        )
    return out


def gcp_rows(source: Path) -> list[Row]:
    out = []
    for r in read(source / "gcp_gce.csv"):
        m = GCP_TYPE.match(r["machine_type"])
        if not m or r["region"] not in GCP_REGIONS or m["family"] not in GCP_FAMILIES or m["family"] != r["family"]:
            continue
        if r["gpu_type"] or r["local_ssd_gb"] or not whole(r["vcpu"]) or not positive(r["memory_gib"]):
            continue
        if not number(r["price_ondemand_usd_hour"]):
            continue
        perf = ""
        if number(r["coremark"]):
            per_vcpu = (Decimal(r["coremark"]) / Decimal(r["vcpu"])).quantize(Decimal("0.1"), ROUND_HALF_UP)
            perf = number(str(per_vcpu))
        price_spot, estimated = spot(r["price_spot_usd_hour"], "")
        out.append(
            {
                "cloud": "gcp",
                "region": r["region"],
                "instance_type": r["machine_type"],
                "family": m["family"],
                "category": GCP_CATEGORY[m["shape"]],
                "arch": "arm64" if m["family"] in GCP_ARM else "amd64",
                "vcpu": number(r["vcpu"]),
                "memory_gib": number(r["memory_gib"]),
                "price_ondemand_usd_hour": number(r["price_ondemand_usd_hour"]),
                "price_spot_usd_hour": price_spot,
                "spot_is_estimate": estimated,
                "cpu_perf_per_vcpu": perf,
                "cpu_perf_source": "coremark" if perf else "",
            }
        )
    return out


def shape_category(gib_per_vcpu: Decimal) -> str:
    """Azure sizes by CPU:memory shape: about 2 GiB/vCPU compute, 4 general, 8 memory."""
    if gib_per_vcpu <= Decimal("2.5"):
        return "compute"
    return "general" if gib_per_vcpu <= 5 else "memory"


def azure_family(series: str, suffix: str, version: str | None) -> str:
    """Standard_D4s_v5 -> Dsv5, Standard_DS2_v2 -> DSv2, Standard_B2ms -> Bms (Azure's series names)."""
    return f"{series}{suffix}" + (f"v{version}" if version else "")


def azure_rows(source: Path) -> list[Row]:
    out = []
    for r in read(source / "azure_vm.csv"):
        m = AZURE_SIZE.match(r["vm_size"])
        if not m or r["region"] not in AZURE_REGIONS:
            continue
        series, version = m["series"], m["version"]
        if series in AZURE_MIN_VERSION and (version is None or int(version) < AZURE_MIN_VERSION[series]):
            continue  # D1..D14, F1..F16 and the like: previous generations
        if (m["s"] and (series, version) != ("D", "2")) or m["suffix"].startswith("i"):
            continue
        if r["gpu_count"] not in ("", "0") or not whole(r["vcpu"]) or not positive(r["memory_gib"]):
            continue  # B1ls has memory 0.0 in the source (0.5 GiB rounded down): left out
        if not number(r["price_ondemand_usd_hour"]):
            continue
        perf = ""
        low, high = number(r["acu_per_vcpu_min"]), number(r["acu_per_vcpu_max"])
        if low and high:
            perf = number(str((Decimal(low) + Decimal(high)) / 2))
        price_spot, estimated = spot(r["price_spot_usd_hour"], "")
        out.append(
            {
                "cloud": "azure",
                "region": r["region"],
                "instance_type": r["vm_size"],
                "family": azure_family(series + m["s"], m["suffix"], version),
                "category": "burstable" if series == "B" else shape_category(Decimal(r["memory_gib"]) / Decimal(r["vcpu"])),
                "arch": r["arch"],
                "vcpu": number(r["vcpu"]),
                "memory_gib": number(r["memory_gib"]),
                "price_ondemand_usd_hour": number(r["price_ondemand_usd_hour"]),
                "price_spot_usd_hour": price_spot,
                "spot_is_estimate": estimated,
                "cpu_perf_per_vcpu": perf,
                "cpu_perf_source": "acu" if perf else "",
            }
        )
    return out


def sort_key(row: Row) -> tuple[str, str, str, Decimal, Decimal, str]:
    return (row["cloud"], row["region"], row["family"], Decimal(row["vcpu"]), Decimal(row["memory_gib"]), row["instance_type"])


def write_csv(path: Path, rows: Iterable[Row]) -> int:
    ordered = sorted(rows, key=sort_key)
    keys = [(r["instance_type"], r["region"]) for r in ordered]
    duplicates = [k for k, n in Counter(keys).items() if n > 1]
    if duplicates:
        raise SystemExit(f"{path.name}: duplicate rows for {duplicates[:3]}")
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=COLUMNS, lineterminator="\n")
        writer.writeheader()
        writer.writerows(ordered)
    return len(ordered)


def defaults(source: Path) -> dict[str, dict[str, str]]:
    out = {}
    for name, filename in OPENCOST_FILES.items():
        config = json.loads((source / "opencost" / filename).read_text(encoding="utf-8"))
        entry = {}
        for key, upstream in OPENCOST_KEYS.items():
            text = str(config[upstream]).strip()
            Decimal(text)  # must parse; the text itself is kept exactly
            entry[key] = text
        entry["source"] = f"opencost configs/{filename}"
        out[name] = entry
    return out


SOURCES_TEMPLATE = """\
# Bundled price catalogs: sources

Generated by `scripts/build_catalogs.py` from the project's shared source catalogs; do not edit by hand.
Prices are USD per hour, Linux, as of each upstream snapshot. They are list prices: discounts,
savings plans and committed-use contracts are not applied.

## Files

| file | rows | regions |
|---|---|---|
{table}

Columns: `{columns}`.

- `category`: general, compute, memory or burstable (by the family's CPU:memory shape).
- `spot_is_estimate`: `true` when the spot price is derived from a savings percentage (AWS), `false` when it
  is a quoted spot price (GCP) or when there is none (Azure: no spot source).
- `cpu_perf_per_vcpu` / `cpu_perf_source`: `coremark` = CoreMark iterations/s per vCPU (AWS: Vantage runs;
  GCP: Google's published PerfKitBenchmarker scores; the two setups differ, so compare within one cloud),
  `acu` = Azure Compute Unit per vCPU (midpoint of the documented range), `ecu` = AWS ECU per vCPU.
  Empty when unknown.

## Upstream sources

- AWS (`aws.csv`): specs from `aws/karpenter-provider-aws` commit 1d927085dd81a9df9301e613f371dac5b4d16bfe
  (instance-types reference; Apache-2.0) and `kubernetes/autoscaler` commit 55c37cd5eb550756c5ccc5a89e9068d77797e575
  (Apache-2.0); on-demand prices from the same Karpenter commit (`zz_generated.pricing_aws.go`, us-east-1);
  CoreMark from `vantage-sh/ec2instances.info` commit 4ef36cd2c9867c1076206dcb691412ae2de7e8dd (MIT);
  spot estimates = on-demand x (1 - savings) from the Spot Instance Advisor snapshot in `alexei-led/spotinfo`
  commit 5eedf20a99614443af215f4aaf09bd10805cac72 (Apache-2.0).
- GCP (`gcp.csv`): prices and specs from `Cyclenerd/google-cloud-pricing-cost-calculator` commit
  fd66b26ff84fee5cdd94f341ea89206e76c06b99 (`pricing.yml`, Cloud Billing Catalog API; Apache-2.0); CoreMark from
  `Cyclenerd/google-cloud-compute-machine-types` commit c91a99e720fcce206cbe08e62ce4bef424acf4b0 (Apache-2.0,
  Google-derived parts CC BY 4.0).
- Azure (`azure.csv`): prices from `Azure/karpenter-provider-azure` commit 352646f599290c3a6d2f9710fb535a7b288f88ed
  (`zz_generated.pricing.go`, pay-as-you-go Linux; Apache-2.0); specs from `kubernetes/autoscaler` commit
  55c37cd5eb550756c5ccc5a89e9068d77797e575 (Apache-2.0); ACU from `MicrosoftDocs/azure-docs`
  `articles/virtual-machines/acu.md` (CC BY 4.0; covers series up to v4 only).
- Default rates (`defaults.json`): `opencost/opencost` `configs/` (default.json, aws.json, gcp.json, azure.json)
  at commit 5f6533303e3850c8635796a74bb22802d16e9090 (Apache-2.0). `default`, `aws` and `gcp` are OpenCost's
  GCP us-central1-based defaults; `azure` is OpenCost's April 2019 Azure estimate. Values are the exact
  upstream text, USD per vCPU-hour and per GiB-hour. `zone_egress_gib` is OpenCost's `zoneNetworkEgress` (USD per GiB
  moved between zones of a region; 0.01 in all four files), used to price cross-zone service-mesh traffic.

## Filters

- AWS: single region {aws_region} (the only region in the source). Families c, m, r of generation 5 and
  later in their base, `a`, `g`, `i`, `d` and `-flex` variants, plus burstable t3, t3a, t4g. No GPU,
  no `.metal`, only rows with an on-demand price. ECU is used only when a type has no CoreMark figure.
- GCP: regions {gcp_regions}. Families {gcp_families}; machine types
  `<family>-standard|highcpu|highmem-<n>` only (no shared-core, `-lssd`, `-metal`, mega/ultra-mem, custom or
  GPU types). `standard` -> general, `highcpu` -> compute, `highmem` -> memory.
- Azure: regions {azure_regions}. D series v2 and later (incl. DSv2), E series v3 and later, F series v2
  and later, B series; only sizes whose name is the series letter followed by the vCPU count (no
  confidential DC/EC, no FX, no constrained-vCPU sizes like E16-4s_v5, no isolated `i` sizes), with known
  specs (B1ls is left out: the source gives it 0 GiB), no GPU and an on-demand price. `family` is the
  series name derived from the size (Standard_D4s_v5 -> Dsv5). `category`: B -> burstable, otherwise by
  GiB per vCPU (<= 2.5 compute, <= 5 general, above that memory). No spot prices.
"""


def sources_md(counts: dict[str, Counter[str]]) -> str:
    table = "\n".join(
        f"| {cloud}.csv | {sum(c.values())} | " + ", ".join(f"{region} ({n})" for region, n in sorted(c.items())) + " |"
        for cloud, c in counts.items()
    )
    return SOURCES_TEMPLATE.format(
        table=table,
        columns=",".join(COLUMNS),
        aws_region=AWS_REGION,
        gcp_regions=", ".join(GCP_REGIONS),
        gcp_families=", ".join(sorted(GCP_FAMILIES)),
        azure_regions=", ".join(AZURE_REGIONS),
    )


def build(source: Path, out: Path) -> dict[str, int]:
    out.mkdir(parents=True, exist_ok=True)
    builders: dict[str, Callable[[Path], list[Row]]] = {"aws": aws_rows, "gcp": gcp_rows, "azure": azure_rows}
    counts: dict[str, Counter[str]] = {}
    for cloud, make in builders.items():
        rows = make(source)
        write_csv(out / f"{cloud}.csv", rows)
        counts[cloud] = Counter(r["region"] for r in rows)
    (out / "defaults.json").write_text(json.dumps(defaults(source), indent=2, sort_keys=True) + "\n", encoding="utf-8")
    (out / "SOURCES.md").write_text(sources_md(counts), encoding="utf-8")
    return {cloud: sum(c.values()) for cloud, c in counts.items()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("source", nargs="?", type=Path, default=DEFAULT_SOURCE, help="shared catalogs directory")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="output directory")
    args = parser.parse_args(argv)
    if not (args.source / "aws_ec2.csv").is_file():
        print(f"build_catalogs: no aws_ec2.csv in {args.source}", file=sys.stderr)
        return 2
    for cloud, n in build(args.source, args.out).items():
        print(f"{cloud}: {n} rows")
    return 0


if __name__ == "__main__":
    sys.exit(main())
