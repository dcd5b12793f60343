"""The one place that wires the stages together.

    config + rules -> load (render targets) -> workloads -> usage profiles -> recommendations
    -> change set (verified edits) -> cost -> Plan  [-> write]

It reads no clock and no environment: everything arrives in the request.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from gitbot.config import Config, load_config
from gitbot.edit.changeset import ChangeSet, plan_changes, write_changes
from gitbot.errors import InputError
from gitbot.load import LoadResult, load_repo
from gitbot.metrics.snapshot import SnapshotSource
from gitbot.metrics.source import MetricSource, UsageQuery
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
    catalog: str | None = None
    at: float | None = None  # window end; None: the end of the snapshot
    history_seconds: int | None = None  # None: from the config (default 14d)
    step_seconds: int | None = None
    rules_dirs: tuple[Path, ...] = field(default_factory=tuple)
    write: bool = False


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
    inputs = _load(request)
    return inventory_document(
        str(request.repo),
        inputs.config.source,
        inputs.workloads.workloads,
        inputs.loaded.skipped + inputs.workloads.skipped,
        inputs.workloads.warnings,
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

    source: MetricSource | None = SnapshotSource(request.metrics_file) if request.metrics_file else None
    profiles: Profiles | None = None
    window: UsageWindow | None = None
    if source is not None:
        query = UsageQuery(
            history_seconds=request.history_seconds or config.history_seconds,
            step_seconds=request.step_seconds or config.step_seconds,
            end=request.at,
            namespaces=frozenset(w.id.namespace for w in workloads),
        )
        data = source.fetch(query)
        profiles = build_profiles(workloads, data)
        window = UsageWindow(
            data.source, data.window_start, data.window_end, data.step_seconds, query.history_seconds, len(profiles.unmatched_pods)
        )

    strategy = PercentileStrategy(settings, rules, config.exemptions)
    recs = [
        strategy.recommend(w, c, profiles.get(w.id, c.name) if profiles else None)
        for w in workloads
        for c in w.containers
    ]
    changes: ChangeSet = plan_changes(recs, loaded.files)
    entries = []
    for rec in recs:
        status, reasons = final_status(rec, changes)
        entries.append(PlanEntry(rec, status, reasons, estimate(rec, catalog)))

    warnings = list(workload_set.warnings)
    if source is None:
        warnings.append("no usage source given (--metrics-file): nothing can be sized")
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
