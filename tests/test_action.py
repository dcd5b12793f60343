"""action.yml is a logic-free composite action: its inputs reach gitbot as GITBOT_* variables that the
CLI really reads, its outputs are the ones gitbot writes, and every mode is a gitbot command."""

from __future__ import annotations

import re
from pathlib import Path

from ruamel.yaml import YAML

from gitbot.cli import main

ROOT = Path(__file__).resolve().parents[1]
ACTION = YAML(typ="safe").load((ROOT / "action.yml").read_text())
# read from the environment only, never options
SECRET_VARIABLES = {"GITBOT_PROMETHEUS_TOKEN", "GITBOT_GITHUB_TOKEN", "GITBOT_HELM_USERNAME", "GITBOT_HELM_PASSWORD"}
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
    scripts = [step["run"] for step in runs["steps"] if "run" in step]
    assert scripts == ['python -m pip install --disable-pip-version-check --quiet "$GITBOT_ACTION_PATH"', 'gitbot "$GITBOT_MODE"']
    assert not any("if" in step for step in runs["steps"])


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
    assert set(ACTION["outputs"]) == {"changes-count", "monthly-delta-usd", "pr-url"}
