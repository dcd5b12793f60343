"""Command line: parse options, call the pipeline, render, map errors to exit codes.

Exit codes: 0 ok; 1 proposals found and --fail-on-changes given; 2 usage or input error;
3 internal error; 4 usage source unavailable; 5 git or GitHub refused; 6 partial: some render
targets failed (without --allow-partial), or some scopes' pull requests (or the dashboard issue) could
not be published while the rest was done. Every option can also come from a GITBOT_* environment variable.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
import json
import os
import sys
import tempfile
import time
import traceback
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence, TypeVar

import click

from gitbot import __version__
from gitbot.config import parse_duration
from gitbot.errors import EXIT_CHANGES, EXIT_INTERNAL, EXIT_OK, EXIT_PARTIAL, GitbotError, InputError, PublishError
from gitbot.load.charts import Credentials
from gitbot.publish.dashboard import TITLE as DASHBOARD_TITLE, DashboardOutcome
from gitbot.publish.pr import Outcome

PUBLISHED = ("created", "updated", "unchanged", "closed")  # outcomes where GitHub took what gitbot sent
from gitbot.publish.proposal import Proposal
from gitbot.publish.scope import SCOPES, Shard, parse_shard
from gitbot.metrics.prometheus import PrometheusOptions
from gitbot.output.render import FORMATS, coverage_line, human_value, render
from gitbot.pricing.cost import format_usd, usd
from gitbot.quantity import QuantityError, parse_memory_bytes
from gitbot.redact import Redactor, redacted_logging
from gitbot.backtest.run import STRATEGIES, checks as backtest_checks, oracle_ratios, summaries as backtest_summaries
from gitbot.pipeline import (
    BacktestRequest,
    PlanRequest,
    PullRequestRun,
    inventory as run_inventory,
    plan as run_plan,
    pull_requests as run_pull_requests,
    review as run_review,
    snapshot as run_snapshot,
    backtest as run_backtest,
)

F = TypeVar("F", bound=Callable[..., Any])

EPILOG_PLAN = """\b
Examples:
  gitbot plan fixtures/demo-repo --metrics-file fixtures/demo-metrics.om.gz
  gitbot plan . --prometheus-url https://prometheus.example.com --history 14d
  GITBOT_PROMETHEUS_TOKEN=... gitbot plan . --prometheus-url https://thanos-query:10902
  gitbot plan . --metrics-file snapshot.om.gz --format diff
  gitbot plan . --metrics-file snapshot.om.gz --write
  gitbot plan . --metrics-file snapshot.om.gz --format json --output plan.json
  GITBOT_METRICS_FILE=snapshot.om.gz gitbot plan . --fail-on-changes
"""

EPILOG_SNAPSHOT = """\b
Examples:
  gitbot snapshot . --prometheus-url http://127.0.0.1:9090 --output usage.om.gz
  gitbot plan . --metrics-file usage.om.gz        # replays the same window, offline
  promtool tsdb create-blocks-from openmetrics usage.om data/   # after gunzip
"""

EPILOG_PR = """\b
Examples:
  gitbot pr . --metrics-file usage.om.gz --dry-run          # print every PR, no network, no git
  GITBOT_GITHUB_TOKEN=... gitbot pr . --prometheus-url https://prometheus.example.com --repo acme/gitops
  gitbot pr . --metrics-file usage.om.gz --scope environment --base main --repo acme/gitops
"""

EPILOG_REVIEW = """\b
Examples (in a pull_request workflow, GITHUB_REPOSITORY and the token come from Actions):
  gitbot review . --pr 42 --metrics-file usage/latest.om.gz
  GITBOT_GITHUB_TOKEN=... gitbot review . --pr 42 --prometheus-url https://prometheus.example.com --repo acme/gitops
"""

EPILOG_INVENTORY = """\b
Examples:
  gitbot inventory fixtures/demo-repo
  gitbot inventory . --format json --output inventory.json
  gitbot inventory . --metrics-file usage.om.gz --format json   # with observed usage per container
"""


def _redactor() -> Redactor:
    """This command's redactor: the environment's secrets, plus any the options add."""
    ctx = click.get_current_context(silent=True)
    if ctx is None:
        return Redactor.from_environment()
    root = ctx.find_root()
    if "gitbot.redactor" not in root.meta:
        redactor = Redactor.from_environment()
        root.meta["gitbot.redactor"] = redactor
        root.call_on_close(redacted_logging(redactor, sys.stderr))
    return root.meta["gitbot.redactor"]


def _echo(message: str = "", err: bool = False, nl: bool = True) -> None:
    """``click.echo`` with every credential this run knows (or can recognise) masked."""
    click.echo(_redactor()(message), err=err, nl=nl)


def _path_argument(f: F) -> F:
    return click.argument(
        "path", type=click.Path(exists=True, file_okay=False, path_type=Path), default=".", envvar="GITBOT_PATH"
    )(f)


def _option(*names: str, envvar: str, **kwargs: Any) -> Callable[[F], F]:
    return click.option(*names, envvar=envvar, show_envvar=True, **kwargs)


metrics_file_option = _option(
    "--metrics-file", envvar="GITBOT_METRICS_FILE", metavar="FILE",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Usage snapshot: OpenMetrics text of cAdvisor + kube-state-metrics series (.gz allowed).",
)
catalog_option = _option(
    "--catalog", envvar="GITBOT_CATALOG", metavar="NAME|FILE",
    help="Instance price catalog: auto (default), aws, gcp, azure, aws:us-east-1 ..., or a CSV file.",
)
config_option = _option(
    "--config", "config_file", envvar="GITBOT_CONFIG", metavar="FILE",
    type=click.Path(dir_okay=False, path_type=Path), help="Config file (default: PATH/.gitbot.yaml).",
)
format_option = _option(
    "--format", "fmt", envvar="GITBOT_FORMAT", type=click.Choice(FORMATS), default=None,
    help="Output format (default: table on a terminal, json otherwise).",
)
plan_format_option = click.option(
    "--format", "fmt", envvar=["GITBOT_PLAN_FORMAT", "GITBOT_FORMAT"], show_envvar=True, type=click.Choice(FORMATS), default=None,
    help="Output format (default: table on a terminal, json otherwise). GITBOT_PLAN_FORMAT is read by plan only "
         "(the Action sets it to table).",
)
json_output_option = _option(
    "--json-output", envvar="GITBOT_JSON_OUTPUT", metavar="FILE", type=click.Path(dir_okay=False, path_type=Path),
    help="Also write the JSON document to FILE, whatever --format is (in GitHub Actions, the step output plan-json names it).",
)
output_option = _option(
    "--output", envvar="GITBOT_OUTPUT", metavar="FILE", type=click.Path(dir_okay=False, path_type=Path),
    help="Write the output to FILE instead of stdout.",
)
write_option = _option(
    "--write", envvar="GITBOT_WRITE", is_flag=True, help="Apply the edits to the working tree (default: dry run)."
)
fail_option = _option(
    "--fail-on-changes", envvar="GITBOT_FAIL_ON_CHANGES", is_flag=True, help="Exit 1 when there are proposals."
)
at_option = _option(
    "--at", envvar="GITBOT_AT", metavar="TIME",
    help="End of the usage window: ISO 8601 or unix seconds (default: the end of the snapshot).",
)
history_option = _option(
    "--history", envvar="GITBOT_HISTORY", metavar="DURATION", help="Usage window length, e.g. 14d, 36h (default: config, else 14d)."
)
step_option = _option(
    "--step", envvar="GITBOT_STEP", metavar="DURATION", help="Sample resolution, e.g. 5m (default: config, else 5m)."
)


class ShardParam(click.ParamType):
    """``I/N``: this runner's part of the repository's scopes."""

    name = "I/N"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Shard:
        if isinstance(value, Shard):
            return value
        try:
            return parse_shard(str(value))
        except ValueError as exc:
            self.fail(str(exc).removeprefix("--shard: "), param, ctx)


shard_option = _option(
    "--shard", envvar="GITBOT_SHARD", type=ShardParam(), default=None,
    help="Plan only part I of N of the repository's scopes (hashed by name; a scope is never split), "
         "e.g. one runner per shard in a CI matrix. The other scopes' values still count as readers of shared files.",
)


class MemoryQuantity(click.ParamType):
    """A Kubernetes memory quantity (``16Gi``), as bytes."""

    name = "quantity"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> int:
        if isinstance(value, int):
            return value
        try:
            return parse_memory_bytes(str(value))
        except QuantityError as exc:
            self.fail(str(exc), param, ctx)


class _LinesOption(click.Option):
    """A repeatable option whose environment variable holds one value per line."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.envvar_list_splitter = "\n"


def prometheus_options(f: F) -> F:
    """--prometheus-url and its connection options, shared by every command that reads usage."""
    options = [
        _option("--prometheus-url", envvar="GITBOT_PROMETHEUS_URL", metavar="URL",
                help="Prometheus-compatible API (Prometheus, Thanos, Mimir, VictoriaMetrics). "
                     "A bearer token is read from GITBOT_PROMETHEUS_TOKEN, never from the command line."),
        click.option("--prometheus-header", "prometheus_headers", cls=_LinesOption, multiple=True, metavar="'NAME: VALUE'",
                     envvar="GITBOT_PROMETHEUS_HEADERS", show_envvar=True,
                     help="Extra HTTP header, repeatable (env: one per line), e.g. 'X-Scope-OrgID: team-a' for Mimir."),
        _option("--prometheus-user", envvar="GITBOT_PROMETHEUS_USER", metavar="USER",
                help="Basic auth user; the password is read from GITBOT_PROMETHEUS_PASSWORD."),
        _option("--ca-bundle", envvar="GITBOT_CA_BUNDLE", type=click.Path(exists=True, dir_okay=False, path_type=Path),
                metavar="FILE", help="CA certificates to verify the server with."),
        _option("--insecure", envvar="GITBOT_INSECURE", is_flag=True, help="Do not verify the server's TLS certificate."),
        _option("--timeout", envvar="GITBOT_TIMEOUT", type=click.FloatRange(min=1), default=60.0, show_default=True,
                metavar="SECONDS", help="Per-request timeout."),
        _option("--retries", envvar="GITBOT_RETRIES", type=click.IntRange(min=0, max=20), default=3, show_default=True,
                help="Retries on connection errors and 429/502/503/504, with exponential backoff."),
        history_option,
        step_option,
        _option("-q", "--quiet", envvar="GITBOT_QUIET", is_flag=True, help="No progress display on stderr."),
        _option("--render-cache", envvar="GITBOT_RENDER_CACHE", metavar="DIR|off",
                help="Where rendered Kustomize roots and Helm releases are kept, keyed by the content of everything they "
                     "read (default: $XDG_CACHE_HOME/gitbot/renders, else ~/.cache/gitbot/renders); off: render everything."),
        _option("--chart-cache", envvar="GITBOT_CHART_CACHE", metavar="DIR", type=click.Path(file_okay=False, path_type=Path),
                help="Where charts pulled from Helm repositories and OCI registries are kept, by content digest "
                     "(default: $XDG_CACHE_HOME/gitbot/charts, else ~/.cache/gitbot/charts). Logins come from "
                     "GITBOT_HELM_USERNAME/GITBOT_HELM_PASSWORD (or their _<HOST> forms) and the docker config."),
        _option("--offline", envvar="GITBOT_OFFLINE", is_flag=True,
                help="Pull no charts: use the chart cache and the charts in the repository, and name each chart missing."),
    ]

    @functools.wraps(f)
    def collapse(*args: Any, prometheus_url: str | None, prometheus_headers: tuple[str, ...], prometheus_user: str | None,
                 ca_bundle: Path | None, insecure: bool, timeout: float, retries: int, history: str | None,
                 step: str | None, quiet: bool, render_cache: str | None, chart_cache: Path | None, offline: bool,
                 **kwargs: Any) -> Any:
        kwargs["usage"] = UsageOptions(
            prometheus=_prometheus(prometheus_url, prometheus_headers, prometheus_user, ca_bundle, insecure, timeout, retries),
            history_seconds=_duration(history, "--history"),
            step_seconds=_duration(step, "--step"),
            progress=_progress(quiet),
            quiet=quiet,
            render_cache=_render_cache(render_cache),
            chart_cache=chart_cache.expanduser() if chart_cache is not None else _cache_home() / "charts",
            offline=offline,
        )
        return f(*args, **kwargs)

    wrapped: Any = collapse
    for option in reversed(options):
        wrapped = option(wrapped)
    return wrapped  # type: ignore[no-any-return]


@dataclass(frozen=True)
class UsageOptions:
    """The usage-source options of a command, parsed."""

    prometheus: PrometheusOptions | None
    history_seconds: int | None
    step_seconds: int | None
    progress: Callable[[str], None] | None
    quiet: bool
    render_cache: Path | None = None
    chart_cache: Path | None = None
    offline: bool = False


def _render_cache(value: str | None) -> Path | None:
    if value is not None and value.strip().lower() == "off":
        return None
    if value:
        return Path(value).expanduser()
    return _cache_home() / "renders"


def _cache_home() -> Path:
    return Path(os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")) / "gitbot"


def _prometheus(url: str | None, headers: tuple[str, ...], user: str | None, ca_bundle: Path | None, insecure: bool,
                timeout: float, retries: int) -> PrometheusOptions | None:
    if not url:
        return None
    if not url.startswith(("http://", "https://")):
        raise click.BadParameter(f"{url!r} is not an http(s) URL", param_hint="--prometheus-url")
    parsed: dict[str, str] = {}
    for header in headers:
        name, sep, value = header.partition(":")
        if not sep or not name.strip():
            raise click.BadParameter("expected 'NAME: VALUE'", param_hint="--prometheus-header")
        parsed[name.strip()] = value.strip()
    password = os.environ.get("GITBOT_PROMETHEUS_PASSWORD")
    if user and password is None:
        raise click.BadParameter("set GITBOT_PROMETHEUS_PASSWORD for --prometheus-user", param_hint="--prometheus-user")
    _redactor().add_headers(parsed)
    _redactor().add([password])
    return PrometheusOptions(
        url=url,
        headers=parsed,
        token=os.environ.get("GITBOT_PROMETHEUS_TOKEN") or None,
        basic_auth=(user, password or "") if user else None,
        ca_bundle=ca_bundle,
        insecure=insecure,
        timeout_seconds=timeout,
        retries=retries,
    )


def _duration(text: str | None, option: str) -> int | None:
    if text is None:
        return None
    try:
        return parse_duration(text)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint=option) from None


def _progress(quiet: bool) -> Callable[[str], None] | None:
    """Progress lines on stderr, overwriting each other, only on a terminal."""
    if quiet or not sys.stderr.isatty():
        return None

    def show(message: str) -> None:
        _echo(f"\r\033[K{message}", err=True, nl=False)

    return show


def _done(progress: Callable[[str], None] | None) -> None:
    if progress is not None:
        _echo("\r\033[K", err=True, nl=False)


partial_option = _option(
    "--allow-partial", envvar="GITBOT_ALLOW_PARTIAL", is_flag=True,
    help="Exit 0 even when some render targets failed (they are listed either way, and nothing of theirs is edited). "
         "Not for scopes GitHub refused in `pr`: those still exit 6.",
)

verbose_option = _option("-v", "--verbose", envvar="GITBOT_VERBOSE", is_flag=True, help="Also list skipped inputs; tracebacks on internal errors.")


def _handle_errors(command: F) -> F:
    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        verbose = bool(kwargs.get("verbose"))
        _redactor()  # from here on, what is printed or logged is redacted
        try:
            code = command(*args, **kwargs)
        except GitbotError as exc:
            _echo(f"gitbot: error: {exc}", err=True)
            sys.exit(exc.exit_code)
        except (click.exceptions.Exit, click.ClickException, KeyboardInterrupt):
            raise
        except Exception as exc:  # a bug: say so plainly, with the traceback on request
            _echo(f"gitbot: internal error: {type(exc).__name__}: {exc}", err=True)
            if verbose:
                _echo(traceback.format_exc(), err=True, nl=False)
            else:
                _echo("gitbot: run with -v for the traceback, and please report it", err=True)
            sys.exit(EXIT_INTERNAL)
        sys.exit(code)

    return wrapper  # type: ignore[return-value]


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="gitbot")
def main() -> None:
    """Right-size Kubernetes CPU and memory requests/limits in a GitOps repository.

    gitbot renders the repository's manifests (plain YAML, Kustomize, Helm), joins them with observed
    usage, and proposes minimal edits with a monthly cost delta for each. It never touches a cluster.

    \b
    Exit codes: 0 ok, 1 proposals found (with --fail-on-changes), 2 usage or input error, 3 internal error,
    4 usage source unavailable (Prometheus down, timing out or answering errors), 5 git or GitHub refused
    (bad token, missing permission, rejected push, rate limited), 6 partial: some render targets failed
    (a chart that cannot be pulled, a Kustomize root that does not build; the rest is planned) and
    --allow-partial was not given, or `gitbot pr` could not publish some scopes' pull requests or the
    dashboard issue (each line says why; the other scopes were done; --allow-partial does not cover this).
    """


@main.command(epilog=EPILOG_PLAN)
@_path_argument
@metrics_file_option
@prometheus_options
@catalog_option
@config_option
@plan_format_option
@output_option
@json_output_option
@write_option
@fail_option
@at_option
@shard_option
@partial_option
@verbose_option
@_handle_errors
def plan(path: Path, metrics_file: Path | None, usage: UsageOptions, catalog: str | None, config_file: Path | None,
         fmt: str | None, output: Path | None, json_output: Path | None, write: bool, fail_on_changes: bool, at: str | None, shard: Shard | None,
         allow_partial: bool, verbose: bool) -> int:
    """Propose right-sized requests and limits for the workloads in PATH (default: .).

    Usage comes from a metrics snapshot (--metrics-file) or a live Prometheus-compatible server
    (--prometheus-url); without either, the plan lists the workloads and sizes nothing.
    """
    request = _request(path, config_file, metrics_file, usage, at, catalog=catalog, write=write, shard=shard)
    with _OutputFile(output) as out, _OutputFile(json_output) as json_out:  # reserved before --write edits anything
        try:
            _, document = run_plan(request)
        finally:
            _done(usage.progress)
        chosen = _emit(document, fmt, out)
        if json_output is not None:
            _emit(document, "json", json_out)
            _github_output("plan-json", str(json_output))
    _report(document, verbose, chosen)
    summary: Any = document["summary"]
    _github_outputs(summary["by_status"]["change"], Decimal(summary["monthly_cost"]["delta_usd"]), [], render(document, "markdown"))
    if fail_on_changes and summary["by_status"]["change"]:
        return EXIT_CHANGES
    return _partial(document, allow_partial)


@main.command(epilog=EPILOG_INVENTORY)
@_path_argument
@metrics_file_option
@prometheus_options
@config_option
@format_option
@output_option
@at_option
@partial_option
@verbose_option
@_handle_errors
def inventory(path: Path, metrics_file: Path | None, usage: UsageOptions, config_file: Path | None, fmt: str | None,
              output: Path | None, at: str | None, allow_partial: bool, verbose: bool) -> int:
    """List the workloads and containers in PATH with their current values and where each is written.

    With a usage source (--metrics-file or --prometheus-url), each container also shows what it used.
    """
    if fmt in ("markdown", "diff"):
        raise click.UsageError(f"--format {fmt} is for plans; inventory supports table and json")
    with _OutputFile(output) as out:
        try:
            document = run_inventory(_request(path, config_file, metrics_file, usage, at))
        finally:
            _done(usage.progress)
        chosen = _emit(document, fmt, out)
    _report(document, verbose, chosen)
    return _partial(document, allow_partial)


@main.command(epilog=EPILOG_SNAPSHOT)
@_path_argument
@prometheus_options
@config_option
@click.option("--output", envvar="GITBOT_OUTPUT", show_envvar=True, metavar="FILE", required=True,
              type=click.Path(dir_okay=False, path_type=Path), help="Snapshot file to write (.gz: gzipped).")
@at_option
@verbose_option
@_handle_errors
def snapshot(path: Path, usage: UsageOptions, config_file: Path | None, output: Path, at: str | None, verbose: bool) -> int:
    """Record from Prometheus the usage series a plan of PATH reads, as an OpenMetrics file.

    The file replays offline (gitbot plan --metrics-file) with the same window and gives the same
    plan, and promtool can backfill it into another Prometheus.
    """
    if usage.prometheus is None:
        raise click.UsageError("gitbot snapshot needs --prometheus-url (or GITBOT_PROMETHEUS_URL)")
    try:
        summary = run_snapshot(_request(path, config_file, None, usage, at), output)
    finally:
        _done(usage.progress)
    if not usage.quiet:
        _echo(
            f"gitbot: wrote {summary['output']}: {summary['series']} series, {summary['samples']} samples from "
            f"{len(summary['namespaces'])} namespaces ({summary['requests']} requests)", err=True,  # type: ignore[arg-type]
        )
    return EXIT_OK


@main.command(epilog=EPILOG_PR)
@_path_argument
@metrics_file_option
@prometheus_options
@catalog_option
@config_option
@at_option
@_option("--scope", envvar="GITBOT_SCOPE", type=click.Choice(SCOPES), default=None,
         help="One pull request per: repository, directory (the app that renders the workload) or environment "
              "(default: config pull_requests.scope, else directory).")
@_option("--repo", "repository", envvar=["GITBOT_REPO", "GITHUB_REPOSITORY"], metavar="OWNER/NAME", help="The GitHub repository.")
@_option("--base", envvar="GITBOT_BASE", metavar="BRANCH", help="Branch the pull requests target (default: config, else the repository's default).")
@_option("--remote", envvar="GITBOT_REMOTE", default="origin", show_default=True, help="git remote to push gitbot/<scope> branches to.")
@_option("--github-url", envvar=["GITBOT_GITHUB_URL", "GITHUB_API_URL"], default="https://api.github.com", show_default=True,
         metavar="URL", help="GitHub REST API (GitHub Enterprise: https://HOST/api/v3). The token is read from "
                             "GITBOT_GITHUB_TOKEN or GITHUB_TOKEN, never from the command line.")
@_option("--dry-run", envvar="GITBOT_DRY_RUN", is_flag=True, help="Print each pull request (branch, commit message, diff, body); no git, no network.")
@_option("--allow-dirty", envvar="GITBOT_ALLOW_DIRTY", is_flag=True, help="Run even with uncommitted changes in the checkout.")
@_option("--format", "fmt", envvar="GITBOT_FORMAT", type=click.Choice(("text", "json")), default="text", show_default=True,
         help="Output format of the result.")
@shard_option
@partial_option
@verbose_option
@_handle_errors
def pr(path: Path, metrics_file: Path | None, usage: UsageOptions, catalog: str | None, config_file: Path | None, at: str | None,
       scope: str | None, repository: str | None, base: str | None, remote: str, github_url: str, dry_run: bool,
       allow_dirty: bool, fmt: str, shard: Shard | None, allow_partial: bool, verbose: bool) -> int:
    """Open, update or close one right-sizing pull request per scope of PATH (default: .).

    Each scope's edits are committed on branch gitbot/<scope> (from a scratch worktree: the checkout is
    not touched) and pushed; its pull request shows the cost table and the numbers behind every change.
    Re-runs update the same pull request; a branch someone else pushed to is left alone; a proposal
    closed unmerged comes back only when values move past pull_requests.reopen_threshold_pct.
    Proposals below pull_requests.min_monthly_delta_usd are not opened (risk fixes are), at most
    pull_requests.max_open are open at once (the rest queue, most urgent first), and one issue lists
    every scope with boxes to refresh or skip it (pull_requests.dashboard). A scope GitHub refuses is
    reported and the others go on; the exit code is then 6.
    """
    token = os.environ.get("GITBOT_GITHUB_TOKEN") or os.environ.get("GITHUB_TOKEN") or None
    run = PullRequestRun(scope=scope, base=base, remote=remote, repository=repository, api_url=github_url, token=token,
                         dry_run=dry_run, allow_dirty=allow_dirty, secrets=_redactor().secrets)
    try:
        result = run_pull_requests(_request(path, config_file, metrics_file, usage, at, catalog=catalog, shard=shard), run)
    finally:
        _done(usage.progress)
    found, outcomes, board = result.proposals, result.outcomes, result.dashboard
    live = [p for p in found if not p.empty]
    if fmt == "json":
        _echo(json.dumps({
            "dry_run": dry_run,
            "proposals": [_proposal_json(p) for p in found],
            "outcomes": [dataclasses.asdict(o) for o in outcomes],
            "dashboard": dataclasses.asdict(board) if board is not None else None,
            "failed": result.failed,
        }, indent=2, ensure_ascii=False))
    elif dry_run:
        _echo("\n".join(_dry_run_text(p) for p in live) if live else "gitbot: nothing to propose", nl=not live)
        if board is not None:
            _echo(f"{'─' * 100}\ndashboard issue: {DASHBOARD_TITLE}\n\n{board.body}", nl=False)
    else:
        width = max([10, *(len(o.action) + 1 for o in outcomes)])
        for o in outcomes:
            number = f" #{o.number}" if o.number else ""
            _echo(f"{o.action:<{width}}{o.branch}{number}{' ' + o.url if o.url else ''}: {o.detail}")
            for warning in o.warnings:
                _echo(f"{'':<{width}}warning: {warning}")
        if board is not None:
            number = f" #{board.number}" if board.number else ""
            _echo(f"{board.action:<{width}}dashboard{number}{' ' + board.url if board.url else ''}: {board.detail}")
            for warning in board.warnings:
                _echo(f"{'':<{width}}warning: {warning}")
    _github_outputs(
        sum(p.document["summary"]["by_status"]["change"] for p in live),
        sum((Decimal(p.document["summary"]["monthly_cost"]["delta_usd"]) for p in live), Decimal(0)),
        [o.url for o in outcomes if o.url and o.action in ("created", "updated", "unchanged")],
        _pr_summary(found, outcomes or result.planned, board, dry_run),
    )
    code = EXIT_OK
    if found:
        _report_coverage(found[0].document)
        code = _partial(found[0].document, allow_partial)
    if result.failed:  # --allow-partial is about render targets; a scope GitHub refused is always reported
        failures = [o for o in outcomes if o.action == "failed"]
        published = any(o.action in PUBLISHED for o in outcomes) or (board is not None and board.action in PUBLISHED)
        if failures and not published:  # nothing went through: the run failed, as one error
            raise PublishError(failures[0].detail)
        _echo(f"gitbot: partial: could not publish {', '.join(result.failed)} (see above); the rest was done", err=True)
        code = EXIT_PARTIAL
    return code


@main.command(epilog=EPILOG_REVIEW)
@_path_argument
@click.option("--pr", "number", envvar="GITBOT_PR_NUMBER", show_envvar=True, type=click.IntRange(min=1), required=True,
              help="The pull request to review (PATH must be a checkout of its head commit).")
@metrics_file_option
@prometheus_options
@catalog_option
@config_option
@at_option
@_option("--repo", "repository", envvar=["GITBOT_REPO", "GITHUB_REPOSITORY"], metavar="OWNER/NAME", help="The GitHub repository.")
@_option("--remote", envvar="GITBOT_REMOTE", default="origin", show_default=True, help="git remote to fetch the base commit from.")
@_option("--github-url", envvar=["GITBOT_GITHUB_URL", "GITHUB_API_URL"], default="https://api.github.com", show_default=True,
         metavar="URL", help="GitHub REST API. The token is read from GITBOT_GITHUB_TOKEN or GITHUB_TOKEN.")
@verbose_option
@_handle_errors
def review(path: Path, number: int, metrics_file: Path | None, usage: UsageOptions, catalog: str | None, config_file: Path | None,
           at: str | None, repository: str | None, remote: str, github_url: str, verbose: bool) -> int:
    """Review pull request --pr: comment on the resources lines it adds where gitbot's numbers differ.

    One review with a comment (a ```suggestion where gitbot would write the line differently) on each
    such line inside the diff, and one summary comment with the monthly cost before the pull request,
    as written and as suggested, edited in place on re-runs (posted only when the pull request changes
    resources or gitbot has a finding). PATH must be the pull request's head commit, not the merge
    commit actions/checkout makes by default (exit 2). gitbot's own pull requests are not reviewed.
    Pull requests from forks (read-only token) get workflow annotations instead.
    """
    token = os.environ.get("GITBOT_GITHUB_TOKEN") or os.environ.get("GITHUB_TOKEN") or None
    run = PullRequestRun(repository=repository, api_url=github_url, token=token, remote=remote, secrets=_redactor().secrets)
    try:
        outcome = run_review(_request(path, config_file, metrics_file, usage, at, catalog=catalog), run, number)
    finally:
        _done(usage.progress)
    for line in outcome.annotations:
        _echo(line)
    if outcome.skipped:
        _echo(f"gitbot: #{number}: {outcome.skipped}")
        return EXIT_OK
    if outcome.annotations:
        _echo(f"gitbot: #{number}: {outcome.findings} suggestion(s) as workflow annotations (the token cannot comment here)")
    else:
        _echo(f"gitbot: #{number}: {outcome.findings} suggestion(s): {outcome.comments} review comment(s), "
                   f"{outcome.in_summary} in the summary comment ({outcome.summary or 'not posted: no resources changed'})")
    _github_outputs(outcome.findings, outcome.delta_usd, [], outcome.summary_body)
    return EXIT_OK


@main.command()
@click.argument("traces", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--strategy", "strategies", multiple=True, type=click.Choice(STRATEGIES), default=STRATEGIES, show_default=True,
              help="Strategies to compare, repeatable.")
@click.option("--train", "train_fraction", type=click.FloatRange(0.05, 0.95), default=2 / 3, show_default="2/3",
              help="Fraction of each trace to train on; the rest is scored.")
@click.option("--tier", type=click.Choice(("production", "non-production")), default="production", show_default=True,
              help="Environment tier whose rules gitbot's strategy applies.")
@click.option("--refit", "refit", metavar="DURATION", default=None,
              help="Rolling re-fits: fit every strategy again at this interval (e.g. 7d) on all data so far; gitbot starts from its last proposal.")
@click.option("--charts", "charts", type=click.Path(file_okay=False, path_type=Path), default=None, metavar="DIR",
              help="Write one PNG per trace into DIR: usage with each strategy's requests and limits (needs gitbot[charts]).")
@click.option("--memory-capacity", type=MemoryQuantity(), default="16Gi", show_default=True,
              help="What 100% means in traces that give memory as a percentage (Alibaba GenAI); only costs depend on it.")
@config_option
@catalog_option
@_option("--format", "fmt", envvar="GITBOT_FORMAT", type=click.Choice(("table", "json")), default="table", show_default=True,
         help="Output format.")
@verbose_option
@_handle_errors
def backtest(traces: tuple[Path, ...], strategies: tuple[str, ...], train_fraction: float, tier: str, refit: str | None,
             charts: Path | None, memory_capacity: int, config_file: Path | None, catalog: str | None, fmt: str, verbose: bool) -> int:
    """Replay usage traces (Bitbrains GWA-T-12, Alibaba GenAI pod memory) through sizing strategies and score them.

    Each trace trains on its first part (--train) and is scored on the rest: CPU slack, CPU samples
    above the request and above the limit, memory slack, memory samples above the request, OOM
    episodes (runs above the memory limit) and the requests' monthly cost. Baselines: current (as
    provisioned), krr-simple, vpa-like; gitbot (settled: re-planned until it proposes nothing more)
    and gitbot-first-run; oracle, the clairvoyant static sizing of the scored part. Then a summary per
    trace family with each strategy's slack as a multiple of the oracle's, gitbot against the better
    baseline on each score and against the oracle, and the forecast's sMAPE 2 h and 4 h ahead against
    seasonal-naive.
    """
    run = run_backtest(BacktestRequest(traces, strategies, train_fraction, tier, config_file, catalog=catalog,
                                       memory_capacity=memory_capacity, refit_seconds=_duration(refit, "--refit"), charts=charts))
    results = run.results
    for line in run.skipped:
        _echo(f"gitbot: skipped {line}", err=True)
    if run.charts:
        _echo(f"gitbot: wrote {len(run.charts)} chart(s) to {charts}", err=True)
    families = backtest_summaries(results)
    if fmt == "json":
        _echo(json.dumps({
            "results": [_backtest_json(r) for r in results],
            "summary": {
                source: {
                    "strategies": [{**dataclasses.asdict(t), "monthly_cost_usd": str(usd(t.monthly_cost_usd)),
                                    **_oracle_multiples(oracle_ratios(totals).get(t.strategy))} for t in totals.values()],
                    "checks": [{**dataclasses.asdict(c), "passed": c.passed} for c in backtest_checks(totals)],
                }
                for source, totals in families.items()
            },
            "forecast_errors": [dataclasses.asdict(e) for e in run.forecast_errors],
            "charts": [str(p) for p in run.charts],
            "skipped": list(run.skipped),
        }, indent=2))
        return EXIT_OK
    rows = [["TRACE", "STRATEGY", "CPU REQ", "CPU LIM", "MEM REQ", "MEM LIM", "CPU SLACK", "CPU>REQ", "CPU>LIM", "MEM SLACK", "MEM>REQ",
             "OOMS", "$/MONTH"]]
    for r in results:
        s, z = r.score, r.sizing
        rows.append([r.trace, r.strategy, human_value("cpu", z.cpu_request_m), human_value("cpu", z.cpu_limit_m),
                     human_value("memory", z.memory_request_bytes), human_value("memory", z.memory_limit_bytes),
                     _pct(s.cpu_slack, 100), _pct(s.cpu_over_request_pct), _pct(s.cpu_over_limit_pct), _pct(s.memory_slack, 100),
                     _pct(s.memory_over_request_pct), "—" if s.oom_episodes is None else str(s.oom_episodes), format_usd(s.monthly_cost_usd)])
    _echo_table(rows, left=2)
    for source, totals in families.items():
        traces = next(iter(totals.values())).traces
        ratios = oracle_ratios(totals)
        _echo("")
        _echo_table([[f"{source.upper()} ({traces} TRACES)", "OOMS", "CPU>REQ", "MEM>REQ", "CPU SLACK", "×ORACLE", "POOLED",
                      "MEM SLACK", "×ORACLE", "POOLED", "$/MONTH"]] + [
            [t.strategy, "—" if t.oom_episodes is None else str(t.oom_episodes), _pct(t.cpu_over_request_pct), _pct(t.memory_over_request_pct),
             _pct(t.cpu_slack_pct), _times(ratios.get(t.strategy, (None, None))[0]), _pct(t.cpu_slack_pooled_pct),
             _pct(t.memory_slack_pct), _times(ratios.get(t.strategy, (None, None))[1]), _pct(t.memory_slack_pooled_pct),
             format_usd(t.monthly_cost_usd)]
            for t in totals.values()
        ])
        verdict = backtest_checks(totals)
        if verdict:
            passed = sum(c.passed for c in verdict)
            _echo(f"gitbot against the better baseline on each score, and against the oracle: {passed} of {len(verdict)} met")
            for c in verdict:
                relation = "<" if c.strict else "≤"
                bound = f"{c.baseline_value:.1f}" if c.factor == 1 else f"{c.factor:.2f} × {c.baseline_value:.1f} = {c.bound:.1f}"
                _echo(f"  {'✓' if c.passed else '✗'} {c.score}: {c.value:.1f} {relation} {bound} ({c.baseline})")
    if run.forecast_errors:
        _echo("")
        hours = sorted({e.horizon_hours for e in run.forecast_errors})
        header = ["FORECAST sMAPE", "SERIES", "CHOSEN", "ORIGINS"] + [f"{label} {h}h" for h in hours for label in ("FORECAST", "NAIVE")]
        table: dict[tuple[str, str], list[str]] = {}
        for e in run.forecast_errors:
            row = table.setdefault((e.trace, e.series), [e.trace, e.series, "blend" if e.blend else "model", str(e.origins)]
                                   + ["—"] * (2 * len(hours)))
            at = 4 + 2 * hours.index(e.horizon_hours)
            row[at:at + 2] = [f"{e.model_smape:.1f}%", f"{e.naive_smape:.1f}%"]
        _echo_table([header, *table.values()])
        wins = sum(e.model_smape < e.naive_smape for e in run.forecast_errors)
        _echo(f"the forecast beats seasonal-naive (value a day earlier) in {wins} of {len(run.forecast_errors)} series × horizons "
              f"({wins / len(run.forecast_errors):.0%}; blend: ½(model + seasonal-naive), chosen per series on the training window's last days)")
    return EXIT_OK


def _echo_table(rows: list[list[str]], left: int = 1) -> None:
    """Columns padded to their widest cell: the first ``left`` aligned left, the rest right."""
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        _echo("  ".join(cell.ljust(widths[i]) if i < left else cell.rjust(widths[i]) for i, cell in enumerate(row)).rstrip())


def _pct(value: float | None, scale: float = 1.0) -> str:
    return "—" if value is None else f"{value * scale:.1f}%"


def _times(ratio: float | None) -> str:
    return "—" if ratio is None else f"{ratio:.2f}×"


def _oracle_multiples(ratios: tuple[float | None, float | None] | None) -> dict[str, float | None]:
    """A strategy's mean CPU and memory slack as multiples of the oracle's (None without an oracle)."""
    cpu, memory = ratios or (None, None)
    return {"cpu_slack_x_oracle": cpu, "memory_slack_x_oracle": memory}


def _backtest_json(r: Any) -> dict[str, Any]:
    return {
        "trace": r.trace, "strategy": r.strategy, "train_samples": r.train_samples, "fits": r.fits,
        "sizing": dataclasses.asdict(r.sizing),
        "score": {**dataclasses.asdict(r.score), "monthly_cost_usd": str(usd(r.score.monthly_cost_usd))},
    }


def _proposal_json(p: Proposal) -> dict[str, Any]:
    return {
        "scope": p.scope.slug, "branch": p.scope.branch, "title": p.title, "commit_message": p.commit_message,
        "fingerprint": p.fingerprint, "files": [c.path for c in p.changes.files], "body": p.body,
        "monthly_delta_usd": p.document["summary"]["monthly_cost"]["delta_usd"],
    }


def _dry_run_text(p: Proposal) -> str:
    rule = "─" * 100
    return (
        f"{rule}\nbranch: {p.scope.branch}\ntitle: {p.title}\n\ncommit message:\n"
        + "".join(f"    {line}\n" for line in p.commit_message.splitlines())
        + f"\ndiff:\n{p.diff}\npull request body:\n{p.body}\n"
    )


def _pr_summary(proposals: Sequence[Proposal], outcomes: Sequence[Outcome], board: DashboardOutcome | None, dry_run: bool) -> str:
    """The job summary of ``gitbot pr``: one row per scope (its pull request, what happened, the
    change), not the bodies: they are on the pull requests."""
    by_scope = {o.scope: o for o in outcomes}
    lines = ["## gitbot: right-sizing pull requests" + (" (dry run: nothing pushed or opened)" if dry_run else ""), "",
             "| Scope | Pull request | Outcome | Change | Monthly delta |", "|---|---|---|---|---:|"]
    for p in proposals:
        o = by_scope.get(p.scope.slug)
        link = f"[#{o.number}]({o.url})" if o is not None and o.number and o.url else "—"
        outcome = f"{o.action}: {o.detail}" if o is not None else "nothing to propose"
        change = "—" if p.empty else p.title.removeprefix("gitbot: ")
        delta = "" if p.empty else format_usd(Decimal(p.document["summary"]["monthly_cost"]["delta_usd"]), signed=True)
        lines.append(f"| `{p.scope.slug}` | {link} | {_cell(outcome)} | {_cell(change)} | {delta} |")
    if board is not None and board.url:
        lines += ["", f"Dashboard: [#{board.number}]({board.url}) ({board.action})"]
    return "\n".join(lines) + "\n"


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _github_outputs(changes: int, delta_usd: Decimal, urls: list[str], summary_markdown: str) -> None:
    """In GitHub Actions: the step outputs (changes-count, monthly-delta-usd, pr-url) and the job summary."""
    output = os.environ.get("GITHUB_OUTPUT")
    if output:
        _append(output, f"changes-count={changes}\nmonthly-delta-usd={delta_usd}\npr-url={' '.join(urls)}\n")
    summary = os.environ.get("GITHUB_STEP_SUMMARY")
    if summary and summary_markdown:
        _append(summary, summary_markdown.rstrip("\n") + "\n")


def _github_output(name: str, value: str) -> None:
    """One step output, in GitHub Actions."""
    output = os.environ.get("GITHUB_OUTPUT")
    if output:
        _append(output, f"{name}={value}\n")


def _append(path: str, text: str) -> None:
    try:
        with open(path, "a", encoding="utf-8") as handle:
            handle.write(_redactor()(text))
    except OSError as exc:
        raise InputError(f"{path}: cannot write: {exc.strerror or exc}") from None


def _request(path: Path, config_file: Path | None, metrics_file: Path | None, usage: UsageOptions, at: str | None,
             **extra: Any) -> PlanRequest:
    credentials = Credentials.from_environment()
    _redactor().add(credentials.secrets)
    return PlanRequest(
        repo=path, config_file=config_file, metrics_file=metrics_file, prometheus=usage.prometheus,
        at=_parse_time(at), now=time.time(), history_seconds=usage.history_seconds, step_seconds=usage.step_seconds,
        progress=usage.progress, render_cache=usage.render_cache, chart_cache=usage.chart_cache, offline=usage.offline,
        helm_credentials=credentials, **extra,
    )


class _OutputFile:
    """``--output``: a temp file beside it is made on entry (so a place that cannot take it fails
    the run before anything else is written), filled and renamed into place by ``write``, and
    removed on exit if it is still there."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self._tmp: str | None = None

    def __enter__(self) -> _OutputFile:
        if self.path is not None:
            try:
                handle, self._tmp = tempfile.mkstemp(prefix=".gitbot-", dir=self.path.resolve().parent)
                os.close(handle)
            except OSError as exc:
                raise InputError(f"--output {self.path}: cannot write: {exc.strerror or exc}") from None
        return self

    def write(self, text: str) -> None:
        assert self.path is not None and self._tmp is not None
        try:
            with open(self._tmp, "w", encoding="utf-8") as out:
                out.write(text)
            os.replace(self._tmp, self.path)
            self._tmp = None
        except OSError as exc:
            raise InputError(f"--output {self.path}: cannot write: {exc.strerror or exc}") from None

    def __exit__(self, *exc: object) -> None:
        if self._tmp is not None:
            Path(self._tmp).unlink(missing_ok=True)


def _emit(document: Mapping[str, Any], fmt: str | None, output: _OutputFile) -> str:
    """Render ``document`` to stdout or --output; the format chosen."""
    chosen = fmt or ("table" if output.path is None and sys.stdout.isatty() else "json")
    text = _redactor()(render(document, chosen))
    if output.path is None:
        _echo(text, nl=False)
    else:
        output.write(text)
    return chosen


def _partial(document: Mapping[str, Any], allow_partial: bool) -> int:
    """Exit 6 when render targets failed, unless the run allows that."""
    failed = (document.get("coverage") or {}).get("by_status", {}).get("failed", 0)
    return EXIT_PARTIAL if failed and not allow_partial else EXIT_OK


def _report_coverage(document: Mapping[str, Any], failed: bool = True) -> None:
    """The failed targets and the coverage line, on stderr (for outputs a reader does not see: json, diff, pr)."""
    for t in document.get("targets") or [] if failed else []:
        if t["status"] == "failed":
            _echo(f"gitbot: failed {t['name']}: {t['detail']}", err=True)
    line = coverage_line(document)
    if line and (document.get("coverage") or {}).get("by_status", {}).get("failed"):
        _echo(f"gitbot: {line}", err=True)


def _report(document: Mapping[str, Any], verbose: bool, fmt: str = "table") -> None:
    """Warnings and skipped inputs on stderr; the render targets too when the output format (json,
    diff) does not show them to a reader."""
    for warning in document.get("warnings", []):
        _echo(f"gitbot: warning: {warning}", err=True)
    if fmt in ("json", "diff"):
        _report_coverage(document, failed=not verbose)  # with -v the skipped inputs below name them
    skipped = document.get("skipped_inputs", [])
    if verbose:
        for s in skipped:
            where = f"{s['path']}:{s['line']}" if s["line"] else s["path"]
            _echo(f"gitbot: skipped {where}: {s['reason']}", err=True)
    elif skipped:
        _echo(f"gitbot: {len(skipped)} inputs skipped (-v lists them)", err=True)


def _parse_time(text: str | None) -> float | None:
    if text is None:
        return None
    try:
        return float(text)
    except ValueError:
        pass
    try:
        parsed = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise click.BadParameter(f"{text!r} is neither ISO 8601 nor unix seconds", param_hint="--at") from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=dt.timezone.utc)
    return parsed.timestamp()
