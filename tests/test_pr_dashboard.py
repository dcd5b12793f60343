"""gitbot pr's caps, isolation and dashboard issue, against real git and the local GitHub stand-in.

The demo repository split per directory gives ten scopes: enough for ``max_open``, the threshold
and one scope's failure not stopping the others. The dashboard's life (created, left alone,
a box ticked by a person and acted on, a skip held then released) runs with ``scope: repository``,
whose request logs are short enough to assert exactly.
"""

from __future__ import annotations

import functools
import json
import shutil
from decimal import Decimal
from pathlib import Path
from types import SimpleNamespace
from typing import Any, Iterator

import pytest

git = pytest.importorskip("git")

from click.testing import CliRunner  # noqa: E402
from git_remote import clone_of_new_origin  # noqa: E402
from github_standin import GitHubStandIn  # noqa: E402

from gitbot import cli  # noqa: E402
from gitbot.config import PullRequestConfig, parse_config  # noqa: E402
from gitbot.errors import InputError, PublishError  # noqa: E402
from gitbot.pipeline import PlanRequest, PullRequestResult, PullRequestRun, pull_requests  # noqa: E402
from gitbot.publish import dashboard  # noqa: E402
from gitbot.publish.dashboard import Board, Row  # noqa: E402
from gitbot.publish.github import Decoration, IssueInfo  # noqa: E402
from gitbot.publish.pr import Outcome, _decorate  # noqa: E402
from gitbot.publish.proposal import Proposal  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
DEMO = ROOT / "fixtures" / "demo-repo"
METRICS = ROOT / "fixtures" / "demo-metrics.om.gz"
TOKEN = "ghs_s3cr3tT0kenValue"
REPO = "/repos/acme/gitops"
PER_DIRECTORY = """pull_requests:
  labels: [resources]
  reviewers: [alice]
  max_open: 3
  min_monthly_delta_usd: 10
  labels_by_intent:
    fixes-oom: [risk/oom]
"""
WHOLE = "pull_requests:\n  scope: repository\n  labels: [resources]\n  reviewers: [alice]\n"
SCOPES = [
    "apps-cart", "apps-image-resizer", "apps-legacy-admin", "apps-node-agent", "apps-reports", "apps-storefront", "charts-search",
    "platform-checkout-overlays-production", "platform-checkout-overlays-staging", "platform-pricing-engine-overlays-production",
]


@pytest.fixture
def github() -> Iterator[GitHubStandIn]:
    with GitHubStandIn("acme/gitops", token=TOKEN) as gh:
        yield gh
    assert gh.internal_errors == []


def checkout(tmp_path: Path, config: str) -> Path:
    """A clone of a bare ``origin`` holding the demo repo on main, with ``config`` added to its .gitbot.yaml."""
    source = tmp_path / "source"
    shutil.copytree(DEMO, source)
    (source / ".gitbot.yaml").write_text((DEMO / ".gitbot.yaml").read_text() + config)
    return clone_of_new_origin(source, tmp_path, "demo")[0]


def run(work: Path, github: GitHubStandIn, **extra: Any) -> PullRequestResult:
    options = dict(repository="acme/gitops", api_url=github.base_url, token=TOKEN, base="main", throttle=False)
    options.update(extra)
    return pull_requests(PlanRequest(repo=work, metrics_file=METRICS), PullRequestRun(**options))  # type: ignore[arg-type]


def actions(result: PullRequestResult) -> dict[str, tuple[str, int | None]]:
    return {o.scope: (o.action, o.number) for o in result.outcomes}


def created(number: int) -> list[str]:
    return [f"POST {REPO}/pulls", f"POST {REPO}/issues/{number}/labels", f"POST {REPO}/pulls/{number}/requested_reviewers"]


FIND_DASHBOARD = [f"GET {REPO}/issues", f"GET {REPO}/issues"]  # by its label; then the open issues, for its marker
LIST_SCOPES = [f"GET {REPO}/pulls"] * len(SCOPES)  # each scope's pull requests (head=acme:gitbot/<scope>)


# -- caps and isolation ---------------------------------------------------------------------------


def test_cheap_proposals_wait_risk_fixes_do_not_and_at_most_max_open_are_open(tmp_path, github) -> None:
    """min_monthly_delta_usd 10, max_open 3: the OOM fix ($7.76) and the missing requests ($6.50) open
    although they are cheap; then the largest raise; the savings queue; the small ones are held back.
    Closing one frees a slot for the most urgent queued proposal."""
    work = checkout(tmp_path, PER_DIRECTORY)
    first = run(work, github)
    assert actions(first) == {
        "apps-cart": ("created", 2), "apps-image-resizer": ("created", 1), "apps-legacy-admin": ("queued", None),
        "apps-node-agent": ("below-threshold", None), "apps-reports": ("below-threshold", None),
        "apps-storefront": ("below-threshold", None), "charts-search": ("created", 3),
        "platform-checkout-overlays-production": ("queued", None), "platform-checkout-overlays-staging": ("below-threshold", None),
        "platform-pricing-engine-overlays-production": ("queued", None),
    }
    by_scope = {o.scope: o for o in first.outcomes}
    assert by_scope["apps-reports"].detail == "monthly delta +$0.18 is below min_monthly_delta_usd ($10.00)"
    # charts-search raises one container and saves $22.95 on the others: the larger move of the two raises
    assert [by_scope[s].detail for s in ("platform-pricing-engine-overlays-production", "apps-legacy-admin",
                                         "platform-checkout-overlays-production")] == [
        "1st in line: 3 of gitbot's pull requests are open (max_open 3)",  # a raise before savings,
        "3rd in line: 3 of gitbot's pull requests are open (max_open 3)",  # then the larger saving first
        "2nd in line: 3 of gitbot's pull requests are open (max_open 3)",
    ]
    assert github.calls() == [
        f"GET {REPO}", *FIND_DASHBOARD, *LIST_SCOPES, f"GET {REPO}/pulls",  # the open ones, counted against max_open
        *created(1), *created(2), *created(3), f"POST {REPO}/issues", f"POST {REPO}/issues/4/labels",
    ]
    requests = github.requests
    assert requests[13].query == {"state": ["open"], "per_page": ["100"]}
    assert [r.body["head"] for r in requests if r.method == "POST" and r.path == f"{REPO}/pulls"] == [
        "gitbot/apps-image-resizer", "gitbot/apps-cart", "gitbot/charts-search"]
    assert {n: (p.labels, p.requested_reviewers) for n, p in github.pulls.items()} == {
        1: (["resources", "risk/oom"], ["alice"]), 2: (["resources"], ["alice"]), 3: (["resources"], ["alice"])}
    # nothing is pushed for a proposal that waits or is held back
    assert sorted(h.name for h in git.Repo(tmp_path / "origin.git").heads) == [
        "gitbot/apps-cart", "gitbot/apps-image-resizer", "gitbot/charts-search", "main"]

    github.close_pull(3)  # a person declines the raise: its slot goes to the most urgent one waiting
    github.clear_requests()
    second = run(work, github)
    assert {s: a for s, a in actions(second).items() if a[0] not in ("below-threshold",)} == {
        "apps-cart": ("unchanged", 2), "apps-image-resizer": ("unchanged", 1), "apps-legacy-admin": ("queued", None),
        "charts-search": ("declined", 3), "platform-checkout-overlays-production": ("queued", None),
        "platform-pricing-engine-overlays-production": ("created", 5),
    }
    assert github.calls() == [
        f"GET {REPO}", f"GET {REPO}/issues", *LIST_SCOPES, f"GET {REPO}/pulls", *created(5),
        f"GET {REPO}/issues/4", f"PATCH {REPO}/issues/4",
    ]


def test_one_scope_failing_does_not_stop_the_others(tmp_path, github) -> None:
    """GitHub refuses to open the first (most urgent) pull request (403), then refuses a reviewer
    on the next one (422): that scope fails, the next is opened with a warning and keeps its label,
    the slot the failed one did not use goes to the next in line, and the run is partial."""
    work = checkout(tmp_path, PER_DIRECTORY)
    github.fail_next("POST", f"{REPO}/pulls", 403, {"message": "Resource not accessible by integration"})
    collaborators = "Reviews may only be requested from collaborators. One or more of the users or teams you specified is not a collaborator of the acme/gitops repository."
    github.fail_next("POST", f"{REPO}/pulls/1/requested_reviewers", 422, {"message": "Validation Failed", "errors": [collaborators]})
    result = run(work, github)
    by_scope = {o.scope: o for o in result.outcomes}
    assert {s: (o.action, o.number) for s, o in by_scope.items() if o.action not in ("below-threshold", "queued")} == {
        "apps-image-resizer": ("failed", None), "apps-cart": ("created", 1),
        "charts-search": ("created", 2), "platform-pricing-engine-overlays-production": ("created", 3),
    }
    assert by_scope["apps-image-resizer"].detail == (
        "GitHub: cannot open a pull request from gitbot/apps-image-resizer: 403 Resource not accessible by integration: the "
        "token needs contents: write and pull-requests: write (in Actions, also allow GitHub Actions to create pull requests "
        "in the repository settings)")
    assert by_scope["apps-cart"].warnings == (f"GitHub: cannot request reviewers on #1: 422 Validation Failed: {collaborators}",)
    assert github.calls() == [
        f"GET {REPO}", *FIND_DASHBOARD, *LIST_SCOPES, f"GET {REPO}/pulls", f"POST {REPO}/pulls",  # refused
        *created(1), *created(2), *created(3), f"POST {REPO}/issues", f"POST {REPO}/issues/4/labels",
    ]
    assert {n: (p.labels, p.requested_reviewers) for n, p in github.pulls.items()} == {
        1: (["resources"], []), 2: (["resources"], ["alice"]), 3: (["resources"], ["alice"])}
    assert result.failed == ["apps-image-resizer"]
    row = next(line for line in github.issues[4].body.splitlines() if line.startswith("| `apps-image-resizer`"))
    assert row.startswith("| `apps-image-resizer` | failed: GitHub: cannot open a pull request from gitbot/apps-image-resizer: 403 ")


def test_bad_credentials_stop_the_run_before_any_scope(tmp_path, github) -> None:
    work = checkout(tmp_path, WHOLE)
    with pytest.raises(PublishError) as info:
        run(work, github, token="wrong")
    assert str(info.value).startswith("GitHub: cannot read the repository: 401 Bad credentials")
    assert github.calls() == [f"GET {REPO}"]


def test_the_cli_exits_6_when_a_scope_failed_and_says_which(tmp_path, github, monkeypatch) -> None:
    work = checkout(tmp_path, WHOLE)
    github.fail_next("POST", f"{REPO}/pulls", 403, {"message": "Resource not accessible by integration"})
    monkeypatch.setattr(cli, "PullRequestRun", functools.partial(PullRequestRun, throttle=False))  # no pauses between requests
    runner = CliRunner(env={"GITBOT_GITHUB_TOKEN": TOKEN, "GITHUB_TOKEN": None, "GITHUB_OUTPUT": None, "GITHUB_STEP_SUMMARY": None})
    result = runner.invoke(cli.main, ["pr", str(work), "--metrics-file", str(METRICS), "--repo", "acme/gitops", "--base", "main",
                                      "--github-url", github.base_url, "--allow-partial"], catch_exceptions=False)
    assert result.exit_code == 6  # --allow-partial covers failed render targets only
    lines = result.stdout.splitlines()
    assert lines[0] == ("failed    gitbot/all: GitHub: cannot open a pull request from gitbot/all: 403 Resource not accessible by "
                        "integration: the token needs contents: write and pull-requests: write (in Actions, also allow GitHub "
                        "Actions to create pull requests in the repository settings)")
    assert lines[1].startswith("created   dashboard #1 https://github.com/acme/gitops/issues/1: 1 scope · 0 pull requests open · 1 failed · pending −$")
    assert len(lines) == 2
    assert "gitbot: partial: could not publish all (see above); the rest was done" in result.stderr.splitlines()


# -- the dashboard's life -------------------------------------------------------------------------


def expected_body(p: Proposal, pr_cell: str, refresh: str = " ", skip: str = " ") -> str:
    """The dashboard of the demo as one scope, below its marker line."""
    summary = p.document["summary"]
    delta = Decimal(summary["monthly_cost"]["delta_usd"])
    amount = f"−${-delta:,.2f}"
    is_open = "1 pull request open" if "[#1]" in pr_cell and "left as it is" not in pr_cell else "0 pull requests open"
    skipped = " · 1 skipped" if "skipped" in pr_cell else ""
    return (
        "## gitbot: right-sizing dashboard\n\n"
        f"1 scope · {is_open}{skipped} · pending {amount}/month\n\n"
        "| Scope | Pull request | Proposal | Monthly delta |\n|---|---|---|---:|\n"
        f"| `all` | {pr_cell} | {summary['by_status']['change']} containers in 13 files: `fixes-oom`, `adds-requests`, `raises`, "
        f"`saves` | {amount} |\n\n"
        "<details><summary>2 containers not sized</summary>\n\n"
        "| Scope | Workload | Container | Why |\n|---|---|---|---|\n"
        "| `all` | `shop/DaemonSet/node-agent` | `setup` | not enough data: 6 samples over 1h (needs 288 over 72h) |\n"
        "| `all` | `shop/DaemonSet/node-agent` | `fluent-bit` | exempt in config: sized by the logging team together with the "
        "vendor (ticket OPS-1432) |\n\n"
        "</details>\n\n"
        "### Steer the next run\n\n"
        "Tick a box; gitbot reads them when it next runs. **refresh** pushes and updates the scope's pull request even if "
        "nothing changed, or opens it now although it was queued, below the threshold or declined, then unticks the box. "
        "**skip … until usage moves** proposes nothing for the scope (an open pull request is left as it is) until a value "
        "moves more than 10% from the proposal as it was when gitbot first saw the box ticked; then gitbot unticks it and "
        "proposes again. Untick it to end the skip sooner.\n\n"
        f"- [{refresh}] refresh all\n"
        f"- [{skip}] skip all until usage moves\n\n"
        "<sub>gitbot opens a pull request for a monthly delta of at least $1.00 (risk fixes, `fixes-oom`, `adds-requests`, "
        "whatever their delta), at most 5 open at once. It rewrites this issue on every run: edit only the boxes.</sub>\n"
    )


def marker_of(body: str) -> dict[str, Any]:
    first = body.split("\n", 1)[0]
    assert first.startswith("<!-- gitbot:dashboard {") and first.endswith("} -->")
    return json.loads(first[len("<!-- gitbot:dashboard "):-len(" -->")])


def test_the_dashboard_is_created_kept_in_place_and_its_boxes_are_acted_on(tmp_path, github) -> None:
    work = checkout(tmp_path, WHOLE)
    link = "[#1](https://github.com/acme/gitops/pull/1)"

    # 1. first run: the pull request, then the dashboard (with its label, in a second request)
    first = run(work, github)
    p = first.proposals[0]
    assert [(o.action, o.number) for o in first.outcomes] == [("created", 1)]
    assert (first.dashboard.action, first.dashboard.number) == ("created", 2)
    assert github.calls() == [f"GET {REPO}", *FIND_DASHBOARD, f"GET {REPO}/pulls", f"GET {REPO}/pulls", *created(1),
                              f"POST {REPO}/issues", f"POST {REPO}/issues/2/labels"]
    assert [r.query for r in github.requests[1:3]] == [
        {"state": ["all"], "labels": ["gitbot-dashboard"], "sort": ["created"], "direction": ["asc"], "per_page": ["100"]},
        {"state": ["open"], "sort": ["updated"], "direction": ["desc"], "per_page": ["100"]},
    ]
    posted = github.requests[-2].body
    assert posted == {"title": "gitbot: right-sizing dashboard", "body": github.issues[2].body}
    assert github.requests[-1].body == ["gitbot-dashboard"]
    issue = github.issues[2]
    assert (issue.title, issue.labels, issue.state) == ("gitbot: right-sizing dashboard", ["gitbot-dashboard"], "open")
    body = issue.body
    assert body.split("\n", 1)[1] == expected_body(p, f"{link} open")
    skipped = [["shop/DaemonSet/node-agent", "setup", "not enough data: 6 samples over 1h (needs 288 over 72h)"],
               ["shop/DaemonSet/node-agent", "fluent-bit", "exempt in config: sized by the logging team together with the vendor (ticket OPS-1432)"]]
    proposal_cell = "15 containers in 13 files: `fixes-oom`, `adds-requests`, `raises`, `saves`"
    delta = p.document["summary"]["monthly_cost"]["delta_usd"]
    assert marker_of(body) == {"records": {}, "rows": {"all": ["open", f"{link} open", proposal_cell, delta, True, skipped]}}

    # 2. nothing changed: the dashboard is found by its label in one request, and not written
    github.clear_requests()
    second = run(work, github)
    assert [(o.action, o.number) for o in second.outcomes] == [("unchanged", 1)]
    assert (second.dashboard.action, second.dashboard.detail) == ("unchanged", "already up to date")
    assert github.calls() == [f"GET {REPO}", f"GET {REPO}/issues", f"GET {REPO}/pulls"]
    assert github.issues[2].body == body

    # 3. a person ticks "refresh": the pull request is updated although nothing changed, the box unticked
    github.edit_issue(2, body=body.replace("- [ ] refresh all", "- [x] refresh all").replace("\n", "\r\n"))  # the web UI's line ends
    github.clear_requests()
    third = run(work, github)
    assert [(o.action, o.number, o.detail) for o in third.outcomes] == [
        ("updated", 1, "the branch already had this commit; refreshed as asked on the dashboard")]
    assert github.calls() == [f"GET {REPO}", f"GET {REPO}/issues", f"GET {REPO}/pulls", f"PATCH {REPO}/pulls/1",
                              f"GET {REPO}/issues/2", f"PATCH {REPO}/issues/2"]
    assert github.requests[3].body == {"title": p.title, "body": p.body}
    assert github.requests[-1].body == {"body": github.issues[2].body}
    assert github.issues[2].body.split("\n", 1)[1] == expected_body(p, f"{link} open")

    # 4. a person ticks "skip until usage moves": no proposal, the pull request left as it is, the box stays ticked
    github.edit_issue(2, body=github.issues[2].body.replace("- [ ] skip all until usage moves", "- [x] skip all until usage moves"))
    github.clear_requests()
    fourth = run(work, github)
    assert [(o.action, o.number, o.detail) for o in fourth.outcomes] == [
        ("skipped", 1, "skipped on the dashboard until usage moves; its open pull request is left as it is")]
    assert github.calls() == [f"GET {REPO}", f"GET {REPO}/issues", f"GET {REPO}/pulls", f"GET {REPO}/issues/2", f"PATCH {REPO}/issues/2"]
    held = github.issues[2].body
    assert held.split("\n", 1)[1] == expected_body(p, f"skipped until usage moves; {link} left as it is", skip="x")
    assert marker_of(held)["records"] == {"all": {"fingerprint": p.fingerprint, "values": p.values}}

    # 5. usage has not moved: still skipped, nothing written
    github.clear_requests()
    fifth = run(work, github)
    assert [o.action for o in fifth.outcomes] == ["skipped"] and fifth.dashboard.action == "unchanged"
    assert github.calls() == [f"GET {REPO}", f"GET {REPO}/issues", f"GET {REPO}/pulls"]

    # 6. usage moved: the values recorded when the box was ticked are 40% away from today's proposal
    # (past reopen_threshold_pct 10): the skip ends, the box is unticked and the scope is proposed again
    moved = marker_of(held)
    moved["records"]["all"] = {"fingerprint": "0" * 16, "values": {k: int(v * 1.4) if v else v for k, v in p.values.items()}}
    github.edit_issue(2, body=f"<!-- gitbot:dashboard {json.dumps(moved)} -->\n" + held.split("\n", 1)[1])
    github.clear_requests()
    sixth = run(work, github)
    assert [(o.action, o.number) for o in sixth.outcomes] == [("unchanged", 1)]
    assert sixth.dashboard.detail.endswith("; skip ended (usage moved): all")
    assert github.calls() == [f"GET {REPO}", f"GET {REPO}/issues", f"GET {REPO}/pulls", f"GET {REPO}/issues/2", f"PATCH {REPO}/issues/2"]
    released = github.issues[2].body
    assert released.split("\n", 1)[1] == expected_body(p, f"{link} open")
    assert marker_of(released)["records"] == {}
    assert len(github.issues) == 1 and len(github.pulls) == 1  # one dashboard, one pull request, all along


def test_dashboard_off_and_dry_run(tmp_path, github) -> None:
    work = checkout(tmp_path, WHOLE + "  dashboard: false\n")
    result = run(work, github)
    assert result.dashboard is None and github.issues == {}
    assert not any("/issues" in c and "/labels" not in c for c in github.calls())
    github.clear_requests()
    preview = run(checkout(tmp_path / "other", WHOLE), github, dry_run=True)
    assert github.calls() == [] and preview.outcomes == []
    assert preview.dashboard is not None and preview.dashboard.action == "planned"
    assert "| `all` | to open (dry run) | 15 containers in 13 files: " in preview.dashboard.body


# -- the board without GitHub ---------------------------------------------------------------------

OPTIONS = PullRequestConfig()


class FakeIssues:
    """An in-memory ``Issues``: what was asked, and a hook for what a person does meanwhile."""

    def __init__(self, issue: IssueInfo | None, meanwhile: str | None = None) -> None:
        self.current = issue
        self.meanwhile = meanwhile  # the body a person saved while the run was busy
        self.log: list[tuple[str, Any]] = []

    def find_issue(self, label: str, marker: str) -> IssueInfo | None:
        self.log.append(("find", label))
        return self.current

    def issue(self, number: int) -> IssueInfo:
        self.log.append(("read", number))
        assert self.current is not None
        if self.meanwhile is not None:
            self.current = IssueInfo(number, self.current.state, self.current.title, self.meanwhile, self.current.url, self.current.labels)
        return self.current

    def create_issue(self, title: str, body: str) -> IssueInfo:
        self.log.append(("create", title))
        self.current = IssueInfo(7, "open", title, body, "https://github.com/acme/gitops/issues/7")
        return self.current

    def edit_issue(self, number: int, body: str) -> None:
        self.log.append(("edit", number))
        assert self.current is not None
        self.current = IssueInfo(number, self.current.state, self.current.title, body, self.current.url, self.current.labels)

    def add_labels(self, number: int, labels: list[str]) -> None:
        self.log.append(("label", tuple(labels)))


def mine(rows: dict[str, Row], refresh: frozenset[str] = frozenset(), skip: frozenset[str] = frozenset(),
         records: dict[str, Any] | None = None) -> Any:
    return dashboard._Mine(rows, refresh, skip, records or {})


ROW_A = Row("queued", "queued", "1 container in 1 file: `saves`", "-2.00", True)
ROW_B = Row("unchanged", "[#3](https://github.com/acme/gitops/pull/3) open", "2 containers in 1 file: `raises`", "4.50", True,
            (("shop/Deployment/b", "app", "not enough data"),))


def test_boxes_are_read_from_the_text_people_edit() -> None:
    body = dashboard.render({"a": ROW_A, "b": ROW_B}, {"b"}, {"a"}, {"a": {"fingerprint": "f"}}, OPTIONS)
    board = dashboard.read(IssueInfo(7, "open", "t", body.replace("- [ ] refresh a", "* [X] refresh `a`"), "u"))
    assert (board.refresh, board.skip) == ({"a", "b"}, {"a"})
    assert board.rows == {"a": ROW_A, "b": ROW_B} and board.records == {"a": {"fingerprint": "f"}}
    # a marker broken by hand costs the rows it held, not the run
    broken = dashboard.read(IssueInfo(7, "open", "t", body.replace('"rows": {', '"rows": {"c": [1], '), "u"))
    assert broken.rows == {"a": ROW_A, "b": ROW_B}
    assert dashboard.read(IssueInfo(7, "open", "t", "<!-- gitbot:dashboard {nope} -->\n- [x] skip a until usage moves", "u")).skip == {"a"}


def test_a_skip_holds_within_the_threshold_and_ends_past_it() -> None:
    class P:  # the parts of a Proposal the decision reads
        def __init__(self, slug: str, fingerprint: str, values: dict[str, int | None]) -> None:
            self.scope = type("S", (), {"slug": slug})()
            self.fingerprint, self.values = fingerprint, values

    recorded = {"fingerprint": "old", "values": {"w/c/cpu_request_m": 100, "w/c/memory_request_bytes": 1000}}
    board = Board(IssueInfo(7, "open", "t", "", "u"), frozenset({"r"}), frozenset({"held", "moved", "new"}),
                  {"held": recorded, "moved": recorded, "gone": recorded})
    proposals = [P("held", "a", {"w/c/cpu_request_m": 105, "w/c/memory_request_bytes": 1000}),  # 5%: holds
                 P("moved", "b", {"w/c/cpu_request_m": 120, "w/c/memory_request_bytes": 1000}),  # 20%: ends
                 P("new", "c", {"w/c/cpu_request_m": 1}), P("r", "d", {})]
    decision = dashboard.decide(board, proposals, 10)  # type: ignore[arg-type]
    assert decision.asks.held == {"held", "new"} and decision.asks.refresh == {"r"} and decision.released == {"moved"}
    assert decision.records == {"held": recorded, "new": {"fingerprint": "c", "values": {"w/c/cpu_request_m": 1}}}


def test_a_sharded_run_rewrites_only_its_own_scopes() -> None:
    """Shard 1 owns ``a``; ``b``'s row, its ticked box and its record come through untouched."""
    before = dashboard.render({"a": ROW_A, "b": ROW_B}, {"a", "b"}, {"b"}, {"b": {"fingerprint": "f"}}, OPTIONS)
    board = dashboard.read(IssueInfo(7, "open", "t", before, "u"))
    now = Row("created", "[#9](https://github.com/acme/gitops/pull/9) opened", ROW_A.proposal, ROW_A.delta, True)
    body = dashboard.compose(board, mine({"a": now}), OPTIONS, lambda slug: slug == "a")
    assert body == dashboard.render({"a": now, "b": ROW_B}, {"b"}, {"b"}, {"b": {"fingerprint": "f"}}, OPTIONS)
    # an unsharded run owns everything: a scope that is gone is dropped with its boxes
    assert dashboard.compose(board, mine({"a": now}), OPTIONS, lambda slug: True) == dashboard.render({"a": now}, set(), set(), {}, OPTIONS)


def fake_proposal(slug: str, delta: str) -> Any:
    """The parts of a Proposal a dashboard row reads."""
    document = {"containers": [], "summary": {"by_status": {"change": 1}, "monthly_cost": {"delta_usd": delta}}}
    return SimpleNamespace(scope=SimpleNamespace(slug=slug, branch=f"gitbot/{slug}"), document=document, empty=False,
                           changes=SimpleNamespace(files=["f.yaml"]), intents=("saves",), fingerprint=slug, values={})


def test_a_box_ticked_while_the_run_was_busy_is_kept() -> None:
    """The run acted on a's refresh; meanwhile a person ticked b's skip: both show in what is written."""
    before = dashboard.render({"a": ROW_A, "b": ROW_B}, {"a"}, set(), {}, OPTIONS)
    during = before.replace("- [ ] skip b until usage moves", "- [x] skip b until usage moves")
    host = FakeIssues(IssueInfo(7, "open", dashboard.TITLE, before, "https://github.com/acme/gitops/issues/7", ("gitbot-dashboard",)),
                      meanwhile=during)
    board = dashboard.load(host)  # type: ignore[arg-type]
    proposals = [fake_proposal("a", "-2.00"), fake_proposal("b", "4.50")]
    decision = dashboard.decide(board, proposals, 10)
    assert decision.asks.refresh == {"a"}
    outcomes = [Outcome("a", "gitbot/a", "updated", 2, "https://github.com/acme/gitops/pull/2", "refreshed"),
                Outcome("b", "gitbot/b", "unchanged", 3, "https://github.com/acme/gitops/pull/3", "")]
    written = dashboard.sync(host, board, decision, proposals, outcomes, OPTIONS, lambda slug: True)  # type: ignore[arg-type]
    assert written.action == "updated" and host.log == [("find", "gitbot-dashboard"), ("read", 7), ("edit", 7)]
    assert host.current is not None and host.current.body == written.body
    assert "- [ ] refresh a" in written.body and "- [x] skip b until usage moves" in written.body


def test_sync_creates_edits_in_place_and_leaves_a_closed_dashboard_closed() -> None:
    host = FakeIssues(None)
    empty = dashboard.Decision(dashboard.Asks(), {}, frozenset())
    assert dashboard.sync(host, Board(None), empty, [], [], OPTIONS, lambda s: True).action == "nothing"  # type: ignore[arg-type]
    assert host.log == []  # no scope at all: no issue to open
    first = dashboard.sync(host, Board(None), empty, [fake_proposal("a", "-2.00")],
                           [Outcome("a", "gitbot/a", "queued", None, None, "")], OPTIONS, lambda s: True)  # type: ignore[arg-type]
    assert (first.action, first.number) == ("created", 7)
    assert host.log == [("create", dashboard.TITLE), ("label", ("gitbot-dashboard",))]
    closed = dashboard.render({"a": ROW_A}, set(), set(), {}, OPTIONS).replace("pending", "stale")
    host = FakeIssues(IssueInfo(7, "closed", dashboard.TITLE, closed, "https://github.com/acme/gitops/issues/7"))
    board = dashboard.load(host)  # type: ignore[arg-type]
    written = dashboard.sync(host, board, empty, [], [], OPTIONS, lambda s: s != "a")  # type: ignore[arg-type]
    assert (written.action, written.number) == ("updated", 7)
    assert written.detail.endswith("; closed by a person, so not reopened")
    assert host.log == [("find", "gitbot-dashboard"), ("label", ("gitbot-dashboard",)), ("read", 7), ("edit", 7)]
    assert host.current is not None and host.current.state == "closed" and "pending" in host.current.body


# -- decorations ----------------------------------------------------------------------------------


class FakePulls:
    def __init__(self, refuse: str = "") -> None:
        self.refuse = refuse
        self.log: list[tuple[str, Any]] = []

    def _do(self, what: str, *args: Any) -> None:
        self.log.append((what, *args))
        if what == self.refuse:
            raise PublishError(f"GitHub: cannot {what}: 422 Validation Failed")

    def add_labels(self, number: int, labels: list[str]) -> None:
        self._do("add_labels", number, labels)

    def remove_label(self, number: int, label: str) -> None:
        self._do("remove_label", number, label)

    def request_reviewers(self, number: int, reviewers: list[str], teams: list[str]) -> None:
        self._do("request_reviewers", number, reviewers, teams)

    def add_assignees(self, number: int, assignees: list[str]) -> None:
        self._do("add_assignees", number, assignees)


def test_decorations_add_only_what_is_missing_and_drop_labels_of_intents_gone() -> None:
    options = parse_config({"pull_requests": {"labels": ["resources"], "reviewers": ["alice", "bob"], "team_reviewers": ["platform"],
                                              "assignees": ["carol"], "labels_by_intent": {"fixes-oom": ["risk/oom"], "saves": ["cost"]}}},
                           "x").pull_requests
    from gitbot.publish.pr import wanted

    want = wanted(options, ("saves",))
    assert want == Decoration(("resources", "cost"), ("alice", "bob"), ("platform",), ("carol",))
    have = Decoration(("Resources", "risk/oom", "keep-me"), ("Alice",), ("platform",), ("carol",))
    pulls = FakePulls()
    assert _decorate(pulls, 4, want, have, options) == ()  # type: ignore[arg-type]
    assert pulls.log == [("add_labels", 4, ["cost"]), ("remove_label", 4, "risk/oom"), ("request_reviewers", 4, ["bob"], [])]
    # a refused step is a warning, and the others still happen
    pulls = FakePulls(refuse="add_labels")
    warnings = _decorate(pulls, 4, want, Decoration(), options)  # type: ignore[arg-type]
    assert warnings == ("GitHub: cannot add_labels: 422 Validation Failed",)
    assert [entry[0] for entry in pulls.log] == ["add_labels", "request_reviewers", "add_assignees"]


# -- config ---------------------------------------------------------------------------------------


def test_pull_request_caps_in_the_config() -> None:
    config = parse_config({"pull_requests": {"min_monthly_delta_usd": "2.50", "max_open": 0, "dashboard": False,
                                             "labels_by_intent": {"fixes-oom": ["risk/oom"], "adds-requests": "risk/requests"}}},
                          ".gitbot.yaml").pull_requests
    assert (config.min_monthly_delta_usd, config.max_open, config.dashboard) == (Decimal("2.50"), 0, False)
    assert config.labels_by_intent == {"fixes-oom": ("risk/oom",), "adds-requests": ("risk/requests",)}
    default = parse_config({}, "x").pull_requests
    assert (default.min_monthly_delta_usd, default.max_open, default.dashboard, default.labels_by_intent) == (Decimal("1.00"), 5, True, {})
    assert parse_config({"pull_requests": {"min_monthly_delta_usd": 0.1}}, "x").pull_requests.min_monthly_delta_usd == Decimal("0.1")


@pytest.mark.parametrize(("data", "message"), [
    ({"min_monthly_delta_usd": -1}, "pull_requests.min_monthly_delta_usd: expected an amount of dollars of 0 or more, not -1"),
    ({"min_monthly_delta_usd": "lots"}, "pull_requests.min_monthly_delta_usd: expected an amount of dollars such as 1.00, not 'lots'"),
    ({"min_monthly_delta_usd": True}, "pull_requests.min_monthly_delta_usd: expected an amount of dollars such as 1.00, got a boolean"),
    ({"max_open": -1}, "pull_requests.max_open: expected a whole number, 0 or more (0: no cap)"),
    ({"max_open": 2.5}, "pull_requests.max_open: expected a whole number, 0 or more (0: no cap)"),
    ({"labels_by_intent": {"oom": ["x"]}}, "pull_requests.labels_by_intent.oom: unknown intent (one of: fixes-oom, adds-requests, raises, saves)"),
    ({"labels_by_intent": ["x"]}, "pull_requests.labels_by_intent: expected a mapping, got a list"),
    ({"dashboard": "yes"}, "pull_requests.dashboard: expected true or false, got a string"),
])
def test_bad_pull_request_caps_name_the_key(data: dict[str, Any], message: str) -> None:
    with pytest.raises(InputError) as info:
        parse_config({"pull_requests": data}, ".gitbot.yaml")
    assert str(info.value) == f"config .gitbot.yaml: {message}"


def test_outcome_actions_are_all_rendered() -> None:
    from gitbot.publish.pr import ACTIONS

    cells = {a: dashboard._pr_cell(Outcome("s", "gitbot/s", a, 3, "https://github.com/acme/gitops/pull/3", "why | not")) for a in ACTIONS}
    assert cells["failed"] == "failed: why \\| not"
    assert cells["waiting"] == "[#3](https://github.com/acme/gitops/pull/3) open, waiting: `gitbot/s` has commits gitbot did not make"
    assert dashboard._pr_cell(Outcome("s", "gitbot/s", "waiting", None, None, "")) == "waiting: `gitbot/s` has commits gitbot did not make"
    assert all(cells.values())


def test_the_github_side_of_caps_labels_and_the_dashboard(github) -> None:
    """GitHubPulls' own requests: the open pull requests in one listing, a label with a "/" removed
    with its name escaped, the dashboard found by label and edited in place."""
    from gitbot.publish.github import GitHubPulls

    number = github.add_pull("gitbot/all", body='<!-- gitbot:pr {"scope": "all"} -->')
    github.add_pull("alice/x")
    host = GitHubPulls("acme/gitops", TOKEN, github.base_url, throttle=False)
    assert [(p.number, p.branch) for p in host.open_pulls()] == [(2, "alice/x"), (1, "gitbot/all")]
    host.add_labels(number, ["resources", "risk/oom"])
    host.remove_label(number, "risk/oom")
    assert github.pulls[number].labels == ["resources"]
    issue = github.add_issue(dashboard.TITLE, body="<!-- gitbot:dashboard {} -->\nold", labels=["gitbot-dashboard"])
    found = host.find_issue(dashboard.LABEL, dashboard.MARKER)
    assert found is not None and (found.number, found.labels) == (issue, ("gitbot-dashboard",))
    host.edit_issue(issue, "<!-- gitbot:dashboard {} -->\nnew")
    assert github.issues[issue].body == "<!-- gitbot:dashboard {} -->\nnew"
    assert github.calls() == [
        f"GET {REPO}", f"GET {REPO}/pulls", f"POST {REPO}/issues/1/labels", f"DELETE {REPO}/issues/1/labels/risk%2Foom",
        f"GET {REPO}/issues", f"PATCH {REPO}/issues/3",
    ]


def test_a_dashboard_github_refuses_is_reported_and_the_pull_requests_go_on(tmp_path, github) -> None:
    work = checkout(tmp_path, WHOLE)
    github.fail_next("POST", f"{REPO}/issues", 403, {"message": "Resource not accessible by integration"})
    result = run(work, github)
    assert [(o.action, o.number) for o in result.outcomes] == [("created", 1)]
    assert result.dashboard is not None and (result.dashboard.action, result.dashboard.detail) == (
        "failed", "GitHub: cannot open gitbot's dashboard issue: 403 Resource not accessible by integration: the token needs "
                  "issues: write for the dashboard issue (or set pull_requests.dashboard: false)")
    assert result.failed == ["dashboard"] and github.issues == {}
