"""The one place that wires the stages together.

    config + rules -> load (render targets) -> workloads -> usage profiles -> recommendations
    -> change set (verified edits) -> cost -> Plan  [-> write]

It reads no clock and no environment: everything arrives in the request.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

from gitbot.config import Config, load_config
from gitbot.edit.changeset import ChangeSet, plan_changes, write_changes
from gitbot.edit.overlay import OverlayPatcher
from gitbot.edit.verify import ClosedLoop
from gitbot.errors import InputError
from gitbot.load import LoadResult, load_repo
from gitbot.metrics.evaluated import OOM_LIMIT_LOOKBACK_SECONDS
from gitbot.metrics.openmetrics import Family, Series, families_of, write_file
from gitbot.metrics.prometheus import PrometheusOptions, PrometheusSource
from gitbot.metrics.snapshot import SnapshotSource
from gitbot.metrics.source import LOOKBACK_SECONDS, SNAPSHOT_INFO, MetricSource, UsageQuery
from gitbot.metrics.usage import Profiles, build_profiles
from gitbot.output.document import Plan, PlanEntry, UsageWindow, final_status, inventory_document, plan_document
from gitbot.pricing.catalog import CatalogError, load_catalog
from gitbot.pricing.estimate import estimate
from gitbot.strategies.percentile import PercentileStrategy, settings_from_config
from gitbot.strategies.rules import default_rules_dir, load_rules
from gitbot.workloads import WorkloadSet, build_workloads


@dataclass(frozen=True)
class PlanRequest:
    repo: Path
    config_file: Path | None = None
    metrics_file: Path | None = None
    prometheus: PrometheusOptions | None = None
    catalog: str | None = None
    at: float | None = None  # window end; None: the end of the snapshot, or `now` for a server
    now: float | None = None  # the CLI's clock, for a server's default window end
    history_seconds: int | None = None  # None: from the config (default 14d)
    step_seconds: int | None = None
    rules_dirs: tuple[Path, ...] = field(default_factory=tuple)
    write: bool = False
    progress: Callable[[str], None] | None = None  # progress lines for long fetches


@dataclass(frozen=True)
class _Inputs:
    config: Config
    loaded: LoadResult
    workloads: WorkloadSet


def _load(request: PlanRequest) -> _Inputs:
    config = load_config(request.repo, request.config_file)
    loaded = load_repo(request.repo, config)
    return _Inputs(config, loaded, build_workloads(loaded, config))


def inventory(request: PlanRequest) -> dict[str, object]:
    """The workloads and where each field is written; with a usage source, also what they use."""
    inputs = _load(request)
    source = _source(request)
    profiles = None
    warnings = inputs.workloads.warnings
    if source is not None:
        workloads = inputs.workloads.workloads
        data = source.fetch(_query(request, inputs.config, frozenset(w.id.namespace for w in workloads)))
        profiles = build_profiles(workloads, data)
        warnings += data.warnings
    return inventory_document(
        str(request.repo),
        inputs.config.source,
        inputs.workloads.workloads,
        inputs.loaded.skipped + inputs.workloads.skipped,
        warnings,
        profiles,
    )


def plan(request: PlanRequest) -> tuple[Plan, dict[str, object]]:
    """Run a plan; with ``request.write`` also apply its edits. Returns the Plan and its JSON document."""
    config = load_config(request.repo, request.config_file)
    rules_dirs = [default_rules_dir(), *(request.repo / d for d in config.rules_dirs), *request.rules_dirs]
    rules = load_rules(rules_dirs, config.disabled_rules)
    settings = settings_from_config(config.settings, config.source or ".gitbot.yaml")
    catalog_spec = request.catalog or config.catalog
    try:
        catalog = load_catalog(catalog_spec)
    except CatalogError as exc:
        raise InputError(f"catalog: {exc}") from None

    loaded = load_repo(request.repo, config)
    workload_set = build_workloads(loaded, config)
    workloads = workload_set.workloads

    source = _source(request)
    profiles: Profiles | None = None
    window: UsageWindow | None = None
    failed: dict[str, str] = {}
    if source is not None:
        query = _query(request, config, frozenset(w.id.namespace for w in workloads))
        data = source.fetch(query)
        failed = dict(data.failed_namespaces)
        profiles = build_profiles(workloads, data)
        window = UsageWindow(
            data.source, data.window_start, data.window_end, data.step_seconds, query.history_seconds, len(profiles.unmatched_pods)
        )

    strategy = PercentileStrategy(settings, rules, config.exemptions)
    recs = [
        strategy.recommend(w, c, profiles.get(w.id, c.name) if profiles else None, failed.get(w.id.namespace))
        for w in workloads
        for c in w.containers
    ]
    changes: ChangeSet = plan_changes(
        recs, loaded.files, ClosedLoop(request.repo, loaded, recs), OverlayPatcher(request.repo.resolve(), loaded.files, loaded.patches)
    )
    entries = []
    for rec in recs:
        status, reasons = final_status(rec, changes)
        entries.append(PlanEntry(rec, status, reasons, estimate(rec, catalog)))

    warnings = list(workload_set.warnings)
    if source is None:
        warnings.append("no usage source given (--metrics-file or --prometheus-url): nothing can be sized")
    elif profiles is not None:
        warnings.extend(profiles.data.warnings)
    if request.write and changes.files:
        write_changes(changes, request.repo)
    result = Plan(
        repository=str(request.repo),
        config=config.source,
        usage=window,
        catalog=catalog.name,
        rules=rules.ids(),
        entries=tuple(entries),
        changes=changes,
        skipped=loaded.skipped + workload_set.skipped,
        warnings=tuple(warnings),
        written=request.write and bool(changes.files),
    )
    return result, plan_document(result)


def _source(request: PlanRequest) -> MetricSource | None:
    if request.metrics_file is not None and request.prometheus is not None:
        raise InputError("give one usage source: --metrics-file or --prometheus-url, not both")
    if request.prometheus is not None:
        return PrometheusSource(request.prometheus, request.progress)
    return SnapshotSource(request.metrics_file) if request.metrics_file is not None else None


def _query(request: PlanRequest, config: Config, namespaces: frozenset[str] | None) -> UsageQuery:
    step = request.step_seconds or config.step_seconds
    end = request.at
    if end is None and request.prometheus is not None:
        if request.now is None:
            raise InputError("a Prometheus window needs an end: give --at")
        end = math.floor(request.now / step) * step  # the last complete step
    return UsageQuery(
        history_seconds=request.history_seconds or config.history_seconds,
        step_seconds=step,
        end=end,
        namespaces=namespaces,
    )


def snapshot(request: PlanRequest, output: Path) -> dict[str, object]:
    """Record from Prometheus exactly the raw series a plan of ``request.repo`` reads, as OpenMetrics.

    The file covers the plan's window plus the look-back its first steps need, and ends with a
    ``gitbot_snapshot_info`` sample at the window's end, so a plan from it uses the same window.
    """
    if request.prometheus is None:
        raise InputError("gitbot snapshot needs --prometheus-url")
    config = load_config(request.repo, request.config_file)
    workloads = build_workloads(load_repo(request.repo, config), config).workloads
    namespaces = frozenset(w.id.namespace for w in workloads)
    query = _query(request, config, namespaces)
    assert query.end is not None
    margin = max(query.rate_window_seconds, query.step_seconds, LOOKBACK_SECONDS, OOM_LIMIT_LOOKBACK_SECONDS)
    source = PrometheusSource(request.prometheus, request.progress)
    series = source.fetch_raw(namespaces, query.end - query.history_seconds - margin, query.end)
    info = Series(
        SNAPSHOT_INFO,
        (("history_seconds", str(query.history_seconds)), ("step_seconds", str(query.step_seconds))),
        np.array([query.end], dtype=float),
        np.array([1.0]),
    )
    families = [*families_of(series), Family(SNAPSHOT_INFO, "gauge", "the end of the window gitbot snapshot recorded", [info])]
    try:
        write_file(output, families)
    except OSError as exc:
        raise InputError(f"--output {output}: cannot write: {exc.strerror or exc}") from None
    return {
        "output": str(output),
        "source": source.describe(),
        "window_end": query.end,
        "history_seconds": query.history_seconds,
        "namespaces": sorted(namespaces),
        "series": sum(len(v) for v in series.values()),
        "samples": sum(int(s.values.size) for v in series.values() for s in v),
        "requests": source.client.requests,
    }
