"""action.yml is a logic-free composite action: its inputs reach gitbot as GITBOT_* variables that the
CLI really reads, its outputs are the ones gitbot writes, and every mode is a gitbot command."""

from __future__ import annotations

import json
import os
import re
import tomllib
from pathlib import Path

from ruamel.yaml import YAML

from gitbot.cli import main

ROOT = Path(__file__).resolve().parents[1]
ACTION = YAML(typ="safe").load((ROOT / "action.yml").read_text())
# read from the environment only, never options
SECRET_VARIABLES = {"GITBOT_PROMETHEUS_TOKEN", "GITBOT_PROMETHEUS_PASSWORD", "GITBOT_GITHUB_TOKEN", "GITBOT_HELM_USERNAME", "GITBOT_HELM_PASSWORD"}
ACTION_VARIABLES = {"GITBOT_MODE", "GITBOT_ACTION_PATH"}  # used by the steps' own one-line commands


def cli_variables() -> set[str]:
    names: set[str] = set()
    for command in main.commands.values():
        for param in command.params:
            envvar = param.envvar
            names.update([envvar] if isinstance(envvar, str) else list(envvar or []))
    return names


def test_it_is_a_composite_action_whose_steps_only_install_and_call_gitbot() -> None:
    runs = ACTION["runs"]
    assert runs["using"] == "composite"
    assert [step.get("uses", "").split("@")[0] for step in runs["steps"]] == ["actions/setup-python", "", "actions/cache", "", ""]
    scripts = [step["run"] for step in runs["steps"] if "run" in step]
    assert scripts == [
        'echo "hash=$(sha256sum "$GITBOT_ACTION_PATH/requirements.lock" | cut -c1-16)" >> "$GITHUB_OUTPUT"',
        'venv="$HOME/.cache/gitbot-action/venv"\n'
        '[ -x "$venv/bin/python" ] || { python -m venv "$venv" && "$venv/bin/pip" install --disable-pip-version-check --quiet '
        '-r "$GITBOT_ACTION_PATH/requirements.lock"; }\n'
        '"$venv/bin/pip" install --disable-pip-version-check --quiet --no-deps "$GITBOT_ACTION_PATH"\n'
        'echo "$venv/bin" >> "$GITHUB_PATH"\n',
        'gitbot "$GITBOT_MODE"',
    ]
    assert not any("if" in step for step in runs["steps"])
    # the installed dependencies are cached under a key that changes with the lock file
    cache = runs["steps"][2]
    assert cache["with"]["path"] == "~/.cache/gitbot-action" and "${{ steps.lock.outputs.hash }}" in cache["with"]["key"]


def test_the_lock_file_pins_every_runtime_dependency_within_its_range() -> None:
    from packaging.requirements import Requirement

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    pinned = {}
    for line in (ROOT / "requirements.lock").read_text().splitlines():
        if line and not line.startswith("#"):
            name, _, version = line.partition("==")
            pinned[canonical(name)] = version
    for text in project["project"]["dependencies"]:
        requirement = Requirement(text)
        if requirement.marker is not None and not requirement.marker.evaluate({"platform_python_implementation": "CPython"}):
            continue
        version = pinned.get(canonical(requirement.name))
        assert version is not None, f"{requirement.name} is not in requirements.lock"
        assert requirement.specifier.contains(version, prereleases=True), f"{requirement.name}=={version} is outside {requirement.specifier}"


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def test_every_input_is_passed_and_every_reference_is_an_input() -> None:
    text = (ROOT / "action.yml").read_text()
    referenced = set(re.findall(r"\$\{\{\s*inputs\.([a-z0-9-]+)\s*\}\}", text))
    assert referenced == set(ACTION["inputs"])
    for name in ("mode", "path", "prometheus-url", "metrics-file", "catalog", "config", "token", "fail-on-changes"):
        assert name in ACTION["inputs"]  # the inputs the issue asks for


def test_every_variable_the_action_sets_is_read_by_gitbot() -> None:
    env = {name for step in ACTION["runs"]["steps"] for name in (step.get("env") or {})}
    unknown = env - cli_variables() - SECRET_VARIABLES - ACTION_VARIABLES
    assert unknown == set()
    assert {"GITBOT_PATH", "GITBOT_METRICS_FILE", "GITBOT_PROMETHEUS_URL", "GITBOT_PR_NUMBER", "GITBOT_FAIL_ON_CHANGES"} <= cli_variables()


def test_every_mode_is_a_command_and_outputs_come_from_the_gitbot_step() -> None:
    modes = re.findall(r"\b(plan|pr|review)\b", ACTION["inputs"]["mode"]["description"])
    assert sorted(set(modes)) == ["plan", "pr", "review"] and set(modes) <= set(main.commands)
    assert ACTION["inputs"]["mode"]["default"] == "plan"
    step_ids = {step.get("id") for step in ACTION["runs"]["steps"]}
    for name, output in ACTION["outputs"].items():
        assert output["value"] == f"${{{{ steps.gitbot.outputs.{name} }}}}" and "gitbot" in step_ids
    assert set(ACTION["outputs"]) == {"changes-count", "monthly-delta-usd", "pr-url", "plan-json"}


EXAMPLES = sorted((ROOT / "examples").glob("*.yml"))


def gitbot_steps(workflow: dict) -> list[dict]:
    return [step for job in workflow["jobs"].values() for step in job["steps"] if str(step.get("uses", "")).startswith("your-org/gitbot@")]


def test_every_example_uses_declared_inputs_and_runs_one_at_a_time() -> None:
    for path in EXAMPLES:
        workflow = YAML(typ="safe").load(path.read_text())
        steps = gitbot_steps(workflow)
        assert steps, path.name
        for step in steps:
            assert set(step.get("with") or {}) <= set(ACTION["inputs"]), path.name
        jobs = workflow["jobs"].values()
        assert "concurrency" in workflow or all("concurrency" in job for job in jobs), f"{path.name} has no concurrency"
        for job in jobs:
            for step in job["steps"]:
                if str(step.get("uses", "")).startswith("azure/setup-kubectl"):  # pinned, as the comments say
                    assert re.fullmatch(r"v\d+\.\d+\.\d+", str((step.get("with") or {}).get("version", ""))), path.name


def action_env(inputs: dict[str, str], runner_temp: Path) -> dict[str, str]:
    """The environment the Action's gitbot step gets for ``inputs`` (the rest at their defaults)."""
    step = ACTION["runs"]["steps"][-1]
    values = {name: str(spec.get("default", "")) for name, spec in ACTION["inputs"].items()}
    values.update(inputs)
    env: dict[str, str] = {}
    for name, template in step["env"].items():
        text = str(template)
        text = re.sub(r"\$\{\{\s*inputs\.([a-z0-9-]+)\s*\}\}", lambda m: values[m.group(1)], text)
        text = text.replace("${{ runner.temp }}", str(runner_temp)).replace("${{ github.event.pull_request.number }}", "")
        text = text.replace("${{ github.token }}", "")
        assert "${{" not in text, (name, text)
        env[name] = text
    return env


def test_the_plan_step_logs_the_table_and_writes_the_json_to_a_file_output(tmp_path: Path) -> None:
    from click.testing import CliRunner

    env = action_env({"mode": "plan", "path": "fixtures/demo-repo", "metrics-file": "fixtures/demo-metrics.om.gz",
                      "history": "14d", "catalog": "aws"}, tmp_path)
    outputs, summary = tmp_path / "outputs", tmp_path / "summary.md"
    env.update(GITHUB_OUTPUT=str(outputs), GITHUB_STEP_SUMMARY=str(summary), GITBOT_RENDER_CACHE="off")
    old = Path.cwd()
    try:
        os.chdir(ROOT)
        result = CliRunner(env=env).invoke(main, [env["GITBOT_MODE"]], catch_exceptions=False)
    finally:
        os.chdir(old)
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("gitbot plan · fixtures/demo-repo · snapshot fixtures/demo-metrics.om.gz")  # the table, not JSON
    written = dict(line.split("=", 1) for line in outputs.read_text().splitlines())
    assert written["plan-json"] == str(tmp_path / "gitbot-plan.json")
    plan = json.loads((tmp_path / "gitbot-plan.json").read_text())
    assert written["changes-count"] == str(plan["summary"]["by_status"]["change"]) == "15"
    assert written["monthly-delta-usd"] == plan["summary"]["monthly_cost"]["delta_usd"]
    assert summary.read_text().startswith("## gitbot: ")


def test_the_pr_step_summary_is_a_table_of_scopes_not_the_bodies(tmp_path: Path) -> None:
    from click.testing import CliRunner

    summary = tmp_path / "summary.md"
    env = {"GITHUB_STEP_SUMMARY": str(summary), "GITHUB_OUTPUT": str(tmp_path / "outputs"), "GITBOT_RENDER_CACHE": "off"}
    old = Path.cwd()
    try:
        os.chdir(ROOT)
        result = CliRunner(env=env).invoke(
            main, ["pr", "fixtures/demo-repo", "--metrics-file", "fixtures/demo-metrics.om.gz", "--dry-run", "--scope", "directory"],
            catch_exceptions=False,
        )
    finally:
        os.chdir(old)
    assert result.exit_code == 0, result.output
    text = summary.read_text()
    assert "<!-- gitbot:" not in text and "```diff" not in text  # the bodies (markers, diffs) stay on the pull requests
    lines = text.splitlines()
    assert lines[:4] == [
        "## gitbot: right-sizing pull requests (dry run: nothing pushed or opened)", "",
        "| Scope | Pull request | Outcome | Change | Monthly delta |", "|---|---|---|---|---:|",
    ]
    assert lines[4] == "| `apps-cart` | — | planned: dry run: GitHub was not asked | adds missing CPU requests in apps/cart (+$6.50/month) | +$6.50 |"
    assert lines[8] == ("| `apps-reports` | — | below-threshold: monthly delta +$0.18 is below min_monthly_delta_usd ($1.00) | "
                        "raises resources of 1 container in apps/reports (+$0.18/month) | +$0.18 |")
    assert len(lines) == 4 + 10
