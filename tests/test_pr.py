"""gitbot pr against real git (a clone with a bare remote in temp dirs) and the local GitHub stand-in.

The repository is the demo repo; with ``scope: repository`` it gives one pull request (branch
``gitbot/all``), which keeps the request logs short enough to assert exactly. The dashboard issue is
off here (tests/test_pr_dashboard.py covers it, and the caps, with every scope of the demo).
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Iterator

import pytest

git = pytest.importorskip("git")

from git_remote import clone_of_new_origin  # noqa: E402
from github_standin import GitHubStandIn  # noqa: E402

from gitbot.errors import PublishError  # noqa: E402
from gitbot.pipeline import PlanRequest, PullRequestRun, pull_requests  # noqa: E402
from gitbot.publish.proposal import read_marker  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
DEMO = ROOT / "fixtures" / "demo-repo"
METRICS = ROOT / "fixtures" / "demo-metrics.om.gz"
TOKEN = "ghs_s3cr3tT0kenValue"
BOT = ("gitbot[bot]", "gitbot[bot]@users.noreply.github.com")
CONFIG = "pull_requests:\n  scope: repository\n  labels: [resources]\n  reviewers: [alice]\n  dashboard: false\n"


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
    return clone_of_new_origin(source, tmp_path, "demo")


def push_as_alice(work: Path, message: str, branch: str = "main") -> object:
    """Commit everything in ``work`` as Alice and push it to ``branch``; the commit."""
    repo = git.Repo(work)
    repo.git.add(A=True)
    actor = git.Actor("Alice", "alice@example.com")
    commit = repo.index.commit(message, author=actor, committer=actor)
    repo.git.push("origin", f"HEAD:{branch}")
    return commit


def run(work: Path, github: GitHubStandIn, **extra: object) -> tuple[list, list]:
    options = dict(repository="acme/gitops", api_url=github.base_url, token=TOKEN, base="main", throttle=False)
    options.update(extra)
    result = pull_requests(PlanRequest(repo=work, metrics_file=METRICS), PullRequestRun(**options))  # type: ignore[arg-type]
    return result.proposals, result.outcomes


def test_first_run_opens_one_pull_request_and_a_second_run_changes_nothing(checkout, github) -> None:
    work, remote = checkout
    proposals, outcomes = run(work, github)
    assert [(o.action, o.branch, o.number) for o in outcomes] == [("created", "gitbot/all", 1)]
    assert github.calls() == [
        "GET /repos/acme/gitops",
        "GET /repos/acme/gitops/pulls",  # gitbot/all's pull requests
        "GET /repos/acme/gitops/pulls",  # the open ones, counted against max_open (5)
        "POST /repos/acme/gitops/pulls",
        "POST /repos/acme/gitops/issues/1/labels",
        "POST /repos/acme/gitops/pulls/1/requested_reviewers",
    ]
    assert [r.query for r in github.requests[1:3]] == [
        {"state": ["all"], "head": ["acme:gitbot/all"], "per_page": ["100"]}, {"state": ["open"], "per_page": ["100"]}]
    created = next(r for r in github.requests if r.method == "POST" and r.path.endswith("/pulls"))
    assert created.body["head"] == "gitbot/all" and created.body["base"] == "main"
    assert created.body["title"] == "gitbot: fixes 14 OOM kills, adds missing CPU requests, raises resources of 3 containers and saves $66.79/month in the repository"
    pull = github.pulls[1]
    assert pull.labels == ["resources"] and pull.requested_reviewers == ["alice"]
    marker = read_marker(pull.body)
    assert marker is not None and marker["scope"] == "all" and marker["fingerprint"] == proposals[0].fingerprint
    assert pull.body.splitlines()[1] == "## gitbot: fixes 14 OOM kills, adds missing CPU requests, raises resources of 3 containers and saves $66.79/month"

    # the branch on the remote: one commit by the bot on top of main, holding exactly the plan's edits
    bare = git.Repo(remote)
    head = bare.commit("gitbot/all")
    assert (head.author.name, head.author.email) == BOT and (head.committer.name, head.committer.email) == BOT
    assert head.message.splitlines()[:5] == [
        "Fixes 14 OOM kills, adds missing CPU requests, raises resources of 3 containers and saves $66.79/month in the repository", "",
        "15 container(s) in 13 file(s): 4 increase(s), +$27.85; 11 decrease(s), −$94.64.",
        "Monthly cost of requests: $367.83 → $301.04 (−$66.79).",
        "Proposed by gitbot from observed usage; see the pull request for the numbers.",
    ]
    assert [p.hexsha for p in head.parents] == [bare.commit("main").hexsha]
    changed = sorted(d.b_path or d.a_path for d in head.parents[0].diff(head))
    assert changed == sorted(c.path for c in proposals[0].changes.files) and len(changed) == 13
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
    path = work / "apps/cart/deployment.yaml"
    path.write_text(path.read_text().replace("memory: 512Mi", "memory: 384Mi"))
    push_as_alice(work, "cart: smaller limit")
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
    git.Repo.clone_from(str(remote), str(other), branch="gitbot/all")
    (other / "NOTES.md").write_text("keep the cart limit\n")
    human = push_as_alice(other, "a note", branch="gitbot/all")
    # a new proposal exists (main moved), but the branch has Alice's commit
    (work / "apps/cart/deployment.yaml").write_text((work / "apps/cart/deployment.yaml").read_text().replace("memory: 512Mi", "memory: 384Mi"))
    push_as_alice(work, "main moves")
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
    for change in proposals[0].changes.files:
        (work / change.path).write_text(change.after)
    push_as_alice(work, "apply gitbot's proposal")
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
    assert proposals[0].scope.branch == "gitbot/all" and len(proposals[0].changes.files) == 13


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        (403, "GitHub: cannot open a pull request from gitbot/all: 403 Resource not accessible by integration: the token needs "
              "contents: write and pull-requests: write (in Actions, also allow GitHub Actions to create pull requests in "
              "the repository settings)"),
        (422, "GitHub: cannot open a pull request from gitbot/all: 422 Validation Failed: No commits between main and gitbot/all"),
    ],
)
def test_github_refusals_are_one_line_reasons_of_the_scope(checkout, github, status: int, expected: str) -> None:
    """The scope fails with the reason (other scopes would go on: tests/test_pr_dashboard.py)."""
    work, _ = checkout
    body = {"message": "Resource not accessible by integration"} if status == 403 else {
        "message": "Validation Failed", "errors": [{"resource": "PullRequest", "code": "custom", "message": "No commits between main and gitbot/all"}],
    }
    github.fail_next("POST", "/repos/acme/gitops/pulls", status, body)
    _, outcomes = run(work, github)
    assert [(o.action, o.number, o.detail) for o in outcomes] == [("failed", None, expected)]


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
    _, outcomes = run(work, github)
    assert [o.action for o in outcomes] == ["failed"]
    assert outcomes[0].detail.startswith("git push failed: ")
    assert "branch protection: gitbot/* is read-only" in outcomes[0].detail and "pre-receive hook declined" in outcomes[0].detail
    assert [h.name for h in git.Repo(remote).heads] == ["main"]
    assert "POST /repos/acme/gitops/pulls" not in github.calls()


# -- gitbot review -------------------------------------------------------------------------------

CART = "apps/cart/deployment.yaml"


def open_pull(work: Path, github: GitHubStandIn, head: str = "alice/cart", file: str = CART,
              edits: tuple[tuple[str, str], ...] = (("memory: 256Mi", "memory: 1Gi"), ("memory: 512Mi", "memory: 2Gi"))) -> int:
    """By default Alice raises cart's memory (request 256Mi -> 1Gi on line 21, limit 512Mi -> 2Gi on
    line 23) on a branch; the checkout is left on it, as actions/checkout leaves a pull request's code."""
    repo = git.Repo(work)
    repo.git.checkout("-b", "alice/cart")
    path = work / file
    text = path.read_text()
    for old, new in edits:
        text = text.replace(old, new)
    path.write_text(text)
    commit = push_as_alice(work, "more memory", branch="alice/cart")
    patch = repo.git.diff("origin/main", "HEAD", "--", file).split("\n@@", 1)[1]
    number = github.add_pull(head, base="main", title="more memory", user="alice", head_sha=commit.hexsha)
    github.set_files(number, [{"filename": file, "patch": "@@" + patch}])
    return number


def review_run(work: Path, github: GitHubStandIn, number: int):
    from gitbot.pipeline import review

    run_options = PullRequestRun(repository="acme/gitops", api_url=github.base_url, token=TOKEN, throttle=False)
    return review(PlanRequest(repo=work, metrics_file=METRICS), run_options, number)


def test_review_comments_on_the_lines_the_pull_request_adds(checkout, github) -> None:
    work, _ = checkout
    number = open_pull(work, github)
    outcome = review_run(work, github, number)
    assert (outcome.findings, outcome.comments, outcome.in_summary, outcome.summary) == (2, 2, 0, "created")
    assert github.calls() == [
        "GET /repos/acme/gitops", f"GET /repos/acme/gitops/pulls/{number}", f"GET /repos/acme/gitops/pulls/{number}/files",
        f"GET /repos/acme/gitops/pulls/{number}/reviews", f"POST /repos/acme/gitops/pulls/{number}/reviews",
        f"GET /repos/acme/gitops/issues/{number}/comments", f"POST /repos/acme/gitops/issues/{number}/comments",
    ]
    (posted,) = github.reviews[number]
    assert posted.event == "COMMENT" and posted.commit_id == git.Repo(work).head.commit.hexsha
    comments = [(c.path, c.line, c.side) for c in posted.comments]
    assert comments == [(CART, 21, "RIGHT"), (CART, 23, "RIGHT")]
    request_line, limit_line = (c.body for c in posted.comments)
    # gitbot would also add a CPU request above the memory request: the suggestion holds both lines
    assert request_line == (
        "**gitbot** for `shop/Deployment/cart` `cart`: cpu req — → 155m (p97 of the 7-day forecast 154m); mem req 1Gi → 160Mi "
        "(p99 of the 7-day forecast 159.61Mi, no margin: the limit covers the peak). Usage: 8064 samples over 14d from 2 pods "
        "(100% coverage); CPU: daily cycle (autocorrelation 0.90), median level 80m; model alone: sMAPE 5.0% vs 5.2% for ½(model + a day earlier) "
        "on the last 5 days; memory: median level 143.41Mi; model alone: sMAPE 3.3% vs 3.7% for ½(model + a day earlier) on the last "
        "5 days.\n\n"
        "```suggestion\n            cpu: 155m\n            memory: 160Mi\n```"
    )
    assert limit_line == (
        "**gitbot** for `shop/Deployment/cart` `cart`: mem lim 2Gi → 256Mi (max(request x1, peak 179.83Mi +20%); at most -50% of "
        "the 512Mi the pods ran with). Usage: 8064 samples over 14d from 2 pods (100% coverage); "
        "CPU: daily cycle (autocorrelation 0.90), median level 80m; model alone: sMAPE 5.0% vs 5.2% for ½(model + a day earlier) "
        "on the last 5 days; memory: median level 143.41Mi; model alone: sMAPE 3.3% vs 3.7% for ½(model + a day earlier) on the last "
        "5 days.\n\n```suggestion\n            memory: 256Mi\n```"
    )
    (summary,) = github.comments[number]
    head = git.Repo(work).head.commit.hexsha[:12]
    assert summary.body == (
        "<!-- gitbot:review-summary -->\n## gitbot: resources in this pull request\n\n"
        "As written, this pull request changes the monthly cost of requests by **+$4.58**; with gitbot's suggestions, by **+$6.50**.\n\n"
        "| Workload | Before | As written | As suggested |\n|---|---:|---:|---:|\n"
        "| `shop/Deployment/cart` | $1.53 | $6.11 | $8.03 |\n"
        "| **Total** | **$1.53** | **$6.11** | **$8.03** |\n\n"
        f"2 suggestion(s) for the lines this pull request adds.\n\n<sub>Checked at {head}.</sub>\n"
    )

    # a re-run (e.g. a new push) posts no duplicate comments and edits the summary in place
    github.clear_requests()
    again = review_run(work, github, number)
    assert (again.comments, again.summary) == (0, "updated")
    assert len(github.reviews[number]) == 1 and len(github.comments[number]) == 1
    assert [c for c in github.calls() if not c.startswith("GET")] == [f"PATCH /repos/acme/gitops/issues/comments/{summary.id}"]


def test_review_of_a_fork_pull_request_uses_annotations(checkout, github) -> None:
    work, _ = checkout
    number = open_pull(work, github, head="mallory:alice/cart")
    outcome = review_run(work, github, number)
    assert outcome.summary == "" and outcome.comments == 0
    assert [a.split("::")[1] for a in outcome.annotations] == [f"warning file={CART},line=21,title=gitbot", f"warning file={CART},line=23,title=gitbot"]
    assert [c for c in github.calls() if not c.startswith("GET")] == []  # nothing written with a fork's token


def test_review_only_comments_on_lines_the_pull_request_adds(checkout, github) -> None:
    """GitHub's patch for the file changes only the limit line: the request line is not the pull
    request's, so gitbot says nothing about it."""
    work, _ = checkout
    number = open_pull(work, github)
    github.set_files(number, [{"filename": CART, "patch": "@@ -23 +23 @@\n-            memory: 512Mi\n+            memory: 2Gi"}])
    outcome = review_run(work, github, number)
    assert (outcome.findings, outcome.comments, outcome.in_summary) == (1, 1, 0)
    (posted,) = github.reviews[number]
    assert [(c.path, c.line) for c in posted.comments] == [(CART, 23)]


def test_review_comments_outside_the_hunks_or_over_the_cap_go_to_the_summary() -> None:
    from gitbot.publish.review import Finding, changed_file, placeable

    files = [changed_file("a.yaml", "@@ -10,3 +10,4 @@\n ctx\n-old\n+new\n+added\n ctx")]
    assert files[0].added == {11, 12} and files[0].in_hunks == {10, 11, 12, 13}
    found = [Finding("a.yaml", line, "w", "c", f"t{line}", None, f"k{line}") for line in (11, 12, 40)]
    inline, summary = placeable(found, files, already={"k12"}, cap=5)
    assert [f.line for f in inline] == [11] and [f.line for f in summary] == [40]  # k12 was posted before
    inline, summary = placeable(found, files, already=set(), cap=1)
    assert [f.line for f in inline] == [11] and [f.line for f in summary] == [12, 40]


def test_server_errors_are_retried_then_reported_without_the_token(checkout, github) -> None:
    work, _ = checkout
    github.fail_next("GET", "/repos/acme/gitops", 502, body={"message": f"bad gateway for token {TOKEN}"}, times=10)
    with pytest.raises(PublishError) as info:
        run(work, github)
    assert TOKEN not in str(info.value)
    assert str(info.value).startswith("GitHub: cannot read the repository: ")
    assert github.calls() == ["GET /repos/acme/gitops"] * 4  # the first try and 3 retries


def test_a_primary_rate_limit_longer_than_the_wait_is_reported_with_its_reset(checkout, github) -> None:
    work, _ = checkout
    github.rate_limit_next("GET", "/repos/acme/gitops")  # resets a minute from now
    with pytest.raises(PublishError) as info:
        run(work, github, max_wait_seconds=0.5)
    assert str(info.value).startswith("GitHub: cannot read the repository: 403 rate limited (API rate limit exceeded for installation ID 1.)")
    assert "resets at unix time" in str(info.value)
    assert github.calls() == ["GET /repos/acme/gitops"]


def test_a_closed_proposal_comes_back_when_values_move_past_the_threshold(checkout, github) -> None:
    """A person closed an earlier proposal whose values were 40% away from today's: that is past the
    10% threshold, so a new pull request is opened; one 5% away would stay declined."""
    import json as _json

    work, _ = checkout
    proposals, _ = run(work, github, dry_run=True)
    values = proposals[0].values
    for factor, expected in ((1.4, "created"), (1.05, "declined")):
        old = {k: int(v * factor) if v else v for k, v in values.items()}
        marker = _json.dumps({"scope": "all", "fingerprint": "0" * 16, "values": old}, sort_keys=True)
        number = github.add_pull("gitbot/all", body=f"<!-- gitbot:pr {marker} -->\\nold", state="closed")
        _, outcomes = run(work, github)
        assert [o.action for o in outcomes] == [expected]
        if expected == "created":
            github.close_pull(outcomes[0].number)  # out of the way for the next round
        assert number in github.pulls


def test_a_long_body_is_cut_below_the_limit_with_a_note() -> None:
    from gitbot.pipeline import PullRequestRun as Run, proposals
    from gitbot.publish.proposal import TRUNCATED, build

    _, found = proposals(PlanRequest(repo=DEMO, metrics_file=METRICS), Run(scope="repository", dry_run=True))
    p = found[0]
    assert len(p.body) < 65_536 and not p.body.endswith(TRUNCATED)
    for limit in (16_000, 2_000):  # without the diff; then without the tail of the details too
        cut = build(p.scope, p.document, p.changes, limit=limit)
        assert len(cut.body) <= limit and cut.body.endswith(TRUNCATED)
        assert "```diff" not in cut.body
        marker = read_marker(cut.body)  # never cut; past a quarter of the limit it leaves the values out
        assert marker is not None and (marker["scope"], marker["fingerprint"]) == ("all", p.fingerprint)
        assert ("values" in marker) == (limit == 16_000)


def test_scopes_split_the_demo_into_pull_requests_per_app_or_environment() -> None:
    from gitbot.pipeline import PullRequestRun as Run, proposals

    def split(mode: str) -> dict[str, list[str]]:
        _, found = proposals(PlanRequest(repo=DEMO, metrics_file=METRICS), Run(scope=mode, dry_run=True))
        return {p.scope.branch: [c.path for c in p.changes.files] for p in found}

    # per environment: the search chart's two releases go to their own environment's values file
    assert split("environment") == {
        "gitbot/production": [
            "apps/cart/deployment.yaml", "apps/image-resizer/deployment.yaml", "apps/legacy-admin/deployment.yaml",
            "apps/node-agent/daemonset.yaml", "apps/reports/cronjob.yaml", "apps/storefront/deployment.yaml",
            "charts/search/values-production.yaml", "platform/checkout/overlays/production/api-resources.yaml",
            "platform/pricing-engine/base/deployment.yaml",
        ],
        "gitbot/staging": [
            "charts/search/values-staging.yaml", "platform/checkout/base/deployment.yaml",
            "platform/checkout/overlays/staging/gitbot-resources.yaml", "platform/checkout/overlays/staging/kustomization.yaml",
        ],
    }
    # per directory (the default): one per app; the checkout base line only staging renders from
    # (production's api values come from its own patch) is in staging's pull request
    by_directory = split("directory")
    assert list(by_directory) == [
        "gitbot/apps-cart", "gitbot/apps-image-resizer", "gitbot/apps-legacy-admin", "gitbot/apps-node-agent",
        "gitbot/apps-reports", "gitbot/apps-storefront", "gitbot/charts-search", "gitbot/platform-checkout-overlays-production",
        "gitbot/platform-checkout-overlays-staging", "gitbot/platform-pricing-engine-overlays-production",
    ]
    assert by_directory["gitbot/charts-search"] == ["charts/search/values-production.yaml", "charts/search/values-staging.yaml"]


def test_review_follows_a_values_file_to_the_release_it_sizes(checkout, github) -> None:
    """The pull request raises the production search index's memory request in its Helm values file
    (line 7); the comment lands there, with the line as gitbot would write it."""
    work, _ = checkout
    values = "charts/search/values-production.yaml"
    number = open_pull(work, github, file=values, edits=(("      memory: 4Gi\n    limits", "      memory: 8Gi\n    limits"),))
    outcome = review_run(work, github, number)
    assert (outcome.findings, outcome.comments) == (1, 1)
    ((comment,),) = [r.comments for r in github.reviews[number]]
    assert (comment.path, comment.line, comment.side) == (values, 7, "RIGHT")
    assert comment.body.startswith("**gitbot** for `search-prod/StatefulSet/search-index` `index`: mem req 8Gi → ")
    assert comment.body.endswith("```suggestion\n      memory: 2813Mi\n```")  # p99 of the forecast, no margin under the limit


def test_a_dirty_checkout_is_refused_unless_allowed(checkout, github) -> None:
    from gitbot.errors import InputError

    work, remote = checkout
    path = work / CART
    path.write_text(path.read_text().replace("memory: 512Mi", "memory: 500Mi"))
    with pytest.raises(InputError) as info:
        run(work, github)
    assert str(info.value) == f"{work}: uncommitted changes ({CART}); commit or stash them, or pass --allow-dirty"
    assert github.calls() == [] and [h.name for h in git.Repo(remote).heads] == ["main"]
