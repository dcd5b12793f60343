"""The GitHub side, behind a small interface: find, open, update and close gitbot's pull requests.

``GitHubPulls`` talks to the REST API through PyGithub (github.com, GitHub Enterprise's ``/api/v3``,
or the tests' local stand-in). Every GitHub error becomes a one-line ``PublishError`` (exit 5)
that says what to fix; the token is never part of a message. Server errors and rate limits are
retried by PyGithub's ``GithubRetry`` (waiting as ``Retry-After`` / ``X-RateLimit-Reset`` say, up to
``max_wait`` seconds); a client error (401/403/404/422) is not retried. A 401 or an exhausted rate
limit is a ``GitHubUnavailable``: every later call of the run would fail the same way, so callers
that go on past one scope's failure stop there.
"""

from __future__ import annotations

import urllib.parse
from dataclasses import dataclass
from typing import Any, Callable, Mapping, Protocol, Sequence, TypeVar

from gitbot.errors import InputError, PublishError, redact_urls
from gitbot.redact import Redactor

T = TypeVar("T")
DEFAULT_API = "https://api.github.com"
DEFAULT_NEEDS = ("contents: write and pull-requests: write (in Actions, also allow GitHub Actions to create pull requests "
                 "in the repository settings)")
DASHBOARD_NEEDS = "issues: write for the dashboard issue (or set pull_requests.dashboard: false)"


class GitHubUnavailable(PublishError):
    """Bad credentials or a rate limit that outlasts the wait: nothing more can be done in this run."""


@dataclass(frozen=True)
class Decoration:
    """What a pull request carries besides its text: labels, requested reviewers and teams, assignees."""

    labels: tuple[str, ...] = ()
    reviewers: tuple[str, ...] = ()
    team_reviewers: tuple[str, ...] = ()  # team slugs
    assignees: tuple[str, ...] = ()


@dataclass(frozen=True)
class PullInfo:
    number: int
    state: str  # "open" | "closed"
    merged: bool
    title: str
    body: str
    url: str
    branch: str = ""  # the head branch
    decoration: Decoration = Decoration()  # as listed: lets re-runs add only what is missing


@dataclass(frozen=True)
class IssueInfo:
    number: int
    state: str  # "open" | "closed"
    title: str
    body: str
    url: str
    labels: tuple[str, ...] = ()


@dataclass(frozen=True)
class PullDetails:
    number: int
    head_sha: str
    base_sha: str
    base_ref: str
    from_fork: bool  # the head branch lives in another repository: its token cannot write here
    files: tuple[tuple[str, str | None], ...]  # (path, patch) of every changed file
    head_ref: str = ""  # the head branch (gitbot does not review its own gitbot/... branches)
    body: str = ""


class PullRequests(Protocol):
    def for_branch(self, branch: str) -> list[PullInfo]: ...

    def create(self, branch: str, base: str, title: str, body: str) -> PullInfo: ...

    def update(self, number: int, title: str, body: str) -> None: ...

    def close(self, number: int) -> None: ...

    def comment(self, number: int, body: str) -> None: ...

    def comments(self, number: int) -> list[str]: ...

    def open_pulls(self) -> list[PullInfo]: ...

    def add_labels(self, number: int, labels: Sequence[str]) -> None: ...

    def remove_label(self, number: int, label: str) -> None: ...

    def request_reviewers(self, number: int, reviewers: Sequence[str], team_reviewers: Sequence[str]) -> None: ...

    def add_assignees(self, number: int, assignees: Sequence[str]) -> None: ...


class Issues(Protocol):
    """The dashboard issue's side of GitHub."""

    def find_issue(self, label: str, marker: str) -> IssueInfo | None: ...

    def issue(self, number: int) -> IssueInfo: ...

    def create_issue(self, title: str, body: str) -> IssueInfo: ...

    def edit_issue(self, number: int, body: str) -> None: ...

    def add_labels(self, number: int, labels: Sequence[str]) -> None: ...


class GitHubPulls:
    def __init__(self, repository: str, token: str, api_url: str = DEFAULT_API, max_wait: float = 120.0, retries: int = 3,
                 throttle: bool = True, secrets: Sequence[str] = ()) -> None:
        """``secrets``: other credentials of the run (the Prometheus token ...): never sent in a title,
        body or comment, and neither is this token."""
        import github

        if "/" not in repository:
            raise InputError(f"--repo {repository!r}: expected owner/name")
        self._github = github
        self._token = token
        self._retries = retries
        self._redact = Redactor([token, *secrets])
        self.repository = repository
        self.owner = repository.split("/", 1)[0]
        extra: dict[str, Any] = {} if throttle else {"seconds_between_requests": None, "seconds_between_writes": None}
        limits: dict[str, Any] = dict(total=retries, secondary_rate_wait=min(60.0, max_wait), max_rate_limit_wait=max_wait, backoff_factor=0.5)
        try:  # a Retry-After header waits at most max_wait too (urllib3 >= 2.6 knows the cap)
            retry = github.GithubRetry(**limits, retry_after_max=int(max_wait))
        except TypeError:
            retry = github.GithubRetry(**limits)
        self._client = github.Github(base_url=api_url.rstrip("/"), auth=github.Auth.Token(token), retry=retry, per_page=100, **extra)
        self._repo: Any = None
        self._pulls: dict[int, Any] = {}
        self._issues: dict[int, Any] = {}  # the dashboard issue, as this run read or opened it

    @property
    def repo(self) -> Any:
        if self._repo is None:
            self._repo = self._call("read the repository", lambda: self._client.get_repo(self.repository))
        return self._repo

    def check_access(self) -> None:
        """Read the repository: bad credentials or a repository the token cannot see stop the run
        here, before any scope is tried."""
        self._call("read the repository", lambda: self.repo)

    def default_branch(self) -> str:
        return str(self._call("read the repository", lambda: self.repo.default_branch))

    def for_branch(self, branch: str) -> list[PullInfo]:
        pulls = self._call(f"list pull requests for {branch}", lambda: list(self.repo.get_pulls(state="all", head=f"{self.owner}:{branch}")))
        return [self._info(p) for p in pulls]

    def create(self, branch: str, base: str, title: str, body: str) -> PullInfo:
        title, body = self._redact(title), self._redact(body)
        pull = self._call(f"open a pull request from {branch}", lambda: self.repo.create_pull(title=title, body=body, head=branch, base=base))
        return self._info(pull)

    def update(self, number: int, title: str, body: str) -> None:
        title, body = self._redact(title), self._redact(body)
        self._call(f"update pull request #{number}", lambda: self._pull(number).edit(title=title, body=body))

    def close(self, number: int) -> None:
        self._call(f"close pull request #{number}", lambda: self._pull(number).edit(state="closed"))

    def comment(self, number: int, body: str) -> None:
        body = self._redact(body)
        self._call(f"comment on #{number}", lambda: self._pull(number).create_issue_comment(body))

    def comments(self, number: int) -> list[str]:
        return self._call(f"read the comments of #{number}", lambda: [c.body or "" for c in self._pull(number).get_issue_comments()])

    def open_pulls(self) -> list[PullInfo]:
        """Every open pull request of the repository (to count gitbot's against ``max_open``)."""
        return self._call("list the open pull requests", lambda: [self._info(p) for p in self.repo.get_pulls(state="open")])

    # one call per kind of decoration, so the caller can tell which one GitHub refused and keep the rest
    def add_labels(self, number: int, labels: Sequence[str]) -> None:
        self._call(f"label #{number}", lambda: self._issue_or_pull(number).add_to_labels(*labels))

    def remove_label(self, number: int, label: str) -> None:
        """DELETE .../labels/{name} with the name escaped whole: PyGithub's ``remove_from_labels``
        leaves a ``/`` as is, and GitHub then answers 404 for a label such as ``risk/oom``."""
        path = f"{self.repo.url}/issues/{number}/labels/{urllib.parse.quote(label, safe='')}"
        self._call(f"remove label {label!r} from #{number}", lambda: self._client.requester.requestJsonAndCheck("DELETE", path))

    def request_reviewers(self, number: int, reviewers: Sequence[str], team_reviewers: Sequence[str]) -> None:
        self._call(f"request reviewers on #{number}",
                   lambda: self._pull(number).create_review_request(reviewers=list(reviewers), team_reviewers=list(team_reviewers)))

    def add_assignees(self, number: int, assignees: Sequence[str]) -> None:
        self._call(f"assign #{number}", lambda: self._pull(number).add_to_assignees(*assignees))

    # -- the dashboard issue --------------------------------------------------------------------------

    def find_issue(self, label: str, marker: str) -> IssueInfo | None:
        """gitbot's issue whose body holds ``marker``: among the issues labelled ``label`` (one
        request; an open one before a closed one, the oldest first), else among the open issues (the
        label could not be set, or a person removed it), most recently updated first, stopping at
        the first match. Pull requests are issues to this API too; they are left out (by their
        ``/pull/`` address: reading ``pull_request``, which plain issues lack, would fetch each one)."""
        def ours(issue: Any) -> bool:
            return "/pull/" not in (issue.html_url or "") and marker in (issue.body or "")

        def first(issues: Any) -> IssueInfo | None:
            return min((i for i in issues if ours(i)), key=lambda i: (i.state != "open", i.number), default=None)

        labelled = self._call("list gitbot's dashboard issue", lambda: first(
            self.repo.get_issues(state="all", labels=[label], sort="created", direction="asc")), DASHBOARD_NEEDS)
        if labelled is not None:
            return self._issue_info(labelled)

        def scan() -> Any:
            return next((i for i in self.repo.get_issues(state="open", sort="updated", direction="desc") if ours(i)), None)

        found = self._call("list the open issues", scan, DASHBOARD_NEEDS)
        return self._issue_info(found) if found is not None else None

    def issue(self, number: int) -> IssueInfo:
        """The issue as it is now (read again, e.g. for boxes ticked while the run was busy)."""
        return self._issue_info(self._call(f"read issue #{number}", lambda: self.repo.get_issue(number), DASHBOARD_NEEDS))

    def create_issue(self, title: str, body: str) -> IssueInfo:
        title, body = self._redact(title), self._redact(body)
        return self._issue_info(self._call("open gitbot's dashboard issue", lambda: self.repo.create_issue(title=title, body=body),
                                           DASHBOARD_NEEDS))

    def edit_issue(self, number: int, body: str) -> None:
        body = self._redact(body)
        self._call(f"update issue #{number}", lambda: self._issue_object(number).edit(body=body), DASHBOARD_NEEDS)

    def details(self, number: int) -> PullDetails:
        pull = self._pull(number)
        files = self._call(f"list the files of #{number}", lambda: [(f.filename, f.patch) for f in pull.get_files()])
        head_repo = pull.head.repo.full_name if pull.head.repo is not None else None
        return PullDetails(number, pull.head.sha, pull.base.sha, pull.base.ref, head_repo != self.repository, tuple(files),
                           pull.head.ref or "", pull.body or "")

    def review_bodies(self, number: int) -> list[str]:
        return self._call(f"read the reviews of #{number}", lambda: [r.body or "" for r in self._pull(number).get_reviews()])

    def create_review(self, number: int, body: str, comments: Sequence[Mapping[str, Any]], commit_id: str | None = None) -> None:
        """One review of comments. ``commit_id``: the commit whose lines the comments name (the
        head gitbot planned); without it GitHub takes the head at the time of the request, which
        may be a newer push."""
        body = self._redact(body)
        comments = [self._redact.document(dict(c)) for c in comments]
        pull = self._pull(number)
        extra: dict[str, Any] = {}
        if commit_id is not None:  # PyGithub sends a Commit's sha; this one needs no request to read
            extra["commit"] = self._github.Commit.Commit(pull.requester, {}, {"sha": commit_id}, completed=True)
        self._call(f"post a review on #{number}",
                   lambda: pull.create_review(body=body, event="COMMENT", comments=[dict(c) for c in comments], **extra))

    def upsert_comment(self, number: int, marker: str, body: str, create: bool = True) -> str:
        """Edit the issue comment that carries ``marker``, or post it; "updated", "created", or ""
        (none there and ``create`` False: only an earlier comment is kept from going stale)."""
        body = self._redact(body)
        pull = self._pull(number)
        existing = self._call(f"read the comments of #{number}", lambda: [c for c in pull.get_issue_comments() if marker in (c.body or "")])
        if existing:
            self._call(f"update gitbot's comment on #{number}", lambda: existing[0].edit(body))
            return "updated"
        if not create:
            return ""
        self._call(f"comment on #{number}", lambda: pull.create_issue_comment(body))
        return "created"

    def _pull(self, number: int) -> Any:
        """The PyGithub object of a pull request this run listed or opened (else fetched once)."""
        if number not in self._pulls:
            self._pulls[number] = self._call(f"read pull request #{number}", lambda: self.repo.get_pull(number))
        return self._pulls[number]

    def _info(self, pull: Any) -> PullInfo:
        self._pulls[pull.number] = pull
        decoration = Decoration(
            tuple(label.name for label in pull.labels or ()),
            tuple(user.login for user in pull.requested_reviewers or ()),
            tuple(team.slug for team in pull.requested_teams or ()),
            tuple(user.login for user in pull.assignees or ()),
        )
        return PullInfo(pull.number, pull.state, pull.merged_at is not None, pull.title or "", pull.body or "", pull.html_url or "",
                        pull.head.ref if pull.head is not None else "", decoration)

    def _issue_info(self, issue: Any) -> IssueInfo:
        self._issues[issue.number] = issue
        return IssueInfo(issue.number, issue.state, issue.title or "", issue.body or "", issue.html_url or "",
                         tuple(label.name for label in issue.labels or ()))

    def _issue_object(self, number: int) -> Any:
        """The PyGithub object of an issue this run read or opened (else fetched once)."""
        if number not in self._issues:
            self._issues[number] = self.repo.get_issue(number)
        return self._issues[number]

    def _issue_or_pull(self, number: int) -> Any:
        """What labels go through: the issue this run read or opened, else the pull request."""
        return self._issues[number] if number in self._issues else self._pull(number)

    def _call(self, doing: str, action: Callable[[], T], needs: str = DEFAULT_NEEDS) -> T:
        """``action``'s result, or a one-line PublishError; ``needs``: the permissions a 403 asks for."""
        github = self._github
        try:
            return action()
        except github.GithubException as exc:
            explained = self._explain(exc, needs)
            kind = GitHubUnavailable if explained.startswith(("401 ", "403 rate limited", "429 rate limited")) else PublishError
            raise kind(f"GitHub: cannot {doing}: {explained}") from None
        except Exception as exc:  # requests' RetryError / ConnectionError after PyGithub gave up
            name = type(exc).__name__
            text = str(exc)
            if name in ("RetryError", "MaxRetryError") and ("too many 403" in text or "too many 429" in text):
                raise GitHubUnavailable(f"GitHub: cannot {doing}: rate limited, and still after {self._retries} retries; "
                                        "run again later") from None
            if name in ("RetryError", "MaxRetryError", "ConnectionError", "Timeout", "ReadTimeout", "ConnectTimeout"):
                raise PublishError(f"GitHub: cannot {doing}: {self._clean(text)[:300]}") from None
            raise

    def _explain(self, exc: Any, needs: str = "") -> str:
        status = getattr(exc, "status", None)
        data = exc.data if isinstance(getattr(exc, "data", None), dict) else {}
        message = str(data.get("message") or exc)
        headers = {k.lower(): v for k, v in (getattr(exc, "headers", None) or {}).items()}
        if status == 401:
            return "401 Bad credentials: the token is missing, expired or revoked (GITBOT_GITHUB_TOKEN / GITHUB_TOKEN)"
        if status in (403, 429) and (headers.get("x-ratelimit-remaining") == "0" or "rate limit" in message.lower()):
            when = f"; retry after {headers['retry-after']}s" if "retry-after" in headers else (
                f"; it resets at unix time {headers['x-ratelimit-reset']}" if "x-ratelimit-reset" in headers else "")
            return f"{status} rate limited ({self._clean(message)}){when}"
        if status == 403:
            return f"403 {self._clean(message)}: the token needs {needs or DEFAULT_NEEDS}"
        if status == 404:
            return f"404 Not Found: {self.repository} does not exist or the token cannot see it"
        if status == 422:
            details = [e.get("message") or e.get("code") for e in data.get("errors") or [] if isinstance(e, dict)]
            details += [e for e in data.get("errors") or [] if isinstance(e, str)]
            return f"422 {self._clean(message)}" + (f": {'; '.join(self._clean(str(d)) for d in details if d)}" if details else "")
        return f"{status} {self._clean(message)}"

    def _clean(self, text: str) -> str:
        text = redact_urls(" ".join(text.split()))
        return text.replace(self._token, "***") if self._token else text
