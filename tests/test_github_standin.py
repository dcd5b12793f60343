"""The GitHub stand-in (tests/github_standin.py) driven by real PyGithub: exact state, errors and
request sequences."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any

import github
import pytest
from github_standin import ChangedFile, GitHubStandIn, Hunk, ReviewComment, parse_hunks

TOKEN = "t0k3n"
REPO = "/repos/acme/gitops"

# Hunk 1: old lines 10-13, new lines 10-14. Hunk 2: old lines 30-31, new lines 31-32.
PATCH = (
    "@@ -10,4 +10,5 @@ spec:\n"
    "   containers:\n"
    "     resources:\n"
    "-      cpu: 500m\n"
    "+      cpu: 250m\n"
    "+      memory: 128Mi\n"
    "   limits:\n"
    "@@ -30,2 +31,2 @@ metadata:\n"
    "   name: web\n"
    "-  replicas: 3\n"
    "+  replicas: 2"
)
FILES = [ChangedFile("apps/web/deploy.yaml", PATCH),
         ChangedFile("apps/api/values.yaml", "@@ -1 +1 @@\n-a: 1\n+a: 2")]


def client(standin: GitHubStandIn, token: str = TOKEN, **kw: Any) -> github.Github:
    """PyGithub against the stand-in: no retries and no throttling unless asked for."""
    kw.setdefault("retry", None)
    return github.Github(base_url=standin.base_url, auth=github.Auth.Token(token),
                         seconds_between_requests=None, seconds_between_writes=None, **kw)


@pytest.fixture
def standin() -> Iterator[GitHubStandIn]:
    with GitHubStandIn() as s:
        yield s
    assert s.internal_errors == []


@pytest.fixture
def repo(standin: GitHubStandIn) -> Any:
    return client(standin).get_repo("acme/gitops")


def raw_get(standin: GitHubStandIn, path: str,
            token: str | None = TOKEN) -> tuple[int, dict[str, str], Any]:
    """``(status, headers, JSON body)`` of a plain GET (bearer token), without PyGithub."""
    headers = {} if token is None else {"Authorization": f"Bearer {token}"}
    request = urllib.request.Request(standin.base_url + path, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, dict(response.headers), json.load(response)
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers), json.load(e)


# -- pull requests ---------------------------------------------------------------------------------


def test_create_then_list_by_head(standin: GitHubStandIn, repo: Any) -> None:
    other = standin.add_pull("gitbot/other", title="Other")
    pr = repo.create_pull(title="Right-size web", body="Saves $12/month", head="gitbot/x",
                          base="main")

    assert (pr.number, pr.title, pr.body, pr.state) == (2, "Right-size web", "Saves $12/month",
                                                         "open")
    assert (pr.head.ref, pr.head.label, pr.head.repo.full_name) == (
        "gitbot/x", "acme:gitbot/x", "acme/gitops")
    assert (pr.base.ref, pr.base.repo.default_branch) == ("main", "main")
    assert (pr.user.login, pr.user.type, pr.merged, pr.draft) == ("gitbot[bot]", "Bot", False,
                                                                  False)
    assert pr.html_url == "https://github.com/acme/gitops/pull/2"
    assert pr.created_at.tzinfo is not None and len(pr.head.sha) == 40

    listed = list(repo.get_pulls(head="acme:gitbot/x"))
    assert [p.number for p in listed] == [2]
    assert standin.requests[-1].query == {"head": ["acme:gitbot/x"]}
    assert [p.number for p in repo.get_pulls(head="acme:gitbot/other", base="main")] == [other]
    assert list(repo.get_pulls(head="acme:gitbot/x", base="release")) == []
    stored = standin.pulls[2]
    assert (stored.head_ref, stored.base_ref, stored.user) == ("gitbot/x", "main", "gitbot[bot]")


def test_a_bare_head_filter_is_ignored_like_on_github(standin: GitHubStandIn, repo: Any) -> None:
    standin.add_pull("gitbot/x")
    standin.add_pull("gitbot/y")
    assert [p.number for p in repo.get_pulls(head="gitbot/x")] == [2, 1]  # newest first
    assert [p.number for p in repo.get_pulls(head="acme:gitbot/x")] == [1]


def test_duplicate_create_is_422(standin: GitHubStandIn, repo: Any) -> None:
    repo.create_pull(title="a", body="", head="gitbot/x", base="main")
    with pytest.raises(github.GithubException) as caught:
        repo.create_pull(title="b", body="", head="acme:gitbot/x", base="main")
    assert caught.value.status == 422
    assert caught.value.data["message"] == "Validation Failed"
    assert caught.value.data["errors"] == [{
        "resource": "PullRequest", "code": "custom",
        "message": "A pull request already exists for acme:gitbot/x."}]
    assert list(standin.pulls) == [1]

    standin.close_pull(1)  # once closed, the same head can be proposed again
    assert repo.create_pull(title="c", body="", head="gitbot/x", base="main").number == 2


def test_edit_body_title_and_state(standin: GitHubStandIn, repo: Any) -> None:
    number = standin.add_pull("gitbot/x", body="old")
    pr = repo.get_pull(number)
    pr.edit(body="new body", title="new title")
    assert (pr.body, pr.title) == ("new body", "new title")
    assert standin.requests[-1].body == {"body": "new body", "title": "new title"}
    assert (standin.pulls[number].body, repo.get_pull(number).title) == ("new body", "new title")

    pr.edit(state="closed")
    assert pr.state == "closed" and pr.closed_at is not None
    assert list(repo.get_pulls(state="open")) == []
    assert [p.number for p in repo.get_pulls(state="closed")] == [number]


def test_close_pull_helper_and_merged_flag(standin: GitHubStandIn, repo: Any) -> None:
    merged = standin.add_pull("gitbot/a")
    standin.close_pull(merged, merged=True)
    closed = standin.add_pull("gitbot/b", state="closed")
    pr = repo.get_pull(merged)
    assert (pr.state, pr.merged, pr.merged_by.login) == ("closed", True, "gitbot[bot]")
    assert repo.get_pull(closed).merged is False
    assert [p.number for p in repo.get_pulls(state="all", sort="created", direction="asc")] == [
        merged, closed]


def test_a_listed_pull_request_is_completed_lazily(standin: GitHubStandIn, repo: Any) -> None:
    """List responses have GitHub's simple shape: reading ``merged`` costs a GET, as on GitHub."""
    standin.add_pull("gitbot/x")
    standin.set_files(1, FILES)
    standin.clear_requests()
    (pr,) = repo.get_pulls()
    assert pr.title == "Test pull request"
    assert standin.calls() == [f"GET {REPO}/pulls"]
    assert (pr.merged, pr.changed_files, pr.additions, pr.deletions) == (False, 2, 4, 3)
    assert standin.calls() == [f"GET {REPO}/pulls", f"GET {REPO}/pulls/1"]


# -- comments, labels, assignees, reviewers --------------------------------------------------------


def test_comments_create_edit_list(standin: GitHubStandIn, repo: Any) -> None:
    number = standin.add_pull("gitbot/x")
    human = standin.add_comment(number, "why 250m?", user="alice")
    pr = repo.get_pull(number)
    mine = pr.create_issue_comment("Estimate: $12/month")
    assert (mine.body, mine.user.login) == ("Estimate: $12/month", "gitbot[bot]")
    assert mine.html_url == f"https://github.com/acme/gitops/pull/1#issuecomment-{mine.id}"

    mine.edit("Estimate: $10/month")
    assert mine.body == "Estimate: $10/month"
    assert standin.requests[-1].method == "PATCH"
    assert standin.requests[-1].path == f"{REPO}/issues/comments/{mine.id}"

    listed = [(c.id, c.user.login, c.body) for c in pr.get_issue_comments()]
    assert listed == [(human, "alice", "why 250m?"), (mine.id, "gitbot[bot]", "Estimate: $10/month")]
    assert pr.get_issue_comment(mine.id).body == "Estimate: $10/month"
    assert [c.body for c in standin.comments[number]] == ["why 250m?", "Estimate: $10/month"]
    assert repo.get_pull(number).comments == 2


def test_labels_assignees_and_reviewers(standin: GitHubStandIn, repo: Any) -> None:
    number = standin.add_pull("gitbot/x")
    pr = repo.get_pull(number)
    pr.add_to_labels("gitbot", "cost")
    pr.add_to_labels("cost", "rightsizing")
    assert standin.requests[-1].body == ["cost", "rightsizing"]
    assert [label.name for label in pr.get_labels()] == ["gitbot", "cost", "rightsizing"]

    pr.add_to_assignees("alice")
    assert [a.login for a in pr.assignees] == ["alice"]

    pr.create_review_request(reviewers=["alice", "bob"], team_reviewers=["sre"])
    fresh = repo.get_pull(number)
    assert [u.login for u in fresh.requested_reviewers] == ["alice", "bob"]
    assert [t.slug for t in fresh.requested_teams] == ["sre"]
    assert [label.name for label in fresh.labels] == ["gitbot", "cost", "rightsizing"]
    stored = standin.pulls[number]
    assert (stored.labels, stored.assignees, stored.requested_reviewers) == (
        ["gitbot", "cost", "rightsizing"], ["alice"], ["alice", "bob"])

    with pytest.raises(github.GithubException) as caught:  # the bot opened it
        pr.create_review_request(reviewers=["gitbot[bot]"])
    assert caught.value.status == 422
    assert caught.value.data["errors"] == ["Review cannot be requested from pull request author."]


def test_labels_accept_the_object_form(standin: GitHubStandIn) -> None:
    standin.add_pull("gitbot/x")
    gh = client(standin)
    gh.requester.requestJsonAndCheck("POST", f"{REPO}/issues/1/labels",
                                     input={"labels": ["a", "b"]})
    assert standin.pulls[1].labels == ["a", "b"]


# -- issues ----------------------------------------------------------------------------------------


def test_issues_share_numbers_with_pull_requests_and_list_both(standin: GitHubStandIn, repo: Any) -> None:
    standin.add_pull("gitbot/x")
    issue = repo.create_issue(title="gitbot: right-sizing dashboard", body="<!-- m -->\n- [ ] refresh x")
    assert (issue.number, issue.state, issue.user.login) == (2, "open", "gitbot[bot]")
    assert issue.html_url == "https://github.com/acme/gitops/issues/2"
    assert standin.requests[-1].body == {"title": "gitbot: right-sizing dashboard", "body": "<!-- m -->\n- [ ] refresh x"}
    issue.add_to_labels("gitbot-dashboard")  # a label that does not exist yet is created
    closed = standin.add_issue("old", state="closed", labels=["gitbot-dashboard"])
    assert closed == 3 and standin.add_pull("gitbot/y") == 4

    listed = list(repo.get_issues())  # open ones, newest first, pull requests included
    assert [(i.number, "/pull/" in i.html_url) for i in listed] == [(4, True), (2, False), (1, True)]
    labelled = repo.get_issues(state="all", labels=["gitbot-dashboard"], sort="created", direction="asc")
    assert [i.number for i in labelled] == [2, 3]
    assert standin.requests[-1].query == {"state": ["all"], "labels": ["gitbot-dashboard"], "sort": ["created"], "direction": ["asc"]}
    assert standin.calls()[-2:] == [f"GET {REPO}/issues", f"GET {REPO}/issues"]  # no issue fetched one by one


def test_an_issue_is_edited_in_place_and_read_again(standin: GitHubStandIn, repo: Any) -> None:
    standin.clear_requests()
    number = standin.add_issue("gitbot: right-sizing dashboard", body="- [ ] skip a until usage moves")
    standin.edit_issue(number, body="- [x] skip a until usage moves")  # a person, in the web UI: not recorded
    assert standin.calls() == []
    issue = repo.get_issue(number)
    assert issue.body == "- [x] skip a until usage moves" and issue.pull_request is None
    issue.edit(body="- [ ] skip a until usage moves")
    assert standin.calls() == [f"GET {REPO}/issues/1", f"PATCH {REPO}/issues/1"]
    assert standin.requests[-1].body == {"body": "- [ ] skip a until usage moves"}
    assert standin.issues[number].body == "- [ ] skip a until usage moves"
    issue.edit(state="closed")
    assert standin.issues[number].state == "closed" and standin.issues[number].closed_at is not None
    with pytest.raises(github.GithubException) as caught:
        repo.get_issue(99)
    assert caught.value.status == 404


def test_a_label_is_removed_and_a_missing_one_is_404(standin: GitHubStandIn, repo: Any) -> None:
    number = standin.add_pull("gitbot/x")
    pr = repo.get_pull(number)
    pr.add_to_labels("resources", "risk/oom")
    requester = client(standin).requester  # the name escaped whole (PyGithub's remove_from_labels keeps the "/")
    requester.requestJsonAndCheck("DELETE", f"{REPO}/issues/1/labels/risk%2Foom")
    assert standin.pulls[number].labels == ["resources"]
    assert standin.requests[-1].method == "DELETE" and standin.requests[-1].path == f"{REPO}/issues/1/labels/risk%2Foom"
    with pytest.raises(github.GithubException) as caught:
        pr.remove_from_labels("resources/x")  # sent as .../labels/resources/x: no such route, like GitHub
    assert caught.value.status == 404
    with pytest.raises(github.GithubException) as caught:
        pr.remove_from_labels("gone")
    assert (caught.value.status, caught.value.data["message"]) == (404, "Label does not exist")


# -- reviews ---------------------------------------------------------------------------------------


def test_parse_hunks() -> None:
    assert parse_hunks(PATCH) == [Hunk(range(10, 14), range(10, 15)), Hunk(range(30, 32),
                                                                            range(31, 33))]
    assert parse_hunks("@@ -1 +0,0 @@\n-gone") == [Hunk(range(1, 2), range(0))]


@pytest.mark.parametrize("comment", [
    {"line": 12},  # added line, RIGHT by default
    {"line": 14, "side": "RIGHT"},  # context line
    {"line": 12, "side": "LEFT"},  # deleted line
    {"line": 32},  # second hunk
    {"start_line": 10, "line": 13},  # multi-line, same hunk
    {"position": 10},  # legacy: the last line of the patch
])
def test_review_with_an_in_hunk_comment_is_stored(standin: GitHubStandIn, repo: Any,
                                                  comment: dict[str, Any]) -> None:
    number = standin.add_pull("gitbot/x")
    standin.set_files(number, FILES)
    pr = repo.get_pull(number)
    review = pr.create_review(body="Suggestions", event="COMMENT", comments=[
        {"path": "apps/web/deploy.yaml", "body": "note", **comment}])
    assert (review.state, review.body, review.user.login) == ("COMMENTED", "Suggestions",
                                                              "gitbot[bot]")
    assert review.commit_id == pr.head.sha
    (stored,) = standin.reviews[number]
    assert stored.id == review.id and stored.event == "COMMENT"
    assert stored.comments == [ReviewComment(path="apps/web/deploy.yaml", body="note", **comment)]
    assert [r.id for r in pr.get_reviews()] == [review.id]


@pytest.mark.parametrize(("comment", "error"), [
    ({"path": "apps/web/deploy.yaml", "line": 15}, "Line could not be resolved"),  # after hunk 1
    ({"path": "apps/web/deploy.yaml", "line": 20}, "Line could not be resolved"),  # between
    ({"path": "apps/web/deploy.yaml", "line": 14, "side": "LEFT"}, "Line could not be resolved"),
    ({"path": "apps/web/deploy.yaml", "line": 30}, "Line could not be resolved"),  # old-only
    ({"path": "apps/web/deploy.yaml", "start_line": 12, "line": 32}, "Line could not be resolved"),
    ({"path": "apps/web/deploy.yaml", "position": 11}, "Line could not be resolved"),
    ({"path": "apps/web/deploy.yaml"}, "Line could not be resolved"),
    ({"path": "apps/db/values.yaml", "line": 1}, "Path could not be resolved"),
])
def test_one_unresolvable_comment_fails_the_whole_review(standin: GitHubStandIn, repo: Any,
                                                         comment: dict[str, Any],
                                                         error: str) -> None:
    number = standin.add_pull("gitbot/x")
    standin.set_files(number, FILES)
    pr = repo.get_pull(number)
    good = {"path": "apps/api/values.yaml", "line": 1, "body": "fine"}
    with pytest.raises(github.GithubException) as caught:
        pr.create_review(body="x", event="COMMENT", comments=[good, {**comment, "body": "bad"}])
    assert caught.value.status == 422
    assert caught.value.data["message"] == "Unprocessable Entity"
    assert caught.value.data["errors"] == [error]
    assert standin.reviews == {}
    assert list(pr.get_reviews()) == []


def test_a_review_names_a_commit_of_the_pull_request_or_is_refused(standin: GitHubStandIn,
                                                                  repo: Any) -> None:
    """commit_id: the head, or an earlier head after a push (outdated but still the pull request's);
    any other commit (a merge commit, the base) is a 422 and stores nothing."""
    first, second, merge = "1" * 40, "2" * 40, "3" * 40
    number = standin.add_pull("feature/y", user="alice", head_sha=first)
    standin.set_files(number, FILES)
    standin.push_head(number, second)
    pr = repo.get_pull(number)

    def review_on(sha: str) -> Any:
        commit = github.Commit.Commit(pr.requester, {}, {"sha": sha}, completed=True)
        return pr.create_review(commit=commit, body="x", event="COMMENT", comments=[
            {"path": "apps/web/deploy.yaml", "line": 12, "body": "note"}])

    with pytest.raises(github.GithubException) as caught:
        review_on(merge)
    assert (caught.value.status, caught.value.data["errors"]) == (422, [{
        "resource": "PullRequestReview", "code": "custom", "field": "commit_id",
        "message": "commit_id is not part of the pull request"}])
    assert standin.reviews == {}
    assert [review_on(sha).commit_id for sha in (second, first)] == [second, first]
    assert standin.requests[-1].body == {"body": "x", "event": "COMMENT", "commit_id": first, "comments": [
        {"path": "apps/web/deploy.yaml", "line": 12, "body": "note"}]}
    assert [r.commit_id for r in standin.reviews[number]] == [second, first]


def test_the_author_cannot_approve_their_own_pull_request(standin: GitHubStandIn,
                                                         repo: Any) -> None:
    own = standin.add_pull("gitbot/x")
    theirs = standin.add_pull("feature/y", user="alice")
    with pytest.raises(github.GithubException) as caught:
        repo.get_pull(own).create_review(event="APPROVE")
    assert (caught.value.status, caught.value.data["errors"]) == (
        422, ["Can not approve your own pull request"])
    assert repo.get_pull(theirs).create_review(event="APPROVE").state == "APPROVED"
    assert list(standin.reviews) == [theirs]


# -- auth, faults, rate limits ---------------------------------------------------------------------


def test_wrong_token_is_bad_credentials(standin: GitHubStandIn) -> None:
    with pytest.raises(github.BadCredentialsException) as caught:
        client(standin, token="wrong").get_repo("acme/gitops")
    assert caught.value.status == 401
    assert caught.value.data["message"] == "Bad credentials"
    assert standin.calls() == [f"GET {REPO}"]
    status, _, body = raw_get(standin, REPO, token=None)
    assert (status, body["message"]) == (401, "Requires authentication")
    assert raw_get(standin, REPO, token=TOKEN)[0] == 200


def test_unknown_routes_and_repositories_are_404(standin: GitHubStandIn) -> None:
    status, headers, body = raw_get(standin, f"{REPO}/branches")
    assert (status, body) == (404, {"message": "Not Found",
                                    "documentation_url": "https://docs.github.com/rest"})
    assert headers["Content-Type"] == "application/json; charset=utf-8"
    assert {"X-RateLimit-Limit", "X-RateLimit-Remaining", "X-RateLimit-Reset",
            "X-GitHub-Request-Id"} <= set(headers)
    with pytest.raises(github.UnknownObjectException):
        client(standin).get_repo("acme/other")
    with pytest.raises(github.UnknownObjectException):
        client(standin).get_repo("acme/gitops").get_pull(7)


def test_injected_500_and_404(standin: GitHubStandIn, repo: Any) -> None:
    number = standin.add_pull("gitbot/x")
    standin.fail_next("GET", rf"{REPO}/pulls/\d+", 500)
    standin.fail_next("POST", rf"{REPO}/issues/\d+/comments", 404)
    standin.clear_requests()

    with pytest.raises(github.GithubException) as caught:
        repo.get_pull(number)
    assert caught.value.status == 500
    pr = repo.get_pull(number)  # consumed: the next one passes
    with pytest.raises(github.UnknownObjectException):
        pr.create_issue_comment("hello")
    assert pr.create_issue_comment("hello").body == "hello"
    assert standin.calls() == [f"GET {REPO}/pulls/1", f"GET {REPO}/pulls/1",
                               f"POST {REPO}/issues/1/comments", f"POST {REPO}/issues/1/comments"]
    assert [c.body for c in standin.comments[number]] == ["hello"]


def test_injected_403_not_accessible(standin: GitHubStandIn, repo: Any) -> None:
    standin.add_pull("gitbot/x")
    message = "Resource not accessible by integration"
    standin.fail_next("POST", rf"{REPO}/issues/1/labels", 403,
                      {"message": message, "documentation_url": "https://docs.github.com/rest"},
                      times=2)
    pr = repo.get_pull(1)
    for _ in range(2):
        with pytest.raises(github.GithubException) as caught:
            pr.add_to_labels("gitbot")
        assert (caught.value.status, caught.value.message) == (403, message)
    pr.add_to_labels("gitbot")
    assert standin.pulls[1].labels == ["gitbot"]


def test_primary_rate_limit(standin: GitHubStandIn, repo: Any) -> None:
    standin.rate_limit_next("GET", rf"{REPO}/pulls")
    with pytest.raises(github.RateLimitExceededException) as caught:
        list(repo.get_pulls())
    assert caught.value.status == 403
    assert caught.value.headers["x-ratelimit-remaining"] == "0"
    assert int(caught.value.headers["x-ratelimit-reset"]) > time.time()


def test_secondary_rate_limit_without_retry(standin: GitHubStandIn, repo: Any) -> None:
    standin.rate_limit_next("GET", rf"{REPO}/pulls", secondary=True, status=429)
    with pytest.raises(github.GithubException) as caught:
        list(repo.get_pulls())
    assert caught.value.status == 429
    assert caught.value.headers["retry-after"] == "1"
    assert caught.value.data["message"].startswith("You have exceeded a secondary rate limit")


def test_default_retry_resends_and_every_attempt_is_recorded(standin: GitHubStandIn) -> None:
    standin.add_pull("gitbot/x")
    repo = client(standin, retry=github.GithubRetry()).get_repo("acme/gitops")
    standin.clear_requests()
    standin.fail_next("GET", rf"{REPO}/pulls/1", 502, times=2)
    assert repo.get_pull(1).number == 1
    assert standin.calls() == [f"GET {REPO}/pulls/1"] * 3

    standin.clear_requests()
    standin.rate_limit_next("GET", rf"{REPO}/pulls/1", secondary=True)  # sleeps Retry-After: 1 s
    started = time.monotonic()
    assert repo.get_pull(1).number == 1
    assert time.monotonic() - started >= 0.9
    assert standin.calls() == [f"GET {REPO}/pulls/1"] * 2


def test_rate_limit_endpoint_and_user(standin: GitHubStandIn) -> None:
    gh = client(standin)
    assert (gh.get_user().login, gh.get_user().type) == ("gitbot[bot]", "Bot")
    core = gh.get_rate_limit().resources.core
    assert (core.limit, core.used, core.remaining) == (5000, 2, 4998)  # /rate_limit is free
    assert raw_get(standin, "/rate_limit")[1]["X-RateLimit-Remaining"] == "4998"


# -- pagination ------------------------------------------------------------------------------------


def test_files_paginate_over_two_pages(standin: GitHubStandIn) -> None:
    number = standin.add_pull("gitbot/x")
    standin.set_files(number, [*FILES, {"filename": "apps/new.yaml", "status": "added",
                                        "patch": "@@ -0,0 +1,2 @@\n+a: 1\n+b: 2"}])
    pr = client(standin, per_page=2).get_repo("acme/gitops").get_pull(number)
    standin.clear_requests()

    files = list(pr.get_files())
    assert [(f.filename, f.status, f.additions, f.deletions) for f in files] == [
        ("apps/web/deploy.yaml", "modified", 3, 2), ("apps/api/values.yaml", "modified", 1, 1),
        ("apps/new.yaml", "added", 2, 0)]
    assert files[0].patch == PATCH and files[0].sha == FILES[0].sha
    assert standin.calls() == [f"GET {REPO}/pulls/1/files"] * 2
    assert [r.query for r in standin.requests] == [{"per_page": ["2"]},
                                                  {"per_page": ["2"], "page": ["2"]}]

    status, headers, body = raw_get(standin, f"{REPO}/pulls/1/files?per_page=2")
    assert (status, len(body)) == (200, 2)
    base = f"{standin.base_url}{REPO}/pulls/1/files?per_page=2"
    assert headers["Link"] == f'<{base}&page=2>; rel="next", <{base}&page=2>; rel="last"'


# -- recording -------------------------------------------------------------------------------------


def test_exact_call_sequence(standin: GitHubStandIn) -> None:
    gh = client(standin)
    repo = gh.get_repo("acme/gitops")
    assert list(repo.get_pulls(state="open", head="acme:gitbot/x")) == []
    pr = repo.create_pull(title="Right-size", body="...", head="gitbot/x", base="main")
    pr.create_issue_comment("Estimate")
    pr.add_to_labels("gitbot")
    assert standin.calls() == [
        f"GET {REPO}",
        f"GET {REPO}/pulls",
        f"POST {REPO}/pulls",
        f"POST {REPO}/issues/1/comments",
        f"POST {REPO}/issues/1/labels",
    ]
    assert standin.requests[2].body == {"title": "Right-size", "body": "...", "head": "gitbot/x",
                                        "base": "main"}


def test_the_token_never_appears_in_the_recording_repr(standin: GitHubStandIn) -> None:
    client(standin).get_repo("acme/gitops")
    with pytest.raises(github.BadCredentialsException):
        client(standin, token="s3cr3t-wrong").get_repo("acme/gitops")
    shown = repr(standin.requests) + str(standin.requests[0])
    assert TOKEN not in shown and "s3cr3t" not in shown
    assert "'Authorization': '***'" in shown
    assert standin.requests[0].headers["Authorization"] == f"token {TOKEN}"
    assert standin.requests[1].headers["Authorization"] == "token s3cr3t-wrong"
