"""The one place that wires the stages together.

    config + rules -> load (render targets) -> workloads -> usage profiles -> recommendations
    -> change set (verified edits) -> cost -> Plan  [-> write]
                                                   [-> per scope: proposal -> git branch -> pull request]

It reads no clock and no environment: everything arrives in the request.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from decimal import Decimal
from pathlib import Path
from typing import Callable, Mapping, Sequence

import numpy as np

from gitbot.backtest.run import STRATEGIES, Result as BacktestResult, backtest as run_backtest
from gitbot.backtest.chart import write_charts
from gitbot.backtest.forecast_error import ForecastError
from gitbot.backtest.trace import DEFAULT_PERCENT_CAPACITY, NotATrace, read_traces
from gitbot.config import Config, load_config
from gitbot.edit.changeset import ChangeSet, plan_changes, write_changes
from gitbot.edit.overlay import OverlayPatcher
from gitbot.edit.scheduling import PlacementOutcome, apply_placements
from gitbot.edit.verify import ClosedLoop
from gitbot.errors import InputError, PublishError
from gitbot.load import LoadResult, load_repo
from gitbot.load.cache import RenderCache
from gitbot.load.charts import ChartFetcher, Credentials, Mirrors
from gitbot.metrics.evaluated import OOM_LIMIT_LOOKBACK_SECONDS
from gitbot.metrics.openmetrics import Family, Series, families_of, write_file
from gitbot.metrics.prometheus import PrometheusOptions, PrometheusSource
from gitbot.metrics.snapshot import SnapshotSource
from gitbot.metrics.source import LOOKBACK_SECONDS, SNAPSHOT_INFO, MetricSource, UsageQuery
from gitbot.metrics.unmatched import unmatched_hints
from gitbot.metrics.usage import Profiles, build_profiles
from gitbot.output.document import Plan, PlanEntry, UsageWindow, final_status, inventory_document, plan_document
from gitbot.pricing.catalog import CatalogError, load_catalog
from gitbot.placement import Placement, for_workloads as placements_of
from gitbot.colocation import Colocation, suggest as colocations_of
from gitbot.pricing.estimate import estimate
from gitbot.publish.github import GitHubPulls
from gitbot.publish.gitrepo import GitRepository, Identity, remote_urls
from gitbot.publish import dashboard
from gitbot.publish.dashboard import DashboardOutcome
from gitbot.publish.pr import Outcome, preview as preview_outcomes, publish
from gitbot.publish.proposal import Proposal, build as build_proposal
from gitbot.publish.review import (
    SUMMARY_MARKER,
    CostLine,
    annotations,
    changed_file,
    costs_by_workload,
    findings,
    head_mismatch,
    own_pull,
    placeable,
    posted_keys,
    resources_changed,
    review_body,
    summary_body,
    touched_workloads,
)
from gitbot.publish.scope import Scope, Shard, ShardInfo, scope_of
from gitbot.strategies.base import Recommendation
from gitbot.strategies.percentile import PercentileStrategy, settings_from_config
from gitbot.strategies.rules import default_rules_dir, load_rules
from gitbot.model import WorkloadId
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
    shard: Shard | None = None  # plan only the scopes of this shard (the others still count as readers)
    render_cache: Path | None = None  # directory of earlier renders (gitbot.load.cache); None: render everything
    chart_cache: Path | None = None  # where pulled charts are kept (gitbot.load.charts); None: charts are not pulled
    offline: bool = False  # pull nothing: charts come from the chart cache or the repository
    helm_credentials: Credentials = field(default_factory=Credentials)  # chart-source logins (from the environment, in the CLI)
    scope: str | None = None  # how workloads group into scopes; None: the config's pull_requests.scope


@dataclass(frozen=True)
class _Inputs:
    config: Config
    loaded: LoadResult
    workloads: WorkloadSet


def _load(request: PlanRequest) -> _Inputs:
    config = load_config(request.repo, request.config_file)
    loaded = _load_repo(request, config)
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
        inputs.loaded.coverage,
    )


@dataclass(frozen=True)
class _Planned:
    """Everything a plan decided, before it is split (pull requests) or written."""

    config: Config
    loaded: LoadResult
    workload_set: WorkloadSet
    recs: tuple[Recommendation, ...]  # the workloads planned (this shard's)
    readers: tuple[Recommendation, ...]  # every container of the repository: the other shards' keep their values
    shard: ShardInfo | None
    entries_for: Callable[[ChangeSet, Sequence[Recommendation]], tuple[PlanEntry, ...]]
    placements_for: Callable[[Sequence[PlanEntry]], tuple[Placement, ...]]
    colocations: tuple[Colocation, ...]
    window: UsageWindow | None
    catalog: str
    rules: tuple[str, ...]
    warnings: tuple[str, ...]
    verify: ClosedLoop
    overlays: OverlayPatcher


def _plan(request: PlanRequest) -> _Planned:
    config = load_config(request.repo, request.config_file)
    rules_dirs = [default_rules_dir(), *(request.repo / d for d in config.rules_dirs), *request.rules_dirs]
    rules = load_rules(rules_dirs, config.disabled_rules)
    settings = settings_from_config(config.settings, config.source or ".gitbot.yaml")
    catalog_spec = request.catalog or config.catalog
    try:
        catalog = load_catalog(catalog_spec)
    except CatalogError as exc:
        raise InputError(f"catalog: {exc}") from None

    loaded = _load_repo(request, config)
    workload_set = build_workloads(loaded, config)
    everything = workload_set.workloads
    workloads = everything
    shard_info = None
    if request.shard is not None:
        mode = request.scope or config.pull_requests.scope
        workloads = tuple(w for w in everything if request.shard.holds(scope_of(w, mode)))
        shard_info = ShardInfo(request.shard, mode, len(workloads), len(everything))

    source = _source(request)
    profiles: Profiles | None = None
    window: UsageWindow | None = None
    failed: dict[str, str] = {}
    colocations: tuple[Colocation, ...] = ()
    if source is not None:
        query = _query(request, config, frozenset(w.id.namespace for w in workloads))
        data = source.fetch(query)
        failed = dict(data.failed_namespaces)
        profiles = build_profiles(workloads, data, everything)
        unmatched = unmatched_hints(profiles.unmatched, (w.id for w in everything))
        window = UsageWindow(
            data.source, data.window_start, data.window_end, data.step_seconds, query.history_seconds, unmatched.pods,
            unmatched.namespaces, unmatched.hints,
        )
        colocations = colocations_of(workloads, profiles, data.window_end - data.window_start, catalog.zone_transfer)

    strategy = PercentileStrategy(settings, rules, config.exemptions)
    recs = tuple(strategy.recommend_many([
        (w, c, profiles.get(w.id, c.name) if profiles else None, failed.get(w.id.namespace)) for w in workloads for c in w.containers
    ]))
    mine = {w.id for w in workloads}
    others = tuple(strategy.recommend(w, c, None, "in another shard") for w in everything if w.id not in mine for c in w.containers)

    def entries_for(changes: ChangeSet, subset: Sequence[Recommendation]) -> tuple[PlanEntry, ...]:
        out = []
        for rec in subset:
            status, reasons = final_status(rec, changes)
            out.append(PlanEntry(rec, status, reasons, estimate(rec, catalog)))
        return tuple(out)

    def placements_for(entries: Sequence[PlanEntry]) -> tuple[Placement, ...]:
        return placements_of([(e.rec, e.cost) for e in entries], catalog, config.placement_affinity)

    warnings = list(workload_set.warnings)
    if source is None:
        warnings.append("no usage source given (--metrics-file or --prometheus-url): nothing can be sized")
    elif profiles is not None:
        warnings.extend(profiles.data.warnings)
    return _Planned(
        config, loaded, workload_set, recs, recs + others, shard_info, entries_for, placements_for, colocations, window, catalog.name,
        rules.ids(), tuple(warnings), ClosedLoop(request.repo, loaded, recs + others),
        OverlayPatcher(request.repo.resolve(), loaded.files, loaded.patches),
    )


@dataclass(frozen=True)
class _Placed:
    changes: ChangeSet  # the resource edits, plus the scheduling blocks with ``placement: edit``
    entries: tuple[PlanEntry, ...]
    placements: tuple[Placement, ...]
    outcomes: Mapping[str, PlacementOutcome]  # by workload id; empty unless ``placement: edit``


def _placed(planned: _Planned, changes: ChangeSet, subset: Sequence[Recommendation]) -> _Placed:
    entries = planned.entries_for(changes, subset)
    placements = planned.placements_for(entries)
    if planned.config.placement != "edit" or not placements:
        return _Placed(changes, entries, placements, {})
    loaded = planned.loaded
    changes, outcomes = apply_placements(changes, placements, loaded.files, loaded.objects, planned.workload_set.workloads)
    return _Placed(changes, entries, placements, outcomes)


def _result(request: PlanRequest, planned: _Planned, placed: _Placed, subset: Sequence[Recommendation], written: bool) -> Plan:
    return Plan(
        repository=str(request.repo),
        config=planned.config.source,
        usage=planned.window,
        catalog=planned.catalog,
        rules=planned.rules,
        entries=placed.entries,
        placements=placed.placements,
        placement_outcomes=placed.outcomes,
        shard=planned.shard,
        colocations=_touching(planned.colocations, {rec.workload.id for rec in subset}),
        changes=placed.changes,
        skipped=planned.loaded.skipped + planned.workload_set.skipped,
        warnings=planned.warnings,
        written=written,
        coverage=planned.loaded.coverage,
    )


def _touching(colocations: tuple[Colocation, ...], ids: set[WorkloadId]) -> tuple[Colocation, ...]:
    """The pairs with a workload among ``ids`` (a pull request's scope)."""
    return tuple(c for c in colocations if c.source.id in ids or c.destination.id in ids)


def plan(request: PlanRequest) -> tuple[Plan, dict[str, object]]:
    """Run a plan; with ``request.write`` also apply its edits. Returns the Plan and its JSON document."""
    planned = _plan(request)
    changes = plan_changes(planned.recs, planned.loaded.files, planned.verify, planned.overlays, readers_of=planned.readers)
    placed = _placed(planned, changes, planned.recs)
    if request.write and placed.changes.files:
        write_changes(placed.changes, request.repo)
    result = _result(request, planned, placed, planned.recs, request.write and bool(placed.changes.files))
    return result, plan_document(result)


def scoped_plans(request: PlanRequest, mode: str | None = None) -> tuple[Config, list[tuple[Scope, Plan]]]:
    """One plan per pull-request scope (``gitbot.publish.scope``; ``mode`` None: the config's), each
    with its own verified edits. The other scopes' containers still count as readers of shared
    locations, so an edit that would move another scope's value goes into an overlay patch or
    stays comment-only."""
    planned = _plan(replace(request, scope=mode or request.scope))
    groups: dict[Scope, list[Recommendation]] = {}
    for rec in planned.recs:
        groups.setdefault(scope_of(rec.workload, mode or planned.config.pull_requests.scope), []).append(rec)
    out = []
    for scope, subset in sorted(groups.items(), key=lambda kv: kv[0].slug):
        changes = plan_changes(subset, planned.loaded.files, planned.verify, planned.overlays, readers_of=planned.readers)
        out.append((scope, _result(request, planned, _placed(planned, changes, subset), subset, False)))
    return planned.config, out


def _load_repo(request: PlanRequest, config: Config) -> LoadResult:
    """Render the repository, pulling the charts it names from elsewhere into the chart cache."""
    fetcher = None
    if request.chart_cache is not None:
        fetcher = ChartFetcher(request.chart_cache, Mirrors.of(config.helm_mirrors), request.helm_credentials, request.offline)
    try:
        return load_repo(request.repo, config, _cache(request), fetcher, (*config.repository_urls, *remote_urls(request.repo)))
    finally:
        if fetcher is not None:
            fetcher.close()


def _cache(request: PlanRequest) -> RenderCache | None:
    return RenderCache(request.render_cache) if request.render_cache is not None else None


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
    workloads = build_workloads(_load_repo(request, config), config).workloads
    namespaces = frozenset(w.id.namespace for w in workloads)
    query = _query(request, config, namespaces)
    assert query.end is not None
    margin = max(query.rate_window_seconds, query.step_seconds, LOOKBACK_SECONDS, OOM_LIMIT_LOOKBACK_SECONDS)
    source = PrometheusSource(request.prometheus, request.progress)
    series = source.fetch_raw(namespaces, query.end - query.history_seconds - margin, query.end, query.end - query.history_seconds)
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


@dataclass(frozen=True)
class PullRequestRun:
    """What ``gitbot pr`` needs beyond a plan."""

    scope: str | None = None  # None: the config's pull_requests.scope
    base: str | None = None  # None: the config's, else the repository's default branch
    remote: str = "origin"
    repository: str | None = None  # owner/name on GitHub
    api_url: str = "https://api.github.com"
    token: str | None = None
    dry_run: bool = False
    allow_dirty: bool = False
    throttle: bool = True  # PyGithub's pauses between requests (off in tests)
    max_wait_seconds: float = 120.0  # longest wait for a GitHub rate limit to reset before giving up
    secrets: tuple[str, ...] = ()  # the run's other credentials, kept out of everything sent to GitHub


def proposals(request: PlanRequest, run: PullRequestRun) -> tuple[Config, list[Proposal]]:
    """One proposal per scope that has containers, in slug order (empty ones close stale PRs)."""
    config, plans = scoped_plans(request, run.scope)
    return config, [build_proposal(scope, plan_document(result), result.changes) for scope, result in plans]


@dataclass(frozen=True)
class PullRequestResult:
    proposals: list[Proposal]
    outcomes: list[Outcome]  # one per proposal, in its order; none in a dry run
    dashboard: DashboardOutcome | None  # None: pull_requests.dashboard is false
    planned: list[Outcome] = field(default_factory=list)  # a dry run: what it would do, as far as it can tell without GitHub

    @property
    def failed(self) -> list[str]:
        """What could not be published (scope slugs, and "dashboard"): the run is partial."""
        return [o.scope for o in self.outcomes if o.action == "failed"] + (
            ["dashboard"] if self.dashboard is not None and self.dashboard.action == "failed" else [])


def pull_requests(request: PlanRequest, run: PullRequestRun) -> PullRequestResult:
    """Plan, split by scope, read the dashboard's boxes, open / refresh / close gitbot's pull
    requests and rewrite the dashboard (with dry_run: only say what the dashboard would show).

    A failure to read or write the dashboard is its outcome, not the run's: the pull requests go on
    (without the boxes' asks when it could not be read)."""
    git = None
    if not run.dry_run:
        if not run.repository:
            raise InputError("gitbot pr needs the GitHub repository: --repo owner/name (or GITHUB_REPOSITORY)")
        if not run.token:
            raise InputError("gitbot pr needs a token in GITBOT_GITHUB_TOKEN or GITHUB_TOKEN (or use --dry-run)")
        config = load_config(request.repo, request.config_file)
        git = GitRepository(request.repo, run.remote, Identity(config.pull_requests.author_name, config.pull_requests.author_email),
                            token=run.token)
        if not run.allow_dirty:
            git.check_clean()
    config, found = proposals(request, run)
    options = config.pull_requests
    if run.dry_run or git is None:
        planned = preview_outcomes(found, options)
        preview = dashboard.preview(found, planned, options) if options.dashboard else None
        return PullRequestResult(found, [], preview, planned)
    assert run.repository is not None and run.token is not None
    host = GitHubPulls(run.repository, run.token, run.api_url, max_wait=run.max_wait_seconds, throttle=run.throttle, secrets=run.secrets)
    base = run.base or options.base or host.default_branch()
    git.fetch(base)  # git first: no pull request without its branch
    host.check_access()  # then bad credentials stop the run before any scope is tried
    board, unreadable = dashboard.Board(None), None
    if options.dashboard:
        try:
            board = dashboard.load(host)
        except PublishError as exc:
            unreadable = str(exc)
    decision = dashboard.decide(board, found, options.reopen_threshold_pct)
    outcomes = publish(found, git, host, base, options, decision.asks)
    if not options.dashboard:
        return PullRequestResult(found, outcomes, None)
    if unreadable is not None:
        return PullRequestResult(found, outcomes, dashboard.DashboardOutcome("failed", None, None, unreadable, ""))
    shard = request.shard
    owns: Callable[[str], bool] = (lambda slug: True) if shard is None else (lambda slug: shard.holds(Scope(slug, slug)))
    try:
        written = dashboard.sync(host, board, decision, found, outcomes, options, owns)
    except PublishError as exc:
        written = dashboard.DashboardOutcome("failed", board.issue.number if board.issue else None,
                                             board.issue.url if board.issue else None, str(exc), "")
    return PullRequestResult(found, outcomes, written)


@dataclass(frozen=True)
class ReviewOutcome:
    number: int
    comments: int  # review comments posted now
    in_summary: int  # findings that went to the summary instead
    summary: str  # "created" | "updated" | "" (not posted)
    annotations: tuple[str, ...]  # workflow commands, when gitbot cannot write to the pull request
    findings: int
    summary_body: str
    delta_usd: Decimal  # monthly cost of gitbot's suggestions minus the pull request as written
    skipped: str = ""  # why the pull request was not reviewed at all (gitbot's own)


def review(request: PlanRequest, run: PullRequestRun, number: int) -> ReviewOutcome:
    """Review pull request ``number``: the plan of the checkout (the pull request's head commit),
    compared line by line with what it adds, posted as one review on that commit plus one summary
    comment when there is something to say."""
    if not run.repository or not run.token:
        raise InputError("gitbot review needs --repo owner/name (or GITHUB_REPOSITORY) and a token in GITBOT_GITHUB_TOKEN or GITHUB_TOKEN")
    host = GitHubPulls(run.repository, run.token, run.api_url, max_wait=run.max_wait_seconds, throttle=run.throttle, secrets=run.secrets)
    pull = host.details(number)
    if own_pull(pull.head_ref, pull.body, pull.from_fork):
        return ReviewOutcome(number, 0, 0, "", (), 0, "", Decimal(0), skipped=f"gitbot's own pull request ({pull.head_ref}); not reviewed")
    git = GitRepository(request.repo, run.remote, token=run.token)
    _check_head(git, pull.head_sha, number, pull.base_ref)
    result, document = plan(request)
    prefix = "" if git.prefix == "." else f"{git.prefix}/"
    files = [changed_file(path, patch) for path, patch in pull.files]
    found = findings(document, result.changes, files, prefix, _head_files(git, pull.head_sha))
    touched = touched_workloads(document, files, prefix)
    before = None
    changed: set[str] = set()
    if touched:  # "before": the base branch as it is now (what the pull request would merge into)
        git.fetch(pull.base_ref)
        with git.checkout_of(f"{run.remote}/{pull.base_ref}") as base_tree:
            _, base_document = plan(replace(request, repo=base_tree, write=False))
        before = costs_by_workload(base_document)
        changed = resources_changed(document, base_document, touched)
    written, suggested = costs_by_workload(document), costs_by_workload(document, after=True)
    costs = [CostLine(w, before.get(w) if before is not None else None, written[w], suggested[w]) for w in sorted(touched)]
    delta = sum((c.suggested - c.written for c in costs), Decimal(0))

    if pull.from_fork:
        body = summary_body(costs, found, len(found), pull.head_sha)
        return ReviewOutcome(number, 0, len(found), "", tuple(annotations(found)), len(found), body, delta)
    try:
        previous = posted_keys(host.review_bodies(number)) if found else set()
        inline, elsewhere = placeable(found, files, previous)
        body = summary_body(costs, elsewhere, len(found), pull.head_sha)
        if inline:
            host.create_review(number, review_body(inline, previous), [f.comment() for f in inline], commit_id=pull.head_sha)
        # nothing to say (no resources changed, no finding): only an earlier summary is brought up to date
        state = host.upsert_comment(number, SUMMARY_MARKER, body, create=bool(changed or found))
    except PublishError as exc:
        if " 403 " not in str(exc):
            raise
        body = summary_body(costs, found, len(found), pull.head_sha)  # a read-only token: annotate instead
        return ReviewOutcome(number, 0, len(found), "", tuple(annotations(found)), len(found), body, delta)
    return ReviewOutcome(number, len(inline), len(elsewhere), state, (), len(found), body, delta)


def _check_head(git: GitRepository, head: str, number: int, base_ref: str) -> None:
    """The checkout must be the pull request's head commit (InputError, exit 2, naming both)."""
    try:
        commit = git.repo.head.commit
        at, parents = commit.hexsha, [p.hexsha for p in commit.parents]
    except ValueError:  # no commit yet
        at, parents = None, []
    wrong = head_mismatch(str(git.root), at, parents, number, head, base_ref)
    if wrong is not None:
        raise InputError(wrong)


def _head_files(git: GitRepository, head: str) -> Callable[[str], str | None]:
    """A file of the head commit by its repository path (None: not there, or not UTF-8 text):
    what a suggestion is committed on."""
    tree = git.repo.commit(head).tree

    def read(path: str) -> str | None:
        try:
            return bytes(tree[path].data_stream.read()).decode("utf-8")
        except (KeyError, UnicodeDecodeError):
            return None

    return read


@dataclass(frozen=True)
class BacktestRequest:
    traces: tuple[Path, ...]
    strategies: tuple[str, ...] = STRATEGIES
    train_fraction: float = 2 / 3
    tier: str = "production"
    config_file: Path | None = None  # settings and rules for the gitbot strategy
    repo: Path = Path(".")
    catalog: str | None = None
    memory_capacity: int = DEFAULT_PERCENT_CAPACITY  # what 100 % means in traces that give memory in percent
    refit_seconds: int | None = None  # rolling re-fits: fit again at this interval over the scored part
    charts: Path | None = None  # write one PNG per trace into this directory


@dataclass(frozen=True)
class BacktestRun:
    results: list[BacktestResult]
    forecast_errors: list[ForecastError]
    skipped: tuple[str, ...]  # one line per file that holds no usage over time
    charts: tuple[Path, ...] = ()


def backtest(request: BacktestRequest) -> BacktestRun:
    """Score each strategy on each trace after training on its first part. Files that are not usage
    traces (pod lists, summaries) are skipped with a line saying what they are."""
    config = load_config(request.repo, request.config_file)
    rules = load_rules([default_rules_dir(), *(request.repo / d for d in config.rules_dirs)], config.disabled_rules)
    strategy = PercentileStrategy(settings_from_config(config.settings, config.source or ".gitbot.yaml"), rules, ())
    try:
        rates = load_catalog(request.catalog or config.catalog).rates(None, None, None)
    except CatalogError as exc:
        raise InputError(f"catalog: {exc}") from None
    traces, skipped = [], []
    for path in request.traces:
        try:
            traces.extend(read_traces(path, request.memory_capacity))
        except NotATrace as exc:
            skipped.append(str(exc))
    if not traces:
        raise InputError("no usage traces among the files: " + "; ".join(skipped))
    done = run_backtest(traces, request.strategies, strategy, rates, request.train_fraction, request.tier, request.refit_seconds)
    charts = tuple(write_charts(traces, done.results, request.charts)) if request.charts else ()
    return BacktestRun(done.results, done.forecast_errors, tuple(skipped), charts)
