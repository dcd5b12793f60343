"""Price catalogs, rate splitting, monthly cost arithmetic and money formatting."""

from __future__ import annotations

import csv
import filecmp
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import pytest

from gitbot.pricing.catalog import CatalogError, ResourceRates, load_catalog, normalize_capacity_type
from gitbot.pricing.cost import HOURS_PER_MONTH, format_usd, monthly_cost, percent_change, usd

REPO = Path(__file__).parents[1]
DATA = REPO / "gitbot" / "pricing" / "data"
SHARED_CATALOGS = Path(__file__).parents[1].parent / "shared" / "data" / "catalogs"
BUILD = REPO / "scripts" / "build_catalogs.py"

DEFAULT_CPU = Decimal("0.031611")
DEFAULT_RAM = Decimal("0.004237")
Q = Decimal("1e-10")


def bundled_row(cloud: str, instance_type: str, region: str) -> dict[str, str]:
    with (DATA / f"{cloud}.csv").open(newline="") as handle:
        for row in csv.DictReader(handle):
            if row["instance_type"] == instance_type and row["region"] == region:
                return row
    raise AssertionError(f"{instance_type} {region} not in bundled {cloud}.csv")


def split(price: Decimal, vcpu: int, memory_gib: Decimal) -> tuple[Decimal, Decimal]:
    """The OpenCost split written out: memory = price / (r*vcpu + GiB), cpu = r * memory."""
    r = DEFAULT_CPU / DEFAULT_RAM
    memory = price / (r * vcpu + memory_gib)
    return (r * memory).quantize(Q), memory.quantize(Q)


# --- catalogs ---------------------------------------------------------------------------------


def test_bundled_catalog_loads_all_clouds() -> None:
    catalog = load_catalog(None)
    assert catalog.name == "aws+gcp+azure (bundled)"
    assert {i.cloud for i in catalog.instances} == {"aws", "gcp", "azure"}
    assert load_catalog("auto").instances == catalog.instances
    assert catalog.default_rates == ResourceRates(DEFAULT_CPU, DEFAULT_RAM, "default rates (OpenCost)")
    assert catalog.default_spot_rates == ResourceRates(Decimal("0.006655"), Decimal("0.000892"), "default spot rates (OpenCost)")
    assert {i.category for i in catalog.instances} <= {"general", "compute", "memory", "burstable", "other"}


def test_on_demand_rates_split_the_instance_price() -> None:
    row = bundled_row("aws", "m6i.xlarge", "us-east-1")
    price = Decimal(row["price_ondemand_usd_hour"])
    assert (price, row["vcpu"], row["memory_gib"]) == (Decimal("0.192"), "4", "16")
    cpu, memory = split(price, 4, Decimal(16))
    assert (cpu, memory) == (Decimal("0.0312471015"), Decimal("0.0041882246"))

    rates = load_catalog("aws").rates("m6i.xlarge", "us-east-1", "on-demand")
    assert rates == ResourceRates(cpu, memory, "aws m6i.xlarge us-east-1 on-demand")
    assert abs(rates.cpu_vcpu_hour * 4 + rates.memory_gib_hour * 16 - price) < Decimal("1e-8")
    assert load_catalog(None).rates("m6i.xlarge", "us-east-1", None) == rates


def test_spot_rates_use_the_spot_price() -> None:
    catalog = load_catalog(None)
    aws = bundled_row("aws", "m6i.xlarge", "us-east-1")
    assert (aws["price_spot_usd_hour"], aws["spot_is_estimate"]) == ("0.0864", "true")
    cpu, memory = split(Decimal("0.0864"), 4, Decimal(16))
    assert catalog.rates("m6i.xlarge", "us-east-1", "SPOT") == ResourceRates(
        cpu, memory, "aws m6i.xlarge us-east-1 spot (estimated)"
    )

    gcp = bundled_row("gcp", "n2-standard-4", "us-central1")
    assert (gcp["price_spot_usd_hour"], gcp["spot_is_estimate"]) == ("0.09212", "false")
    cpu, memory = split(Decimal("0.09212"), 4, Decimal(16))
    assert catalog.rates("n2-standard-4", "us-central1", "true") == ResourceRates(
        cpu, memory, "gcp n2-standard-4 us-central1 spot"
    )

    on_demand = catalog.rates("n2-standard-4", "us-central1", "on-demand")
    assert on_demand.cpu_vcpu_hour > cpu and on_demand.source == "gcp n2-standard-4 us-central1 on-demand"


def test_spot_without_a_spot_price_falls_back_to_on_demand() -> None:
    row = bundled_row("azure", "Standard_D4s_v5", "eastus")
    assert row["price_spot_usd_hour"] == ""
    cpu, memory = split(Decimal(row["price_ondemand_usd_hour"]), 4, Decimal(16))
    rates = load_catalog(None).rates("Standard_D4s_v5", "eastus", "spot")
    assert rates == ResourceRates(cpu, memory, "azure Standard_D4s_v5 eastus on-demand (no spot price)")


def test_unknown_type_gets_default_rates() -> None:
    catalog = load_catalog(None)
    assert catalog.rates(None, None, None) == catalog.default_rates
    assert catalog.rates("", "us-east-1", "spot") == catalog.default_spot_rates
    assert catalog.rates("x9z.huge", "us-east-1", "on-demand") == ResourceRates(
        DEFAULT_CPU, DEFAULT_RAM, "default rates (OpenCost); unknown instance type 'x9z.huge'"
    )
    assert catalog.rates("x9z.huge", None, "spot") == ResourceRates(
        Decimal("0.006655"), Decimal("0.000892"), "default spot rates (OpenCost); unknown instance type 'x9z.huge'"
    )
    azure = load_catalog("azure")
    assert azure.rates("nope", None, None) == ResourceRates(
        Decimal("0.03900"), Decimal("0.001917"), "azure default rates (OpenCost); unknown instance type 'nope'"
    )


def test_find_prefers_the_region_then_falls_back_deterministically() -> None:
    catalog = load_catalog(None)
    found = catalog.find("n2-standard-4", "us-east1")
    assert found is not None and found.region == "us-east1"
    fallback = catalog.find("n2-standard-4", "asia-east1")
    assert fallback is not None and fallback.region == "europe-west1"  # alphabetically first bundled region
    assert catalog.find("n2-standard-4") == fallback
    found = catalog.find("standard_d4s_v5", "EastUS")
    assert found is not None and (found.instance_type, found.region) == ("Standard_D4s_v5", "eastus")
    assert catalog.find(None) is None and catalog.find("nope", "us-east-1") is None

    rates = catalog.rates("m6i.xlarge", "eu-west-1", "on-demand")
    assert rates.source == "aws m6i.xlarge us-east-1 on-demand; region eu-west-1 not in catalog"
    assert rates.cpu_vcpu_hour == Decimal("0.0312471015")


def test_instance_fields_are_typed() -> None:
    inst = load_catalog("aws").find("m6g.large", "us-east-1")
    assert inst is not None
    assert (inst.cloud, inst.family, inst.category, inst.arch, inst.vcpu, inst.memory_gib) == (
        "aws",
        "m6g",
        "general",
        "arm64",
        2,
        Decimal(8),
    )
    assert inst.cpu_perf_source == "coremark" and isinstance(inst.cpu_perf_per_vcpu, Decimal)
    gcp = load_catalog("gcp").find("n2-standard-2", "us-central1")
    assert gcp is not None and gcp.cpu_perf_per_vcpu == Decimal("17367.5") and gcp.cpu_perf_source == "coremark"  # 34735 / 2


def test_cloud_and_region_filters() -> None:
    aws = load_catalog("aws:us-east-1")
    assert aws.name == "aws:us-east-1 (bundled)"
    assert aws.instances and {(i.cloud, i.region) for i in aws.instances} == {("aws", "us-east-1")}
    gcp = load_catalog("GCP:us-east1")
    assert gcp.name == "gcp:us-east1 (bundled)" and {i.region for i in gcp.instances} == {"us-east1"}
    assert load_catalog("azure").name == "azure (bundled)"
    with pytest.raises(CatalogError) as err:
        load_catalog("aws:eu-west-1")
    assert str(err.value) == "no bundled aws prices for region 'eu-west-1'; bundled regions: us-east-1"
    with pytest.raises(CatalogError) as err:
        load_catalog("oracle")
    assert str(err.value) == (
        "unknown catalog 'oracle': not a file and not one of auto, aws, gcp, azure, aws:REGION, gcp:REGION, azure:REGION"
    )


# --- user CSV catalogs --------------------------------------------------------------------------


def write(tmp_path: Path, text: str) -> str:
    path = tmp_path / "prices.csv"
    path.write_text(text, encoding="utf-8")
    return str(path)


def test_user_csv_with_minimal_and_extra_columns(tmp_path: Path) -> None:
    path = write(tmp_path, "instance_type,vcpu,memory_gib,price_ondemand_usd_hour,notes\nbig-node,8,32,0.4,x\n")
    catalog = load_catalog(path)
    assert catalog.name == path and catalog.default_rates.cpu_vcpu_hour == DEFAULT_CPU
    inst = catalog.find("big-node", "anywhere")
    assert inst is not None and (inst.vcpu, inst.memory_gib, inst.price_spot, inst.category) == (8, Decimal(32), None, "other")
    cpu, memory = split(Decimal("0.4"), 8, Decimal(32))
    assert catalog.rates("big-node", None, "spot") == ResourceRates(cpu, memory, "big-node on-demand (no spot price)")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("instance_type,vcpu,price_ondemand_usd_hour\na,1,0.1\n", "{path}: missing column(s): memory_gib"),
        (
            "instance_type,vcpu,memory_gib,price_ondemand_usd_hour\na,2,4,0.1\nb,abc,4,0.1\n",
            "{path}:row 3: column vcpu: bad value 'abc' (not a number)",
        ),
        (
            "instance_type,vcpu,memory_gib,price_ondemand_usd_hour\na,2,4,-0.1\n",
            "{path}:row 2: column price_ondemand_usd_hour: bad value '-0.1' (negative)",
        ),
        (
            "instance_type,vcpu,memory_gib,price_ondemand_usd_hour,price_spot_usd_hour\na,2,4,0.1,NaN\n",
            "{path}:row 2: column price_spot_usd_hour: bad value 'NaN' (not a number)",
        ),
        (
            "instance_type,vcpu,memory_gib,price_ondemand_usd_hour\na,2.5,4,0.1\n",
            "{path}:row 2: column vcpu: bad value '2.5' (not a whole number)",
        ),
        (
            "instance_type,vcpu,memory_gib,price_ondemand_usd_hour\na,2,0,0.1\n",
            "{path}:row 2: column memory_gib: bad value '0' (must be positive)",
        ),
        (
            "instance_type,vcpu,memory_gib,price_ondemand_usd_hour\n,2,4,0.1\n",
            "{path}:row 2: column instance_type: bad value '' (required)",
        ),
        (
            "region,instance_type,vcpu,memory_gib,price_ondemand_usd_hour\nr1,a,2,4,0.1\nr1,a,2,4,0.2\n",
            "{path}:row 3: duplicate instance type a in region r1 (first at row 2)",
        ),
    ],
)
def test_bad_user_csv_rows(tmp_path: Path, text: str, message: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(CatalogError) as err:
        load_catalog(path)
    assert str(err.value) == message.format(path=path)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("spot", "spot"),
        ("SPOT", "spot"),
        ("Spot", "spot"),
        ("preemptible", "spot"),
        ("true", "spot"),
        ("Low", "spot"),
        ("on-demand", "on-demand"),
        ("ON_DEMAND", "on-demand"),
        ("regular", "on-demand"),
        ("Regular", "on-demand"),
        ("reserved", "reserved"),
        (None, None),
        ("", None),
        ("spotty", None),
    ],
)
def test_normalize_capacity_type(value: str | None, expected: str | None) -> None:
    assert normalize_capacity_type(value) == expected


# --- cost arithmetic and formatting --------------------------------------------------------------

RATES = ResourceRates(Decimal("0.04"), Decimal("0.005"), "test")


def test_monthly_cost_exact() -> None:
    # (0.25 vCPU x 0.04 + 0.5 GiB x 0.005) x 730 h x 3 = 0.0125 x 2190
    assert monthly_cost(250, 512 * 2**20, Decimal(3), RATES) == Decimal("27.375")
    # OpenCost defaults: (0.25 x 0.031611 + 0.5 x 0.004237) x 2190
    defaults = load_catalog(None).default_rates
    assert monthly_cost(250, 512 * 2**20, Decimal(3), defaults) == Decimal("21.9465375")
    assert monthly_cost(None, None, Decimal(5), RATES) == 0
    assert monthly_cost(1000, None, Decimal("1.5"), RATES) == Decimal("0.04") * HOURS_PER_MONTH * Decimal("1.5")
    assert monthly_cost(None, 2**30, Decimal(1), RATES) == Decimal("3.65")


@pytest.mark.parametrize(
    ("amount", "expected"),
    [
        ("0.125", "0.13"),
        ("0.135", "0.14"),
        ("-0.125", "-0.13"),
        ("2.675", "2.68"),
        ("27.375", "27.38"),
        ("1.994", "1.99"),
        ("5", "5.00"),
    ],
)
def test_usd_rounds_half_up(amount: str, expected: str) -> None:
    assert str(usd(Decimal(amount))) == expected


@pytest.mark.parametrize(
    ("amount", "signed", "expected"),
    [
        ("1234.56", False, "$1,234.56"),
        ("1234567.891", False, "$1,234,567.89"),
        ("-4", False, "\u2212$4.00"),
        ("-1234.5", True, "\u2212$1,234.50"),
        ("12.3", True, "+$12.30"),
        ("12.3", False, "$12.30"),
        ("0", True, "$0.00"),
        ("-0.004", True, "$0.00"),
        ("0.005", False, "$0.01"),
    ],
)
def test_format_usd(amount: str, signed: bool, expected: str) -> None:
    assert format_usd(Decimal(amount), signed=signed) == expected


@pytest.mark.parametrize(
    ("before", "after", "expected"),
    [
        ("100", "75", "-25.0"),
        ("3", "4", "33.3"),
        ("3", "2", "-33.3"),
        ("200", "200.1", "0.1"),
        ("50", "50", "0.0"),
        ("0", "5", None),
        ("0", "0", None),
    ],
)
def test_percent_change(before: str, after: str, expected: str | None) -> None:
    result = percent_change(Decimal(before), Decimal(after))
    assert (None if result is None else str(result)) == expected


# --- the build script ----------------------------------------------------------------------------

needs_shared = pytest.mark.skipif(not (SHARED_CATALOGS / "aws_ec2.csv").is_file(), reason="shared source catalogs not present")


def build(source: Path, out: Path) -> None:
    subprocess.run([sys.executable, str(BUILD), str(source), "--out", str(out)], check=True, capture_output=True, text=True)


@needs_shared
def test_build_is_deterministic_and_matches_the_bundled_files(tmp_path: Path) -> None:
    first, second = tmp_path / "first", tmp_path / "second"
    build(SHARED_CATALOGS, first)
    build(SHARED_CATALOGS, second)
    names = sorted(p.name for p in first.iterdir())
    assert names == ["SOURCES.md", "aws.csv", "azure.csv", "defaults.json", "gcp.csv"]
    assert sorted(p.name for p in DATA.iterdir() if p.is_file()) == names
    for name in names:
        assert (first / name).read_bytes() == (second / name).read_bytes(), name
    match, mismatch, errors = filecmp.cmpfiles(first, DATA, names, shallow=False)
    assert (mismatch, errors) == ([], []), "bundled data is stale: run scripts/build_catalogs.py"


def test_bundled_data_is_small() -> None:
    total = sum(p.stat().st_size for p in DATA.glob("*.csv"))
    assert total <= 300_000
