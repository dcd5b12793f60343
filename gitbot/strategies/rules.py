"""Policy rules as data: one YAML file per rule in ``rules/``, the rule id is the file name.

A rule file names a ``kind`` (what it does, implemented in ``gitbot.strategies.percentile``), its
``params``, a one-line ``description``, and optionally ``when`` (which containers it applies to)::

    # rules/memory-limit-production.yaml
    kind: memory-limit
    description: In production the memory limit stays close to the request.
    when:
      tiers: [production]
    params:
      request_ratio: 1.0
      peak_margin_pct: 20
      add_if_missing: true

``when`` keys (all must hold; each list matches any of its items): ``tiers``, ``environments``,
``kinds`` (workload kinds), ``container_types`` (app, init, sidecar), ``workloads`` (globs on
``namespace/Kind/name``). For one container, at most one rule of each kind applies: the one whose
``when`` names the most keys, then the first by id. ``settings`` rules are the exception: every
match applies, least specific first, so the specific ones win.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping

from gitbot.errors import InputError, SourceError
from gitbot.globs import any_match
from gitbot.model import Container, Workload
from gitbot.quantity import QuantityError, parse_cpu_m, parse_memory_bytes
from gitbot.yamldoc import parse_yaml

Parser = Callable[[Any], Any]


def _number(lo: float, hi: float) -> Parser:
    def parse(value: Any) -> float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ValueError(f"expected a number, got {value!r}")
        if not lo <= value <= hi:
            raise ValueError(f"must be between {lo:g} and {hi:g}, got {value!r}")
        return float(value)

    return parse


def _int(lo: int, hi: int) -> Parser:
    def parse(value: Any) -> int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValueError(f"expected an integer, got {value!r}")
        if not lo <= value <= hi:
            raise ValueError(f"must be between {lo} and {hi}, got {value!r}")
        return value

    return parse


def _bool(value: Any) -> bool:
    if not isinstance(value, bool):
        raise ValueError(f"expected true or false, got {value!r}")
    return value


def _cpu(value: Any) -> int:
    try:
        return parse_cpu_m(value)
    except QuantityError as exc:
        raise ValueError(str(exc)) from None


def _memory(value: Any) -> int:
    try:
        return parse_memory_bytes(value)
    except QuantityError as exc:
        raise ValueError(str(exc)) from None


PCT = _number(0, 1000)
PERCENTILE = _number(1, 100)

# kind -> param name -> (parser, default). The strategy reads params through these names only.
RULE_KINDS: Mapping[str, Mapping[str, tuple[Parser, Any]]] = {
    "settings": {
        "cpu_request_percentile": (PERCENTILE, None),
        "cpu_request_margin_pct": (PCT, None),
        "memory_request_percentile": (PERCENTILE, None),
        "memory_request_margin_pct": (PCT, None),
        "forecast_days": (_number(0, 90), None),
        "history_half_life_days": (_number(0.01, 365), None),
    },
    "min-data": {"min_samples": (_int(1, 10**9), 288), "min_span_hours": (_number(0, 10**6), 72)},
    "oom-bump": {"request_factor": (_number(1, 100), 1.0), "limit_factor": (_number(1, 100), 1.2), "min_headroom": (_memory, 64 * 2**20)},
    "floor": {"cpu_request": (_cpu, 10), "memory_request": (_memory, 32 * 2**20)},
    "max-step-down": {"max_pct": (_number(0, 100), 50)},
    "min-coverage": {"min_coverage_pct": (_number(0, 100), 60)},
    "limit-above-request": {},
    "rounding": {
        "cpu_step": (_cpu, 5),
        "cpu_step_above_core": (_cpu, 50),
        "memory_step": (_memory, 2**20),
        "memory_step_large": (_memory, 2**30),
        "memory_large_from": (_memory, 4 * 2**30),
    },
    "hysteresis": {"min_change_pct": (_number(0, 100), 10), "max_steps": (_int(0, 1000), 1)},
    "memory-limit": {"request_ratio": (_number(1, 100), 1.0), "peak_margin_pct": (PCT, 20), "add_if_missing": (_bool, True)},
    "cpu-limit": {"request_ratio": (_number(1, 100), 2.0), "peak_margin_pct": (PCT, 10), "add_if_missing": (_bool, False)},
    "throttling": {"min_throttled_pct": (_number(0, 100), 5), "limit_bump_pct": (_number(0, 1000), 50)},
    "hpa-cpu": {},
    "guaranteed-qos": {"whole_cores": (_bool, True)},
}
SELECTOR_KEYS = ("tiers", "environments", "kinds", "container_types", "workloads")


@dataclass(frozen=True)
class Selector:
    tiers: tuple[str, ...] = ()
    environments: tuple[str, ...] = ()
    kinds: tuple[str, ...] = ()
    container_types: tuple[str, ...] = ()
    workloads: tuple[str, ...] = ()

    @property
    def specificity(self) -> int:
        return sum(1 for key in SELECTOR_KEYS if getattr(self, key))

    def matches(self, workload: Workload, container: Container) -> bool:
        return (
            (not self.tiers or workload.tier in self.tiers)
            and (not self.environments or workload.environment in self.environments)
            and (not self.kinds or workload.id.kind in self.kinds)
            and (not self.container_types or container.type.value in self.container_types)
            and (not self.workloads or any_match(self.workloads, str(workload.id)))
        )


@dataclass(frozen=True)
class Rule:
    id: str
    kind: str
    description: str
    params: Mapping[str, Any]
    when: Selector = field(default_factory=Selector)
    file: str = ""

    def param(self, name: str) -> Any:
        return self.params[name]


@dataclass(frozen=True)
class RuleSet:
    rules: tuple[Rule, ...]

    def for_container(self, workload: Workload, container: Container) -> dict[str, Rule]:
        """The rule of each kind (except ``settings``) that applies to this container."""
        chosen: dict[str, Rule] = {}
        for rule in self.rules:
            if rule.kind == "settings" or not rule.when.matches(workload, container):
                continue
            best = chosen.get(rule.kind)
            if best is None or rule.when.specificity > best.when.specificity:
                chosen[rule.kind] = rule
        return chosen

    def settings_for(self, workload: Workload, container: Container) -> list[Rule]:
        matching = [r for r in self.rules if r.kind == "settings" and r.when.matches(workload, container)]
        return sorted(matching, key=lambda r: (r.when.specificity, r.id))

    def ids(self) -> tuple[str, ...]:
        return tuple(r.id for r in self.rules)


def default_rules_dir() -> Path:
    """``rules/`` of a source checkout, or the copy packaged into the wheel."""
    packaged = Path(__file__).resolve().parents[1] / "_rules"
    if packaged.is_dir():
        return packaged
    return Path(__file__).resolve().parents[2] / "rules"


def load_rules(dirs: list[Path], disabled: tuple[str, ...] = ()) -> RuleSet:
    """Read every ``*.yaml`` rule in ``dirs``; a later directory's rule replaces one with the same id."""
    by_id: dict[str, Rule] = {}
    for directory in dirs:
        if not directory.is_dir():
            raise InputError(f"rules directory {directory}: no such directory")
        for path in sorted(directory.glob("*.yaml")):
            rule = parse_rule(path)
            by_id[rule.id] = rule
    unknown = sorted(set(disabled) - set(by_id))
    if unknown:
        raise InputError(f"rules.disable: unknown rule id {unknown[0]!r} (known: {', '.join(sorted(by_id))})")
    return RuleSet(tuple(r for rid, r in sorted(by_id.items()) if rid not in disabled))


def parse_rule(path: Path) -> Rule:
    name = str(path)
    try:
        docs = parse_yaml(path.read_text(encoding="utf-8"), name)
    except SourceError as exc:
        raise InputError(f"rule {exc}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"rule {name}: cannot read: {exc}") from None
    data = docs[0].data if docs else None

    def fail(key: str, message: str) -> InputError:
        return InputError(f"rule {name}: {key}: {message}")

    if not isinstance(data, dict):
        raise fail("(top)", "expected a mapping with kind, description and params")
    unknown = sorted(set(map(str, data)) - {"kind", "description", "when", "params"})
    if unknown:
        raise fail(unknown[0], "unknown key (allowed: description, kind, params, when)")
    kind = data.get("kind")
    if kind not in RULE_KINDS:
        raise fail("kind", f"must be one of {', '.join(sorted(RULE_KINDS))}, not {kind!r}")
    description = data.get("description")
    if not isinstance(description, str) or not description.strip():
        raise fail("description", "a one-line description is required")
    raw_params = data.get("params") or {}
    if not isinstance(raw_params, dict):
        raise fail("params", "expected a mapping")
    spec = RULE_KINDS[kind]
    params: dict[str, Any] = {}
    for key in raw_params:
        if key not in spec:
            raise fail(f"params.{key}", f"unknown parameter for kind {kind} (known: {', '.join(sorted(spec)) or 'none'})")
    for key, (parser, default) in spec.items():
        if key in raw_params:
            try:
                params[key] = parser(raw_params[key])
            except ValueError as exc:
                raise fail(f"params.{key}", str(exc)) from None
        elif default is not None:
            params[key] = parser(default) if isinstance(default, str) else default
    return Rule(
        id=path.stem,
        kind=kind,
        description=" ".join(description.split()),
        params=params,
        when=_selector(data.get("when"), fail),
        file=name,
    )


def _selector(data: Any, fail: Callable[[str, str], InputError]) -> Selector:
    if data is None:
        return Selector()
    if not isinstance(data, dict):
        raise fail("when", "expected a mapping")
    values: dict[str, tuple[str, ...]] = {}
    for key, value in data.items():
        if key not in SELECTOR_KEYS:
            raise fail(f"when.{key}", f"unknown selector (allowed: {', '.join(SELECTOR_KEYS)})")
        items = [value] if isinstance(value, str) else value
        if not isinstance(items, list) or not all(isinstance(i, str) and i for i in items):
            raise fail(f"when.{key}", "expected a list of strings")
        values[key] = tuple(items)
    return Selector(**values)
