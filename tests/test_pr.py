"""gitbot pr against real git (a clone with a bare remote in temp dirs) and the local GitHub stand-in.

The repository is the demo repo; with ``scope: repository`` it gives one pull request (branch
``gitbot/all``), which keeps the request logs short enough to assert exactly.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Iterator

import pytest

git = pytest.importorskip("git")

from github_standin import GitHubStandIn  # noqa: E402

from gitbot.errors import PublishError  # noqa: E402
from gitbot.pipeline import PlanRequest, PullRequestRun, pull_requests  # noqa: E402
from gitbot.publish.proposal import read_marker  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
DEMO = ROOT / "fixtures" / "demo-repo"
METRICS = ROOT / "fixtures" / "demo-metrics.om.gz"
TOKEN = "ghs_s3cr3tT0kenValue"
BOT = ("gitbot[bot]", "gitbot[bot]@users.noreply.github.com")
CONFIG = "pull_requests:\n  scope: repository\n  labels: [resources]\n  reviewers: [alice]\n"


@pytest.fixture
def github() -> Iterator[GitHubStandIn]:
    with GitHubStandIn("acme/gitops", token=TOKEN) as gh:
        yield gh


@pytest.fixture
def checkout(tmp_path: Path) -> tuple[Path, Path]:
    """A clone of a bare ``origin`` holding the demo repo on main (+ a scope: repository config)."""
    source = tmp_path / "source"
    shutil.copytree(DEMO, source)
    (source / ".gitbot.yaml").write_text((DEMO / ".gitbot.yaml").read_text() + CONFIG if (DEMO / ".gitbot.yaml").exists() else CONFIG)
    repo = git.Repo.init(source, initial_branch="main")
    repo.git.add(A=True)
    actor = git.Actor("Platform Team", "platform@example.com")
    repo.index.commit("demo", author=actor, committer=actor)
    remote = tmp_path / "origin.git"
    git.Repo.init(remote, bare=True, initial_branch="main")
    repo.create_remote("origin", str(remote))
    repo.git.push("origin", "main")
    work = tmp_path / "work"
    git.Repo.clone_from(str(remote), str(work))
    return work, remote


def run(work: Path, github: GitHubStandIn, **extra: object) -> tuple[list, list]:
    options = dict(repository="acme/gitops", api_url=github.base_url, token=TOKEN, base="main", throttle=False)
    options.update(extra)
    return pull_requests(PlanRequest(repo=work, metrics_file=METRICS), PullRequestRun(**options))  # type: ignore[arg-type]


def test_first_run_opens_one_pull_request_and_a_second_run_changes_nothing(checkout, github) -> None:
    work, remote = checkout
    proposals, outcomes = run(work, github)
    assert [(o.action, o.branch, o.number) for o in outcomes] == [("created", "gitbot/all", 1)]
    assert github.calls() == [
        "GET /repos/acme/gitops",
        "GET /repos/acme/gitops/pulls",
        "POST /repos/acme/gitops/pulls",
        "POST /repos/acme/gitops/issues/1/labels",
        "POST /repos/acme/gitops/pulls/1/requested_reviewers",
    ]
    created = next(r for r in github.requests if r.method == "POST" and r.path.endswith("/pulls"))
    assert created.body["head"] == "gitbot/all" and created.body["base"] == "main"
    assert created.body["title"] == "gitbot: right-size the repository (−$75.56/month)"
    pull = github.pulls[1]
    assert pull.labels == ["resources"] and pull.requested_reviewers == ["alice"]
    marker = read_marker(pull.body)
    assert marker is not None and marker["scope"] == "all" and marker["fingerprint"] == proposals[0].fingerprint
    assert pull.body.splitlines()[1] == "## gitbot: monthly cost will decrease by $75.56 (−20.5%)"

    # the branch on the remote: one commit by the bot on top of main, holding exactly the plan's edits
    bare = git.Repo(remote)
    head = bare.commit("gitbot/all")
    assert (head.author.name, head.author.email) == BOT and (head.committer.name, head.committer.email) == BOT
    assert head.message.splitlines()[0] == "Right-size resources in the repository"
    assert [p.hexsha for p in head.parents] == [bare.commit("main").hexsha]
    changed = sorted(d.b_path or d.a_path for d in head.parents[0].diff(head))
    assert changed == sorted(c.path for c in proposals[0].changes.files) and len(changed) == 15
    for c in proposals[0].changes.files:
        assert (head.tree / c.path).data_stream.read().decode() == c.after
    # the checkout the plan ran in is untouched
    assert git.Repo(work).is_dirty(untracked_files=True) is False

    github.clear_requests()
    _, again = run(work, github)
    assert [(o.action, o.number) for o in again] == [("unchanged", 1)]
    assert github.calls() == ["GET /repos/acme/gitops", "GET /repos/acme/gitops/pulls"]  # nothing written
    assert bare.commit("gitbot/all").hexsha == head.hexsha


def test_a_refreshed_proposal_updates_the_same_pull_request(checkout, github) -> None:
    work, remote = checkout
    run(work, github)
    first = git.Repo(remote).commit("gitbot/all").hexsha
    # main moves on: a person edits one of the files gitbot proposes to change
    repo = git.Repo(work)
    path = work / "apps/cart/deployment.yaml"
    path.write_text(path.read_text().replace("memory: 512Mi", "memory: 384Mi"))
    repo.git.add(A=True)
    actor = git.Actor("Alice", "alice@example.com")
    repo.index.commit("cart: smaller limit", author=actor, committer=actor)
    repo.git.push("origin", "main")
    github.clear_requests()
    _, outcomes = run(work, github)
    assert [(o.action, o.number) for o in outcomes] == [("updated", 1)]
    assert github.calls() == ["GET /repos/acme/gitops", "GET /repos/acme/gitops/pulls", "PATCH /repos/acme/gitops/pulls/1"]
    assert len(github.pulls) == 1  # no duplicate
    head = git.Repo(remote).commit("gitbot/all")
    assert head.hexsha != first and head.parents[0].hexsha == git.Repo(remote).commit("main").hexsha


def test_a_human_commit_on_the_branch_is_never_overwritten(checkout, github, tmp_path) -> None:
    work, remote = checkout
    run(work, github)
    other = tmp_path / "alice"
    clone = git.Repo.clone_from(str(remote), str(other), branch="gitbot/all")
    (other / "NOTES.md").write_text("keep the cart limit\n")
    clone.git.add(A=True)
    actor = git.Actor("Alice", "alice@example.com")
    human = clone.index.commit("a note", author=actor, committer=actor)
    clone.git.push("origin", "gitbot/all")
    # a new proposal exists (main moved), but the branch has Alice's commit
    repo = git.Repo(work)
    (work / "apps/cart/deployment.yaml").write_text((work / "apps/cart/deployment.yaml").read_text().replace("memory: 512Mi", "memory: 384Mi"))
    repo.git.add(A=True)
    repo.index.commit("main moves", author=actor, committer=actor)
    repo.git.push("origin", "main")
    for _ in range(2):
        _, outcomes = run(work, github)
        assert [o.action for o in outcomes] == ["waiting"]
        assert "Alice <alice@example.com>" in outcomes[0].detail
    assert git.Repo(remote).commit("gitbot/all").hexsha == human.hexsha
    comments = github.comments[1]
    assert len(comments) == 1  # said once, not on every run
    assert "has commits it did not make" in comments[0].body and human.hexsha[:12] in comments[0].body


def test_a_declined_proposal_is_not_reopened(checkout, github) -> None:
    work, _ = checkout
    run(work, github)
    github.close_pull(1)
    github.clear_requests()
    _, outcomes = run(work, github)
    assert [(o.action, o.number) for o in outcomes] == [("declined", 1)]
    assert outcomes[0].detail == "#1 was closed unmerged; the same proposal"
    assert github.calls() == ["GET /repos/acme/gitops", "GET /repos/acme/gitops/pulls"]
    assert len(github.pulls) == 1


def test_nothing_to_propose_closes_the_open_pull_request(checkout, github) -> None:
    work, _ = checkout
    proposals, _ = run(work, github)
    # the proposal is merged into main by hand: afterwards there is nothing left to propose
    repo = git.Repo(work)
    for change in proposals[0].changes.files:
        (work / change.path).write_text(change.after)
    repo.git.add(A=True)
    actor = git.Actor("Alice", "alice@example.com")
    repo.index.commit("apply gitbot's proposal", author=actor, committer=actor)
    repo.git.push("origin", "main")
    github.clear_requests()
    _, outcomes = run(work, github)
    assert [(o.action, o.number) for o in outcomes] == [("closed", 1)]
    assert github.calls() == [
        "GET /repos/acme/gitops", "GET /repos/acme/gitops/pulls", "POST /repos/acme/gitops/issues/1/comments",
        "PATCH /repos/acme/gitops/pulls/1",
    ]
    assert github.pulls[1].state == "closed"


def test_dry_run_makes_no_request_and_pushes_nothing(checkout, github) -> None:
    work, remote = checkout
    proposals, outcomes = run(work, github, dry_run=True)
    assert outcomes == [] and github.calls() == []
    assert [h.name for h in git.Repo(remote).heads] == ["main"]
    assert proposals[0].scope.branch == "gitbot/all" and len(proposals[0].changes.files) == 15


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        (403, "GitHub: cannot open a pull request from gitbot/all: 403 Resource not accessible by integration: the token needs "
              "contents: write and pull-requests: write (in Actions, also allow GitHub Actions to create pull requests in "
              "the repository settings)"),
        (422, "GitHub: cannot open a pull request from gitbot/all: 422 Validation Failed: No commits between main and gitbot/all"),
    ],
)
def test_github_refusals_are_one_line_errors(checkout, github, status: int, expected: str) -> None:
    work, _ = checkout
    body = {"message": "Resource not accessible by integration"} if status == 403 else {
        "message": "Validation Failed", "errors": [{"resource": "PullRequest", "code": "custom", "message": "No commits between main and gitbot/all"}],
    }
    github.fail_next("POST", "/repos/acme/gitops/pulls", status, body)
    with pytest.raises(PublishError) as info:
        run(work, github)
    assert str(info.value) == expected and info.value.exit_code == 5


def test_bad_credentials_and_rate_limits(checkout, github) -> None:
    work, _ = checkout
    with pytest.raises(PublishError) as info:
        run(work, github, token="wrong-token")
    assert str(info.value) == (
        "GitHub: cannot read the repository: 401 Bad credentials: the token is missing, expired or revoked "
        "(GITBOT_GITHUB_TOKEN / GITHUB_TOKEN)"
    )
    # a secondary rate limit with Retry-After is waited out and retried
    github.clear_requests()
    github.rate_limit_next("POST", "/repos/acme/gitops/pulls", secondary=True, retry_after=1)
    _, outcomes = run(work, github)
    assert [o.action for o in outcomes] == ["created"]
    assert github.calls().count("POST /repos/acme/gitops/pulls") == 2


def test_an_unreachable_remote_is_a_publish_error_without_credentials(checkout, github) -> None:
    work, _ = checkout
    git.Repo(work).remote("origin").set_url(f"https://x-access-token:{TOKEN}@127.0.0.1:9/acme/gitops.git")
    with pytest.raises(PublishError) as info:
        run(work, github)
    message = str(info.value)
    assert message.startswith("git fetch failed: 'fatal: unable to access 'https://127.0.0.1:9/acme/gitops.git/': Failed to connect to 127.0.0.1 port 9")
    assert TOKEN not in message
    assert github.calls() == []  # git is asked first: no pull request without its branch


def test_a_rejected_push_is_a_publish_error(checkout, github) -> None:
    work, remote = checkout
    hook = remote / "hooks" / "pre-receive"
    hook.write_text("#!/bin/sh\necho 'branch protection: gitbot/* is read-only' >&2\nexit 1\n")
    hook.chmod(0o755)
    with pytest.raises(PublishError) as info:
        run(work, github)
    assert str(info.value).startswith("git push failed: ")
    assert "branch protection: gitbot/* is read-only" in str(info.value) and "pre-receive hook declined" in str(info.value)
    assert [h.name for h in git.Repo(remote).heads] == ["main"]
    assert "POST /repos/acme/gitops/pulls" not in github.calls()
