"""Command line: parse options, call the pipeline, render, map errors to exit codes.

Exit codes: 0 ok; 1 proposals found and --fail-on-changes given; 2 usage or input error;
3 internal error. Every option can also come from a GITBOT_* environment variable.
"""

from __future__ import annotations

import datetime as dt
import functools
import os
import sys
import tempfile
import traceback
from pathlib import Path
from typing import Any, Callable, Mapping, TypeVar

import click

from gitbot import __version__
from gitbot.errors import EXIT_CHANGES, EXIT_INTERNAL, EXIT_OK, GitbotError, InputError
from gitbot.output.render import FORMATS, render
from gitbot.pipeline import PlanRequest, inventory as run_inventory, plan as run_plan

F = TypeVar("F", bound=Callable[..., Any])

EPILOG_PLAN = """\b
Examples:
  gitbot plan fixtures/demo-repo --metrics-file fixtures/demo-metrics.om.gz
  gitbot plan . --metrics-file snapshot.om.gz --format diff
  gitbot plan . --metrics-file snapshot.om.gz --write
  gitbot plan . --metrics-file snapshot.om.gz --format json --output plan.json
  GITBOT_METRICS_FILE=snapshot.om.gz gitbot plan . --fail-on-changes
"""

EPILOG_INVENTORY = """\b
Examples:
  gitbot inventory fixtures/demo-repo
  gitbot inventory . --format json --output inventory.json
"""


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
verbose_option = _option("-v", "--verbose", envvar="GITBOT_VERBOSE", is_flag=True, help="Also list skipped inputs; tracebacks on internal errors.")


def _handle_errors(command: F) -> F:
    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        verbose = bool(kwargs.get("verbose"))
        try:
            code = command(*args, **kwargs)
        except GitbotError as exc:
            click.echo(f"gitbot: error: {exc}", err=True)
            sys.exit(exc.exit_code)
        except (click.exceptions.Exit, click.ClickException, KeyboardInterrupt):
            raise
        except Exception as exc:  # a bug: say so plainly, with the traceback on request
            click.echo(f"gitbot: internal error: {type(exc).__name__}: {exc}", err=True)
            if verbose:
                traceback.print_exc()
            else:
                click.echo("gitbot: run with -v for the traceback, and please report it", err=True)
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
    Exit codes: 0 ok, 1 proposals found (with --fail-on-changes), 2 usage or input error, 3 internal error.
    """


@main.command(epilog=EPILOG_PLAN)
@_path_argument
@metrics_file_option
@catalog_option
@config_option
@format_option
@output_option
@write_option
@fail_option
@at_option
@verbose_option
@_handle_errors
def plan(path: Path, metrics_file: Path | None, catalog: str | None, config_file: Path | None, fmt: str | None,
         output: Path | None, write: bool, fail_on_changes: bool, at: str | None, verbose: bool) -> int:
    """Propose right-sized requests and limits for the workloads in PATH (default: .)."""
    request = PlanRequest(
        repo=path, config_file=config_file, metrics_file=metrics_file, catalog=catalog, at=_parse_time(at), write=write
    )
    _, document = run_plan(request)
    _emit(document, fmt, output)
    _report(document, verbose)
    if fail_on_changes and document["summary"]["by_status"]["change"]:  # type: ignore[index]
        return EXIT_CHANGES
    return EXIT_OK


@main.command(epilog=EPILOG_INVENTORY)
@_path_argument
@config_option
@format_option
@output_option
@verbose_option
@_handle_errors
def inventory(path: Path, config_file: Path | None, fmt: str | None, output: Path | None, verbose: bool) -> int:
    """List the workloads and containers in PATH with their current values and where each is written."""
    document = run_inventory(PlanRequest(repo=path, config_file=config_file))
    if fmt in ("markdown", "diff"):
        raise click.UsageError(f"--format {fmt} is for plans; inventory supports table and json")
    _emit(document, fmt, output)
    _report(document, verbose)
    return EXIT_OK


def _emit(document: Mapping[str, Any], fmt: str | None, output: Path | None) -> None:
    chosen = fmt or ("table" if output is None and sys.stdout.isatty() else "json")
    text = render(document, chosen)
    if output is None:
        click.echo(text, nl=False)
        return
    try:
        handle, tmp = tempfile.mkstemp(prefix=".gitbot-", dir=output.resolve().parent)
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            out.write(text)
        os.replace(tmp, output)
    except OSError as exc:
        raise InputError(f"--output {output}: cannot write: {exc.strerror or exc}") from None


def _report(document: Mapping[str, Any], verbose: bool) -> None:
    for warning in document.get("warnings", []):
        click.echo(f"gitbot: warning: {warning}", err=True)
    skipped = document.get("skipped_inputs", [])
    if verbose:
        for s in skipped:
            where = f"{s['path']}:{s['line']}" if s["line"] else s["path"]
            click.echo(f"gitbot: skipped {where}: {s['reason']}", err=True)
    elif skipped:
        click.echo(f"gitbot: {len(skipped)} inputs skipped (-v lists them)", err=True)


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
