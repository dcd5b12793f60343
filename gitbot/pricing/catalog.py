"""Instance price catalogs: bundled (AWS, GCP, Azure) or a user CSV, and per-resource hourly rates.

A catalog is a set of instance types with hourly prices plus default per-vCPU / per-GiB rates (from
OpenCost's configs) for nodes whose type is unknown. ``Catalog.rates`` turns one instance type's hourly
price into a per-vCPU rate and a per-GiB rate the way OpenCost does: the split keeps the default
CPU:RAM price ratio, so ``cpu_rate * vcpu + memory_rate * memory_gib`` is the instance price.

Catalog specs accepted by ``load_catalog``:

- ``None`` or ``"auto"``: all bundled clouds;
- ``"aws"``, ``"gcp"``, ``"azure"``: one bundled cloud;
- ``"aws:us-east-1"``: one bundled cloud and region;
- anything else: the path of a CSV file with the bundled files' columns (see ``data/SOURCES.md``).
  Required columns: instance_type, vcpu, memory_gib, price_ondemand_usd_hour; the others may be
  missing or empty. Extra columns are ignored. Row numbers in errors are file line numbers (header = 1).
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from functools import cache
from importlib import resources
from pathlib import Path

CLOUDS = ("aws", "gcp", "azure")
REQUIRED_COLUMNS = ("instance_type", "vcpu", "memory_gib", "price_ondemand_usd_hour")
CATEGORIES = frozenset({"general", "compute", "memory", "burstable", "other"})
RATE_QUANTUM = Decimal("1e-10")


class CatalogError(Exception):
    """A catalog cannot be loaded; the message is one line naming the file and row/column when known."""


@dataclass(frozen=True)
class InstanceType:
    cloud: str
    region: str
    instance_type: str
    family: str
    category: str
    arch: str | None
    vcpu: int
    memory_gib: Decimal
    price_ondemand: Decimal | None
    price_spot: Decimal | None
    spot_is_estimate: bool
    cpu_perf_per_vcpu: Decimal | None
    cpu_perf_source: str | None


@dataclass(frozen=True)
class ResourceRates:
    cpu_vcpu_hour: Decimal
    memory_gib_hour: Decimal
    source: str


@dataclass(frozen=True)
class TransferPrice:
    per_gib: Decimal  # USD per GiB moved between zones of one region
    source: str


@dataclass(frozen=True)
class Catalog:
    name: str
    instances: tuple[InstanceType, ...]
    default_rates: ResourceRates
    default_spot_rates: ResourceRates
    zone_transfer: TransferPrice | None = None
    _by_region: Mapping[tuple[str, str], InstanceType] = field(init=False, repr=False, compare=False)
    _by_type: Mapping[str, InstanceType] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        by_region: dict[tuple[str, str], InstanceType] = {}
        by_type: dict[str, InstanceType] = {}
        for inst in sorted(self.instances, key=lambda i: (i.region.casefold(), i.cloud, i.instance_type)):
            key = inst.instance_type.casefold()
            by_region.setdefault((key, inst.region.casefold()), inst)
            by_type.setdefault(key, inst)
        object.__setattr__(self, "_by_region", by_region)
        object.__setattr__(self, "_by_type", by_type)

    def find(self, instance_type: str | None, region: str | None = None) -> InstanceType | None:
        """The row for this type in ``region``; else the type's row in the alphabetically first region."""
        if not instance_type:
            return None
        key = instance_type.strip().casefold()
        if region:
            exact = self._by_region.get((key, region.strip().casefold()))
            if exact is not None:
                return exact
        return self._by_type.get(key)

    def rates(self, instance_type: str | None, region: str | None, capacity_type: str | None) -> ResourceRates:
        """Per-vCPU and per-GiB hourly rates for a node of this type, region and capacity type."""
        spot = normalize_capacity_type(capacity_type) == "spot"
        defaults = self.default_spot_rates if spot else self.default_rates
        inst = self.find(instance_type, region)
        if inst is None:
            if instance_type:
                return ResourceRates(
                    defaults.cpu_vcpu_hour,
                    defaults.memory_gib_hour,
                    f"{defaults.source}; unknown instance type {instance_type!r}",
                )
            return defaults
        if spot and inst.price_spot is not None:
            price, capacity = inst.price_spot, "spot (estimated)" if inst.spot_is_estimate else "spot"
        elif inst.price_ondemand is not None:
            price, capacity = inst.price_ondemand, "on-demand (no spot price)" if spot else "on-demand"
        else:
            return ResourceRates(
                defaults.cpu_vcpu_hour, defaults.memory_gib_hour, f"{defaults.source}; no price for {inst.instance_type}"
            )
        ratio = self.default_rates.cpu_vcpu_hour / self.default_rates.memory_gib_hour
        memory_rate = price / (ratio * inst.vcpu + inst.memory_gib)
        label = " ".join(p for p in (inst.cloud, inst.instance_type, inst.region, capacity) if p)
        if region and inst.region and region.strip().casefold() != inst.region.casefold():
            label += f"; region {region.strip()} not in catalog"
        return ResourceRates((ratio * memory_rate).quantize(RATE_QUANTUM), memory_rate.quantize(RATE_QUANTUM), label)


_CAPACITY_TYPES = {
    "spot": "spot",
    "preemptible": "spot",
    "true": "spot",
    "low": "spot",
    "on-demand": "on-demand",
    "ondemand": "on-demand",
    "regular": "on-demand",
    "false": "on-demand",
    "reserved": "reserved",
}


def normalize_capacity_type(value: str | None) -> str | None:
    """Node capacity-type label values (Karpenter, EKS, GKE, AKS) -> "spot" | "on-demand" | "reserved" | None.

    GKE's spot/preemptible labels carry "true"; AKS's scalesetpriority carries Regular/Spot (Low is the
    old name for spot); EKS's capacityType carries ON_DEMAND/SPOT.
    """
    if not value:
        return None
    return _CAPACITY_TYPES.get(value.strip().casefold().replace("_", "-"))


def load_catalog(spec: str | None) -> Catalog:
    """Load the catalog named by ``spec`` (see the module docstring)."""
    text = (spec or "auto").strip()
    name = text.casefold()
    if name == "auto":
        instances = tuple(inst for cloud in CLOUDS for inst in _bundled(cloud))
        return _catalog("+".join(CLOUDS) + " (bundled)", instances, "default")
    cloud, _, region = name.partition(":")
    if cloud in CLOUDS:
        instances = _bundled(cloud)
        if region:
            instances = tuple(i for i in instances if i.region.casefold() == region)
            if not instances:
                regions = ", ".join(sorted({i.region for i in _bundled(cloud)}))
                raise CatalogError(f"no bundled {cloud} prices for region {region!r}; bundled regions: {regions}")
            return _catalog(f"{cloud}:{region} (bundled)", instances, cloud)
        return _catalog(f"{cloud} (bundled)", instances, cloud)
    path = Path(text).expanduser()
    if not path.is_file():
        valid = ", ".join(("auto", *CLOUDS, *(f"{c}:REGION" for c in CLOUDS)))
        raise CatalogError(f"unknown catalog {text!r}: not a file and not one of {valid}")
    return _catalog(text, _read_csv(path, text), "default")


def _catalog(name: str, instances: tuple[InstanceType, ...], defaults_key: str) -> Catalog:
    on_demand, spot = _default_rates(defaults_key)
    return Catalog(name, instances, on_demand, spot, _zone_transfer(defaults_key))


@cache
def _zone_transfer(key: str) -> TransferPrice:
    entry = _defaults().get(key) or _defaults()["default"]
    prefix = "" if key == "default" else f"{key} "
    return TransferPrice(Decimal(entry["zone_egress_gib"]), f"OpenCost {prefix}zoneNetworkEgress")


@cache
def _defaults() -> dict[str, dict[str, str]]:
    data: dict[str, dict[str, str]] = json.loads((resources.files("gitbot.pricing") / "data" / "defaults.json").read_text(encoding="utf-8"))
    return data


@cache
def _bundled(cloud: str) -> tuple[InstanceType, ...]:
    resource = resources.files("gitbot.pricing") / "data" / f"{cloud}.csv"
    with resources.as_file(resource) as path:
        return _read_csv(path, f"bundled {cloud}.csv")


@cache
def _default_rates(key: str) -> tuple[ResourceRates, ResourceRates]:
    data = _defaults()
    entry = data.get(key, data["default"])
    prefix = "" if key == "default" else f"{key} "
    return (
        ResourceRates(Decimal(entry["cpu_vcpu_hour"]), Decimal(entry["ram_gib_hour"]), f"{prefix}default rates (OpenCost)"),
        ResourceRates(
            Decimal(entry["spot_cpu_vcpu_hour"]), Decimal(entry["spot_ram_gib_hour"]), f"{prefix}default spot rates (OpenCost)"
        ),
    )


def _read_csv(path: Path, label: str) -> tuple[InstanceType, ...]:
    try:
        with path.open(newline="", encoding="utf-8-sig") as handle:
            reader = csv.DictReader(handle)
            missing = [c for c in REQUIRED_COLUMNS if c not in (reader.fieldnames or ())]
            if missing:
                raise CatalogError(f"{label}: missing column(s): {', '.join(missing)}")
            rows = [_parse_row(row, _Where(label, reader.line_num)) for row in reader]
    except UnicodeDecodeError:
        raise CatalogError(f"{label}: not UTF-8 text") from None
    except (OSError, csv.Error) as exc:
        raise CatalogError(f"{label}: cannot read: {exc}") from None
    if not rows:
        raise CatalogError(f"{label}: no instance types (a header without rows)")
    _check_duplicates(rows, label)
    return tuple(inst for inst, _ in rows)


@dataclass(frozen=True)
class _Where:
    label: str
    row: int

    def error(self, column: str, raw: str, why: str) -> CatalogError:
        return CatalogError(f"{self.label}:row {self.row}: column {column}: bad value {raw!r} ({why})")


def _parse_row(row: Mapping[str, str | None], where: _Where) -> tuple[InstanceType, int]:
    def text(column: str) -> str:
        return (row.get(column) or "").strip()

    def decimal(column: str, required: bool = False, positive: bool = False) -> Decimal | None:
        raw = text(column)
        if not raw:
            if required:
                raise where.error(column, raw, "required")
            return None
        try:
            value = Decimal(raw)
        except InvalidOperation:
            raise where.error(column, raw, "not a number") from None
        if not value.is_finite():
            raise where.error(column, raw, "not a number")
        if value < 0 or (positive and value == 0):
            raise where.error(column, raw, "must be positive" if positive else "negative")
        return value

    instance_type = text("instance_type")
    if not instance_type:
        raise where.error("instance_type", "", "required")
    vcpu = decimal("vcpu", required=True, positive=True)
    assert vcpu is not None
    if vcpu != vcpu.to_integral_value():
        raise where.error("vcpu", text("vcpu"), "not a whole number")
    memory = decimal("memory_gib", required=True, positive=True)
    assert memory is not None
    estimate = text("spot_is_estimate").casefold()
    if estimate not in ("", "true", "false"):
        raise where.error("spot_is_estimate", text("spot_is_estimate"), "expected true or false")
    inst = InstanceType(
        cloud=text("cloud"),
        region=text("region"),
        instance_type=instance_type,
        family=text("family"),
        category=text("category").casefold() if text("category").casefold() in CATEGORIES else "other",
        arch=text("arch") or None,
        vcpu=int(vcpu),
        memory_gib=memory,
        price_ondemand=decimal("price_ondemand_usd_hour"),
        price_spot=decimal("price_spot_usd_hour"),
        spot_is_estimate=estimate == "true",
        cpu_perf_per_vcpu=decimal("cpu_perf_per_vcpu"),
        cpu_perf_source=text("cpu_perf_source") or None,
    )
    return inst, where.row


def _check_duplicates(rows: Iterable[tuple[InstanceType, int]], label: str) -> None:
    seen: dict[tuple[str, str], int] = {}
    for inst, row in rows:
        key = (inst.instance_type.casefold(), inst.region.casefold())
        if key in seen:
            region = f" in region {inst.region}" if inst.region else ""
            raise CatalogError(
                f"{label}:row {row}: duplicate instance type {inst.instance_type}{region} (first at row {seen[key]})"
            )
        seen[key] = row
