"""The default strategy: percentiles of observed usage, shaped by policy rules.

Settings (``settings:`` in .gitbot.yaml, or ``settings`` rules per tier / container type):

``cpu_request_percentile`` (97)
    CPU request = this percentile of the per-pod CPU usage forecast for the next review period
    (``gitbot.strategies.forecast``); without a forecast (less than 3 days of data), of the
    recorded 5-minute samples of all replicas.
``cpu_request_margin_pct`` (0)
    added on top of that percentile.
``memory_request_percentile`` (99)
    memory request = this percentile of the working-set forecast (or samples) ...
``memory_request_margin_pct`` (15)
    ... plus this margin, only where no memory limit protects the pod: where a ``memory-limit`` rule
    puts the limit above the peak, a burst past the request is caught there, and a margin would only
    be paid for every hour the burst does not come.
``forecast_days`` (7)
    the review period the forecast covers: how long the proposal has to hold. 0 turns forecasts
    off (plain percentiles of the recorded samples).
``history_half_life_days`` (3)
    how fast old noise fades from the forecast's bands.

Limits use the higher of the recorded peak and the forecast peak.

Then the rules, in this order, each recorded on the fields it changed:
``min-data`` (gate) -> ``hpa-cpu`` (CPU request basis for HPA targets) -> ``oom-bump`` -> ``floor``
-> ``max-step-down`` -> ``rounding`` -> ``hysteresis`` -> ``min-coverage`` for requests;
``memory-limit`` / ``cpu-limit`` / ``throttling`` / ``oom-bump`` -> ``max-step-down`` -> ``rounding``
-> ``hysteresis`` -> ``min-coverage`` for limits; a limit never ends below its request
(``limit-above-request``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, fields, replace
from typing import Any, Callable, Mapping, Sequence

import numpy as np

from gitbot.config import Exemption
from gitbot.errors import InputError
from gitbot.linear_percentile import percentiles_many
from gitbot.metrics.usage import UsageProfile
from gitbot.model import FIELDS, Container, Field, Resource, Status, Workload
from gitbot.quantity import GI, MI, human_cpu, human_memory, memory_unit_family, round_up
from gitbot.strategies.base import FieldRecommendation, Recommendation, unchanged_fields
from gitbot.strategies.forecast import Forecast, NoForecast, fit_many
from gitbot.strategies.rules import RULE_KINDS, Rule, RuleSet


@dataclass(frozen=True)
class StrategySettings:
    cpu_request_percentile: float = 97.0
    cpu_request_margin_pct: float = 0.0
    memory_request_percentile: float = 99.0
    memory_request_margin_pct: float = 15.0
    forecast_days: float = 7.0
    history_half_life_days: float = 3.0

    def merged(self, overrides: Mapping[str, Any]) -> StrategySettings:
        return replace(self, **{k: v for k, v in overrides.items() if v is not None})


def settings_from_config(data: Mapping[str, Any], where: str) -> StrategySettings:
    """Validate ``settings:`` from .gitbot.yaml with the same parsers as ``settings`` rules."""
    spec = RULE_KINDS["settings"]
    values: dict[str, float] = {}
    for key, value in data.items():
        if key not in spec:
            known = ", ".join(f.name for f in fields(StrategySettings))
            raise InputError(f"config {where}: settings.{key}: unknown setting (known: {known})")
        try:
            values[key] = spec[key][0](value)
        except ValueError as exc:
            raise InputError(f"config {where}: settings.{key}: {exc}") from None
    return StrategySettings().merged(values)


class _Draft:
    """One field's value while rules shape it."""

    def __init__(self, f: Field, current: int | None) -> None:
        self.field = f
        self.current = current
        self.value: int | None = current
        self.rule_ids: list[str] = []
        self.kinds: set[str] = set()
        self.notes: list[str] = []

    def set(self, value: int | None, rule: Rule | None = None, note: str | None = None) -> None:
        if value == self.value:
            return
        self.value = value
        if rule is not None and rule.id not in self.rule_ids:
            self.rule_ids.append(rule.id)
            self.kinds.add(rule.kind)
        if note:
            self.notes.append(note)

    def human(self, value: int | None) -> str:
        return human_cpu(value) if self.field.resource is Resource.CPU else human_memory(value)

    def freeze(self, basis: str) -> FieldRecommendation:
        reason = "; ".join([basis, *self.notes]) if basis else "; ".join(self.notes)
        return FieldRecommendation(self.field, self.current, self.value, tuple(self.rule_ids), reason)


Item = tuple[Workload, Container, "UsageProfile | None", "str | None"]  # recommend()'s arguments


@dataclass(frozen=True)
class _Sizing:
    """A container to size: not skipped, with its rules and settings resolved."""

    workload: Workload
    container: Container
    profile: UsageProfile
    rules: dict[str, Rule]
    settings: StrategySettings


class PercentileStrategy:
    name = "percentile"

    def __init__(self, settings: StrategySettings, rules: RuleSet, exemptions: tuple[Exemption, ...] = ()) -> None:
        self.settings = settings
        self.rules = rules
        self.exemptions = exemptions

    def recommend(
        self, workload: Workload, container: Container, profile: UsageProfile | None, no_data_reason: str | None = None
    ) -> Recommendation:
        """``no_data_reason``: why the source has nothing for this workload's namespace, if it knows."""
        return self.recommend_many([(workload, container, profile, no_data_reason)])[0]

    def recommend_many(self, items: Sequence[Item]) -> list[Recommendation]:
        """``recommend`` for every item, the same recommendations: the rules per container, the
        forecasts of all containers fitted together (``_Outlook.many``)."""
        prepared = [self._prepare(*item) for item in items]
        outlooks = iter(_Outlook.many([(p.profile, p.settings) for p in prepared if isinstance(p, _Sizing)]))
        return [self._size(p, next(outlooks)) if isinstance(p, _Sizing) else p for p in prepared]

    def _prepare(
        self, workload: Workload, container: Container, profile: UsageProfile | None, no_data_reason: str | None = None
    ) -> Recommendation | _Sizing:
        """The recommendation when the container is skipped, else what sizing it needs: its rules and settings."""
        def skipped(reason: str, rule: Rule | None = None) -> Recommendation:
            fields_ = unchanged_fields(container, reason)
            if rule is not None:
                fields_ = {f: replace(fr, rule_ids=(rule.id,)) for f, fr in fields_.items()}
            return Recommendation(workload, container, Status.SKIPPED, fields_, reason, (reason,), profile)

        exemption = next((e for e in self.exemptions if e.matches(str(workload.id), container.name)), None)
        if exemption is not None:
            return skipped(f"exempt in config: {exemption.reason}")
        invalid = [f"{f.value}: {container.fields[f].source.not_editable}" for f in FIELDS
                   if container.fields[f].value is None and container.fields[f].text is not None]
        if invalid:
            return skipped("; ".join(invalid))
        if profile is None:
            return skipped(f"no usage data: {no_data_reason}" if no_data_reason else "no usage data for this container in the metrics")
        rules = self.rules.for_container(workload, container)
        gate = rules.get("min-data")
        if gate is not None:
            need_samples, need_hours = gate.param("min_samples"), gate.param("min_span_hours")
            if profile.samples < need_samples or profile.span_seconds < need_hours * 3600:
                return skipped(
                    f"not enough data: {profile.samples} samples over {profile.span_seconds / 3600:.0f}h "
                    f"(needs {need_samples} over {need_hours:g}h)",
                    gate,
                )
        settings = self.settings
        for rule in self.rules.settings_for(workload, container):
            settings = settings.merged(rule.params)
        return _Sizing(workload, container, profile, rules, settings)

    def _size(self, sizing: _Sizing, outlook: _Outlook) -> Recommendation:
        """Requests and limits from the usage, the forecasts (``outlook``) and the rules."""
        workload, container, profile, rules, settings = sizing.workload, sizing.container, sizing.profile, sizing.rules, sizing.settings
        drafts = {f: _Draft(f, container.current(f)) for f in FIELDS}
        basis: dict[Field, str] = {f: "" for f in FIELDS}
        summary: list[str] = [_usage_line(profile)]
        summary.extend(outlook.lines())

        cpu_ok = profile.cpu_samples > 0
        mem_ok = profile.memory_samples > 0
        if cpu_ok:
            basis[Field.CPU_REQUEST] = self._cpu_request(drafts[Field.CPU_REQUEST], workload, profile, outlook, settings, rules)
        else:
            basis[Field.CPU_REQUEST] = basis[Field.CPU_LIMIT] = "no CPU samples; left as is"
        if mem_ok:
            basis[Field.MEMORY_REQUEST] = self._memory_request(drafts[Field.MEMORY_REQUEST], profile, outlook, settings, rules, summary,
                                                               container.current(Field.MEMORY_LIMIT))
        else:
            basis[Field.MEMORY_REQUEST] = basis[Field.MEMORY_LIMIT] = "no memory samples; left as is"

        memory_family = memory_unit_family(container.fields[Field.MEMORY_REQUEST].text or container.fields[Field.MEMORY_LIMIT].text)
        for f in (Field.CPU_REQUEST, Field.MEMORY_REQUEST):
            if (cpu_ok if f.resource is Resource.CPU else mem_ok):
                self._finish(drafts[f], profile, rules, memory_family)
        if mem_ok:
            basis[Field.MEMORY_LIMIT] = self._memory_limit(drafts, profile, outlook, rules, memory_family)
        if cpu_ok:
            basis[Field.CPU_LIMIT] = self._cpu_limit(drafts, profile, outlook, rules, summary)
        qos = rules.get("guaranteed-qos")
        if qos is not None and cpu_ok and mem_ok and _guaranteed(container):
            _keep_guaranteed(drafts, container, qos)
            summary.append("Guaranteed QoS kept: limits equal requests")
        hpa_note = _hpa_note(workload, drafts[Field.CPU_REQUEST], rules.get("hpa-cpu"))
        if hpa_note:
            summary.append(hpa_note)
        elif workload.hpa is None and drafts[Field.CPU_REQUEST].value:
            advice = outlook.cycle_advice(drafts[Field.CPU_REQUEST].value)
            if advice:
                summary.append(advice)

        frozen = {f: drafts[f].freeze(basis[f]) for f in FIELDS}
        changed = [f for f in FIELDS if frozen[f].changed]
        if not changed:
            return Recommendation(workload, container, Status.UNCHANGED, frozen, "; ".join(summary), (), profile)
        blocked = [f for f in changed if not container.fields[f].source.editable]
        if blocked:
            by_reason: dict[str, list[str]] = {}
            for f in blocked:
                by_reason.setdefault(container.fields[f].source.not_editable or "", []).append(f.value)
            reasons = tuple(f"{', '.join(names)}: {why}" for why, names in by_reason.items())
            return Recommendation(workload, container, Status.COMMENT_ONLY, frozen, "; ".join(summary), reasons, profile)
        return Recommendation(workload, container, Status.CHANGE, frozen, "; ".join(summary), (), profile)

    # -- requests -------------------------------------------------------------------------------

    def _cpu_request(
        self, d: _Draft, workload: Workload, p: UsageProfile, outlook: _Outlook, s: StrategySettings, rules: dict[str, Rule]
    ) -> str:
        q = s.cpu_request_percentile
        value, basis = outlook.percentile(Resource.CPU, q)
        hpa_rule = rules.get("hpa-cpu")
        target = workload.hpa.cpu_utilization_pct if workload.hpa else None
        if hpa_rule is not None and target:
            median = p.cpu_percentile(50) or 0.0
            wanted = _ceil(median * 100 / target)
            d.set(wanted, hpa_rule)
            return (
                f"HPA {workload.hpa.name} targets {target}%: median {human_cpu(math.ceil(median))} / {target}% = "  # type: ignore[union-attr]
                f"{human_cpu(wanted)} (p{q:g} would be {human_cpu(math.ceil(value))})"
            )
        if s.cpu_request_margin_pct:
            basis += f" +{s.cpu_request_margin_pct:g}%"
        d.set(_ceil(value * (1 + s.cpu_request_margin_pct / 100)))
        return basis

    def _memory_request(
        self, d: _Draft, p: UsageProfile, outlook: _Outlook, s: StrategySettings, rules: dict[str, Rule], summary: list[str],
        container_limit: int | None,
    ) -> str:
        q = s.memory_request_percentile
        value, basis = outlook.percentile(Resource.MEMORY, q)
        protected = _limit_protects(container_limit, rules)
        margin = 0.0 if protected else s.memory_request_margin_pct
        d.set(_ceil(value * (1 + margin / 100)))
        if margin:
            basis += f" +{margin:g}%"
        elif protected and s.memory_request_margin_pct:
            basis += ", no margin: the limit covers the peak"
        bump = rules.get("oom-bump")
        if bump is not None and p.oom_events and p.oom_memory_bytes:
            level = p.oom_memory_bytes
            wanted = _ceil(max(level * bump.param("request_factor"), level))
            if d.value is not None and wanted > d.value:
                d.set(wanted, bump, f"OOM-killed at {human_memory(level)}")
            summary.append(f"{p.oom_events} OOM kill{'s' if p.oom_events != 1 else ''} at {human_memory(level)}")
        return basis

    def _finish(self, d: _Draft, p: UsageProfile, rules: dict[str, Rule], memory_family: str) -> None:
        """floor (requests only) -> max-step-down -> rounding -> hysteresis."""
        if d.value is None:
            return
        floor = rules.get("floor")
        if floor is not None and d.field in (Field.CPU_REQUEST, Field.MEMORY_REQUEST):
            minimum = floor.param("cpu_request" if d.field is Field.CPU_REQUEST else "memory_request")
            if d.value < minimum:
                d.set(minimum, floor, f"floor {d.human(minimum)}")
        step_down = rules.get("max-step-down")
        reference = p.observed.get(d.field, d.current)
        if step_down is not None and reference:
            lowest = _ceil(reference * (1 - step_down.param("max_pct") / 100))
            if d.value < lowest:
                d.set(lowest, step_down, f"at most -{step_down.param('max_pct'):g}% of the {d.human(reference)} the pods ran with")
        rounding = rules.get("rounding")
        if rounding is not None:
            rounded = round_up(d.value, _step(d.field, d.value, rounding, memory_family))
            d.set(rounded, rounding)
        hysteresis = rules.get("hysteresis")
        raised_for_safety = bool(d.kinds & {"oom-bump", "throttling"})
        if hysteresis is not None and d.current and d.value is not None and not raised_for_safety:
            _hold(d, hysteresis, _step(d.field, d.current, rounding, memory_family) if rounding is not None else 1)
        coverage = rules.get("min-coverage")
        if coverage is not None and d.current is not None and d.value is not None and d.value < d.current:
            need = coverage.param("min_coverage_pct")
            if p.span_coverage * 100 < need:
                proposed = d.value
                d.set(d.current, coverage, f"{d.human(proposed)} proposed, but samples cover {p.span_coverage:.0%} of the "
                                           f"{p.span_seconds / 86400:.1f} days the pods were seen and lowering needs {need:g}%; kept")

    # -- limits ---------------------------------------------------------------------------------

    def _memory_limit(self, drafts: dict[Field, _Draft], p: UsageProfile, outlook: _Outlook, rules: dict[str, Rule], family: str) -> str:
        d = drafts[Field.MEMORY_LIMIT]
        request = drafts[Field.MEMORY_REQUEST].value
        rule = rules.get("memory-limit")
        peak, peak_word = outlook.peak(p.memory_max() or 0, outlook.memory)
        basis = ""
        if rule is not None and request is not None and (d.current is not None or rule.param("add_if_missing")):
            ratio, margin = rule.param("request_ratio"), rule.param("peak_margin_pct")
            by_request = _ceil(request * ratio)
            by_peak = _ceil(peak * (1 + margin / 100))
            d.set(max(by_request, by_peak), rule)
            basis = f"max(request x{ratio:g}, {peak_word} {human_memory(peak)} +{margin:g}%)"
        bump = rules.get("oom-bump")
        if bump is not None and p.oom_events and p.oom_memory_bytes and d.value is not None:
            level = p.oom_memory_bytes
            wanted = _ceil(max(level * bump.param("limit_factor"), level + bump.param("min_headroom")))
            if wanted > d.value:
                d.set(wanted, bump, f"OOM-killed at {human_memory(level)}: limit at least {human_memory(wanted)}")
        self._finish(d, p, rules, family)
        _at_least_request(d, request, rules.get("limit-above-request"))
        return basis

    def _cpu_limit(self, drafts: dict[Field, _Draft], p: UsageProfile, outlook: _Outlook, rules: dict[str, Rule], summary: list[str]) -> str:
        d = drafts[Field.CPU_LIMIT]
        request = drafts[Field.CPU_REQUEST].value
        rule = rules.get("cpu-limit")
        basis = "no CPU limit; none added" if d.current is None else ""
        if rule is not None and request is not None and (d.current is not None or rule.param("add_if_missing")):
            ratio, margin = rule.param("request_ratio"), rule.param("peak_margin_pct")
            peak, peak_word = outlook.peak(p.cpu_max() or 0, outlook.cpu)
            d.set(max(_ceil(request * ratio), _ceil(peak * (1 + margin / 100))), rule)
            basis = f"max(request x{ratio:g}, {peak_word} {human_cpu(peak)} +{margin:g}%)"
        throttling = rules.get("throttling")
        if throttling is not None and p.throttled_ratio is not None and d.current is not None and d.value is not None:
            pct = p.throttled_ratio * 100
            if pct >= throttling.param("min_throttled_pct"):
                # relative to the limit the pods were throttled at, not today's manifest (which may
                # already hold a raised limit), so a second run does not raise it again
                at = p.observed.get(Field.CPU_LIMIT, d.current)
                summary.append(f"throttled in {pct:.0f}% of CFS periods at a {human_cpu(at)} limit")
                wanted = _ceil(at * (1 + throttling.param("limit_bump_pct") / 100))
                if wanted > d.value:
                    d.set(wanted, throttling, f"throttled in {pct:.0f}% of periods at {human_cpu(at)}: +{throttling.param('limit_bump_pct'):g}%")
        self._finish(d, p, rules, "binary")
        _at_least_request(d, request, rules.get("limit-above-request"))
        return basis


ADVICE_MIN_ACF = 0.5  # a daily cycle this regular ...
ADVICE_MIN_SWING = 3.0  # ... whose peak hour uses this many times the trough ...
ADVICE_MIN_SWING_M = 100  # ... and at least this many millicores more, gets a scaling suggestion


@dataclass(frozen=True)
class _Outlook:
    """The container's CPU and memory forecasts for the review period (None: forecasts are off)."""

    days: float
    cpu: Forecast | NoForecast | None
    memory: Forecast | NoForecast | None
    recorded: Mapping[tuple[Resource, float], float] = field(default_factory=dict)  # percentiles of the samples, without a forecast

    @classmethod
    def many(cls, containers: Sequence[tuple[UsageProfile, StrategySettings]]) -> list[_Outlook]:
        """Each container's outlook; the series of all of them fitted by one ``fit_many`` per series
        length, step, horizon and half-life (settings rules can give containers different ones).
        Where a resource has no forecast, the request percentile of its recorded samples, for all
        such containers at once (``percentiles_many``)."""
        outlooks = cls._forecasts(containers)
        keys: list[tuple[int, Resource, float]] = []  # (container, resource, q) of each percentile asked for
        samplers: list[Callable[[], np.ndarray]] = []
        sizes: list[int] = []
        for i, ((p, s), o) in enumerate(zip(containers, outlooks)):
            if p.cpu_samples and not isinstance(o.cpu, Forecast):
                keys.append((i, Resource.CPU, s.cpu_request_percentile))
                samplers.append(lambda p=p: p.cpu_m)
                sizes.append(p.cpu_samples)
            if p.memory_samples and not isinstance(o.memory, Forecast):
                keys.append((i, Resource.MEMORY, s.memory_request_percentile))
                samplers.append(lambda p=p: p.memory_bytes)
                sizes.append(p.memory_samples)
        recorded: dict[int, dict[tuple[Resource, float], float]] = {}
        for (i, resource, q), value in zip(keys, percentiles_many(samplers, sizes, [q for _, _, q in keys])):
            assert value is not None  # every size is above 0
            recorded.setdefault(i, {})[(resource, q)] = value
        return [replace(o, recorded=recorded[i]) if i in recorded else o for i, o in enumerate(outlooks)]

    @classmethod
    def _forecasts(cls, containers: Sequence[tuple[UsageProfile, StrategySettings]]) -> list[_Outlook]:
        Series = tuple[int, str, np.ndarray, "tuple[np.ndarray, np.ndarray] | None"]  # container, resource, series, samples
        batches: dict[tuple[int, int, int, float], list[Series]] = {}
        for i, (p, s) in enumerate(containers):
            if s.forecast_days <= 0:
                continue
            fit_by = (p.step_seconds, int(s.forecast_days * 86400), s.history_half_life_days)
            if p.cpu_samples:
                cpu = p.cpu_m_per_pod_by_step
                batches.setdefault((cpu.size, *fit_by), []).append((i, "cpu", cpu, (p.cpu_m, p.cpu_m_steps)))
            if p.memory_samples:
                memory = p.memory_bytes_by_step
                batches.setdefault((memory.size, *fit_by), []).append((i, "memory", memory, None))
        fitted: dict[tuple[int, str], Forecast | NoForecast] = {}
        for (_, step, horizon, half_life), batch in batches.items():
            forecasts = fit_many([row for _, _, row, _ in batch], step, horizon, half_life, [samples for _, _, _, samples in batch])
            fitted.update({(i, what): fc for (i, what, _, _), fc in zip(batch, forecasts)})
        return [cls(s.forecast_days, fitted.get((i, "cpu")), fitted.get((i, "memory"))) if s.forecast_days > 0 else cls(0.0, None, None)
                for i, (_, s) in enumerate(containers)]

    def lines(self) -> list[str]:
        out = []
        for what, fc, human in (("CPU", self.cpu, human_cpu), ("memory", self.memory, human_memory)):
            if isinstance(fc, Forecast):
                out.append(f"{what}: {fc.describe(lambda v, h=human: h(math.ceil(v)))}")
        if isinstance(self.cpu, NoForecast):
            out.append(f"no forecast: {self.cpu.reason}; percentiles of the recorded samples")
        return out

    def percentile(self, resource: Resource, q: float) -> tuple[float, str]:
        """The q-th percentile of the forecast (of the recorded samples without one), and its basis text."""
        cpu = resource is Resource.CPU
        fc, human = (self.cpu, human_cpu) if cpu else (self.memory, human_memory)
        if isinstance(fc, Forecast):
            value = fc.quantile(q)
            return value, f"p{q:g} of the {self.days:g}-day forecast {human(math.ceil(value))}"
        value = self.recorded[(resource, q)]  # ``many`` took every resource with samples and no forecast
        return value, f"p{q:g} {human(math.ceil(value))}"

    def cycle_advice(self, request_m: int) -> str | None:
        """When a strong daily cycle swings CPU far below its peak, what a static request leaves idle."""
        fc = self.cpu
        if not isinstance(fc, Forecast) or not any(c.period_seconds == 86400 and c.autocorrelation >= ADVICE_MIN_ACF for c in fc.cycles):
            return None
        day = fc.next_day
        peak, trough = float(day.max()), max(float(day.min()), 1.0)
        if peak < ADVICE_MIN_SWING * trough or peak - trough < ADVICE_MIN_SWING_M:
            return None
        idle = max(request_m - float(day.mean()), 0.0) * 24 / 1000
        return (f"daily cycle: {human_cpu(math.ceil(peak))} at the peak hour, {human_cpu(math.ceil(trough))} at the trough "
                f"({peak / trough:.0f}x); a static request of {human_cpu(request_m)} CPU leaves ~{idle:.1f} core-hours a day idle per pod. "
                f"An HPA on CPU, or a scheduled scaler (e.g. a KEDA cron trigger), would follow the cycle")

    @staticmethod
    def peak(recorded: float, fc: Forecast | NoForecast | None) -> tuple[int, str]:
        """The higher of the recorded peak and the forecast peak, and which one it is."""
        if isinstance(fc, Forecast) and fc.peak() > recorded:
            return math.ceil(fc.peak()), "forecast peak"
        return math.ceil(recorded), "peak"


def _hold(d: _Draft, hysteresis: Rule, step: int) -> None:
    """Keep the current value when the proposal is at most ``max_steps`` rounding steps from it (and
    within ``min_change_pct``). Only that close: a rule that held anything within 10% would stop a
    re-plan wherever the path first came within 10% (a step-down from 4Gi would stay at 2Gi where
    1.9Gi is wanted), so the value would depend on where the container started. Moves this small
    are the rounding's noise; larger ones go through, and re-planning from any start settles within
    one rounding step of the same value. Small moves between runs are the pull requests' threshold
    to filter (``min_monthly_delta_usd``)."""
    pct, steps = hysteresis.param("min_change_pct"), hysteresis.param("max_steps")
    assert d.value is not None and d.current is not None
    gap = abs(d.value - d.current)
    if 0 < gap <= steps * step and gap < d.current * pct / 100:
        proposed = d.value
        d.set(d.current, hysteresis, f"{d.human(proposed)} is within {steps:g} rounding step{'s' if steps != 1 else ''} "
                                     f"of {d.human(d.current)}; kept")


def _limit_protects(current_limit: int | None, rules: dict[str, Rule]) -> bool:
    """A ``memory-limit`` rule will set the limit above the recorded and forecast peak."""
    rule = rules.get("memory-limit")
    return rule is not None and (current_limit is not None or bool(rule.param("add_if_missing")))


def _at_least_request(limit: _Draft, request: int | None, rule: Rule | None) -> None:
    """Always: Kubernetes refuses a limit below the request. ``rule`` names it in the output."""
    if limit.value is not None and request is not None and limit.value < request:
        limit.set(request, rule, "raised to the request")


def _step(f: Field, value: int, rounding: Rule, memory_family: str) -> int:
    if f.resource is Resource.CPU:
        return int(rounding.param("cpu_step") if value < 1000 else rounding.param("cpu_step_above_core"))
    large = value >= rounding.param("memory_large_from")
    step = int(rounding.param("memory_step_large" if large else "memory_step"))
    if memory_family == "si":  # the file writes M/G: round to the same decimal steps
        if step % GI == 0:
            return step // GI * 10**9
        if step % MI == 0:
            return step // MI * 10**6
    return step


def _guaranteed(container: Container) -> bool:
    """Requests equal limits for CPU and memory: the pod is Guaranteed QoS."""
    values = {f: container.current(f) for f in FIELDS}
    return (
        None not in values.values()
        and values[Field.CPU_REQUEST] == values[Field.CPU_LIMIT]
        and values[Field.MEMORY_REQUEST] == values[Field.MEMORY_LIMIT]
    )


def _keep_guaranteed(drafts: dict[Field, _Draft], container: Container, rule: Rule) -> None:
    """Keep requests == limits: CPU at the sized request (whole cores if it had them, for the static
    CPU manager's exclusive cores), memory at the sized limit (it must stay above the peak)."""
    cpu = drafts[Field.CPU_REQUEST].value or 0
    current_cpu = container.current(Field.CPU_REQUEST) or 0
    if rule.param("whole_cores") and current_cpu % 1000 == 0:
        cpu = max(round_up(cpu, 1000), 1000)
    memory = max(drafts[Field.MEMORY_REQUEST].value or 0, drafts[Field.MEMORY_LIMIT].value or 0)
    for f, value, what in (
        (Field.CPU_REQUEST, cpu, "CPU"), (Field.CPU_LIMIT, cpu, "CPU"),
        (Field.MEMORY_REQUEST, memory, "memory"), (Field.MEMORY_LIMIT, memory, "memory"),
    ):
        d = drafts[f]
        if d.value != value:
            d.set(value, rule, f"Guaranteed QoS: {what} request = limit = {d.human(value)}")


def _hpa_note(workload: Workload, cpu_request: _Draft, rule: Rule | None) -> str | None:
    hpa = workload.hpa
    if rule is None or hpa is None or not hpa.cpu_utilization_pct:
        return None
    pct = hpa.cpu_utilization_pct
    if cpu_request.current is None or cpu_request.value is None or cpu_request.value == cpu_request.current:
        return f"HPA {hpa.name} scales at {pct}% of the CPU request"
    before = human_cpu(math.ceil(cpu_request.current * pct / 100))
    after = human_cpu(math.ceil(cpu_request.value * pct / 100))
    return f"HPA {hpa.name} scales out at {pct}% of the request: {before} per pod now, {after} after"


def _usage_line(p: UsageProfile) -> str:
    days = p.span_seconds / 86400
    span = f"{days:.0f}d" if days >= 1 else f"{p.span_seconds / 3600:.0f}h"
    joined = "" if p.joined_by == "owner" else ", pods matched by name"
    return f"{p.samples} samples over {span} from {p.pods} pod{'s' if p.pods != 1 else ''} ({p.coverage:.0%} coverage{joined})"


def _ceil(value: float) -> int:
    return int(math.ceil(round(value, 6)))
