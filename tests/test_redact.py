"""Credentials never leave gitbot: the redaction filter, and the places the CLI and the GitHub
client route text through it (printed lines, tracebacks, library logs, --output, pull requests)."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest
from click.testing import CliRunner

import gitbot.cli
from gitbot.errors import InputError
from gitbot.publish.github import GitHubPulls
from gitbot.redact import Redactor
from github_standin import GitHubStandIn

GITHUB_TOKEN = "ghp_" + "A1b2C3d4" * 5  # a GitHub personal-token shape
PROM_TOKEN = "prom-s3cr3t-token-value"
PASSWORD = "hunter2-but-longer"


@pytest.mark.parametrize(("text", "expected"), [
    (f"GET failed with {PROM_TOKEN} inside", "GET failed with *** inside"),
    ("https://alice:pa55word@prom.example.com/api/v1", "https://***@prom.example.com/api/v1"),
    ("https://x-access-token@github.com/acme/gitops.git", "https://***@github.com/acme/gitops.git"),
    ("Authorization: Bearer abc.def-ghi_jkl", "Authorization: Bearer ***"),
    ("{'authorization': 'token zzzzzzzzzzzz'}", "{'authorization': 'token ***'}"),
    ("X-Api-Key=verysecretvalue", "X-Api-Key=***"),
    ("sent bearer eyJhbGciOiJIUzI1NiJ9.e30.sig", "sent bearer ***"),
    (f"token {GITHUB_TOKEN} was refused", "token *** was refused"),
    ("github_pat_" + "x" * 40, "***"),
    ("GET /api?query=up&access_token=abc123&x=1", "GET /api?query=up&access_token=***&x=1"),
    # ordinary text stays as it is, even when it mentions tokens and keys
    ("shop/Deployment/web container app: cpu_request 250m", "shop/Deployment/web container app: cpu_request 250m"),
    ("the token is read from GITBOT_GITHUB_TOKEN", "the token is read from GITBOT_GITHUB_TOKEN"),
])
def test_the_filter_masks_known_secrets_and_what_looks_like_one(text: str, expected: str) -> None:
    assert Redactor([PROM_TOKEN, "short"])(text) == expected


def test_secrets_come_from_the_environment_and_credential_headers_only() -> None:
    env = {"GITBOT_PROMETHEUS_TOKEN": PROM_TOKEN, "GITHUB_TOKEN": GITHUB_TOKEN, "GITBOT_PROMETHEUS_PASSWORD": PASSWORD,
           "GITBOT_PROMETHEUS_HEADERS": "X-Scope-OrgID: team-alpha\nX-Api-Key: k3y-value-123"}
    redactor = Redactor.from_environment(env)
    assert redactor.secrets == tuple(sorted([PROM_TOKEN, GITHUB_TOKEN, PASSWORD, "k3y-value-123"]))
    assert redactor("tenant team-alpha") == "tenant team-alpha"  # a tenant id is not a credential
    doc = {"warnings": [f"server said {PASSWORD}"], "nested": {PROM_TOKEN: ("a", f"b {GITHUB_TOKEN}")}, "n": 3}
    assert redactor.document(doc) == {"warnings": ["server said ***"], "nested": {"***": ("a", "b ***")}, "n": 3}


def test_errors_tracebacks_and_library_logs_are_redacted(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """An internal error whose message and traceback carry the token, a library warning that logs it,
    and an input error quoting a header: stderr shows none of them."""
    def broken(request: object) -> None:
        logging.getLogger("urllib3.connectionpool").warning("retrying with Authorization: Bearer %s", PROM_TOKEN)
        raise RuntimeError(f"boom at https://user:{PASSWORD}@prom.example.com with {PROM_TOKEN}")

    monkeypatch.setattr(gitbot.cli, "run_plan", broken)
    env = {"GITBOT_PROMETHEUS_TOKEN": PROM_TOKEN, "GITBOT_PROMETHEUS_PASSWORD": PASSWORD}
    result = CliRunner().invoke(gitbot.cli.main, ["plan", str(tmp_path), "-v", "-q", "--prometheus-url", "http://127.0.0.1:9",
                                                  "--prometheus-user", "alice"], env=env)
    assert result.exit_code == 3
    assert "Traceback" in result.stderr and "RuntimeError: boom at https://***@prom.example.com with ***" in result.stderr
    assert "gitbot: urllib3.connectionpool: retrying with Authorization: Bearer ***" in result.stderr
    assert PROM_TOKEN not in result.output and PASSWORD not in result.output

    def refusing(request: object) -> None:
        raise InputError(f"the server echoed X-Api-Key: k3y-value-123 and {PROM_TOKEN}")

    monkeypatch.setattr(gitbot.cli, "run_plan", refusing)
    result = CliRunner().invoke(gitbot.cli.main, ["plan", str(tmp_path), "-q", "--prometheus-url", "http://127.0.0.1:9",
                                                  "--prometheus-header", "X-Api-Key: k3y-value-123"], env=env)
    assert result.exit_code == 2
    assert result.stderr == "gitbot: error: the server echoed X-Api-Key: *** and ***\n"


def test_the_output_document_is_redacted(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """A plan warning that quotes a credential (say, an error body from a proxy) is masked in --output."""
    real = gitbot.cli.run_plan

    def warned(request: object) -> tuple[object, dict[str, object]]:
        result, document = real(request)
        return result, {**document, "warnings": [f"proxy said: token={PROM_TOKEN}"]}

    monkeypatch.setattr(gitbot.cli, "run_plan", warned)
    output = tmp_path / "plan.json"
    result = CliRunner().invoke(gitbot.cli.main, ["plan", str(tmp_path), "-q", "--format", "json", "--output", str(output)],
                                env={"GITBOT_PROMETHEUS_TOKEN": PROM_TOKEN})
    assert result.exit_code == 0, result.stderr
    assert json.loads(output.read_text())["warnings"] == ["proxy said: token=***"]
    assert PROM_TOKEN not in output.read_text() + result.output


def test_pull_requests_never_carry_a_credential() -> None:
    """Title, body and comments sent to GitHub are redacted with the client's own token and the
    run's other secrets: the stand-in records what arrived."""
    with GitHubStandIn("acme/gitops", token=GITHUB_TOKEN) as gh:
        host = GitHubPulls("acme/gitops", GITHUB_TOKEN, gh.base_url, throttle=False, secrets=(PROM_TOKEN,))
        info = host.create("gitbot/shop", "main", f"Right-size ({PROM_TOKEN})", f"body with {GITHUB_TOKEN} and Bearer {PROM_TOKEN}")
        host.comment(info.number, f"see https://bot:{PASSWORD}@prom.example.com")
        sent = [r for r in gh.requests if r.method in ("POST", "PATCH")]
        assert [(r.method, r.path) for r in sent] == [("POST", "/repos/acme/gitops/pulls"),
                                                      ("POST", f"/repos/acme/gitops/issues/{info.number}/comments")]
        assert sent[0].body["title"] == "Right-size (***)"
        assert sent[0].body["body"] == "body with *** and Bearer ***"
        assert sent[1].body["body"] == "see https://***@prom.example.com"
