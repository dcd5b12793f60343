"""The GitHub side, behind a small interface: find, open, update and close gitbot's pull requests.

``GitHubPulls`` talks to the REST API through PyGithub (github.com, GitHub Enterprise's ``/api/v3``,
or the tests' local stand-in). Every GitHub error becomes a one-line ``PublishError`` (exit 5)
that says what to fix; the token is never part of a message. Server errors and rate limits are
retried by PyGithub's ``GithubRetry`` (waiting as ``Retry-After`` / ``X-RateLimit-Reset`` say, up to
``max_wait`` seconds); a client error (401/403/404/422) is not retried.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Mapping, Protocol, Sequence, TypeVar

from gitbot.errors import InputError, PublishError, redact_urls
from gitbot.redact import Redactor

T = TypeVar("T")
DEFAULT_API = "https://api.github.com"


@dataclass(frozen=True)
class PullInfo:
    number: int
    state: str  # "open" | "closed"
    merged: bool
    title: str
    body: str
    url: str


@dataclass(frozen=True)
class PullDetails:
    number: int
    head_sha: str
    base_sha: str
    base_ref: str
    from_fork: bool  # the head branch lives in another repository: its token cannot write here
    files: tuple[tuple[str, str | None], ...]  # (path, patch) of every changed file


class PullRequests(Protocol):
    def for_branch(self, branch: str) -> list[PullInfo]: ...

    def create(self, branch: str, base: str, title: str, body: str) -> PullInfo: ...

    def update(self, number: int, title: str, body: str) -> None: ...

    def close(self, number: int) -> None: ...

    def comment(self, number: int, body: str) -> None: ...

    def comments(self, number: int) -> list[str]: ...

    def decorate(self, number: int, labels: Sequence[str], reviewers: Sequence[str], team_reviewers: Sequence[str],
                 assignees: Sequence[str]) -> None: ...


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

    @property
    def repo(self) -> Any:
        if self._repo is None:
            self._repo = self._call("read the repository", lambda: self._client.get_repo(self.repository))
        return self._repo

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

    def decorate(self, number: int, labels: Sequence[str], reviewers: Sequence[str], team_reviewers: Sequence[str],
                 assignees: Sequence[str]) -> None:
        pull = self._pull(number)
        if labels:
            self._call(f"label #{number}", lambda: pull.add_to_labels(*labels))
        if reviewers or team_reviewers:
            self._call(f"request reviewers on #{number}",
                       lambda: pull.create_review_request(reviewers=list(reviewers), team_reviewers=list(team_reviewers)))
        if assignees:
            self._call(f"assign #{number}", lambda: pull.add_to_assignees(*assignees))

    def details(self, number: int) -> PullDetails:
        pull = self._pull(number)
        files = self._call(f"list the files of #{number}", lambda: [(f.filename, f.patch) for f in pull.get_files()])
        head_repo = pull.head.repo.full_name if pull.head.repo is not None else None
        return PullDetails(number, pull.head.sha, pull.base.sha, pull.base.ref, head_repo != self.repository, tuple(files))

    def review_bodies(self, number: int) -> list[str]:
        return self._call(f"read the reviews of #{number}", lambda: [r.body or "" for r in self._pull(number).get_reviews()])

    def create_review(self, number: int, body: str, comments: Sequence[Mapping[str, Any]]) -> None:
        body = self._redact(body)
        comments = [self._redact.document(dict(c)) for c in comments]
        self._call(f"post a review on #{number}",
                   lambda: self._pull(number).create_review(body=body, event="COMMENT", comments=[dict(c) for c in comments]))

    def upsert_comment(self, number: int, marker: str, body: str) -> str:
        """Edit the issue comment that carries ``marker``, or post it; "updated" or "created"."""
        body = self._redact(body)
        pull = self._pull(number)
        existing = self._call(f"read the comments of #{number}", lambda: [c for c in pull.get_issue_comments() if marker in (c.body or "")])
        if existing:
            self._call(f"update gitbot's comment on #{number}", lambda: existing[0].edit(body))
            return "updated"
        self._call(f"comment on #{number}", lambda: pull.create_issue_comment(body))
        return "created"

    def _pull(self, number: int) -> Any:
        """The PyGithub object of a pull request this run listed or opened (else fetched once)."""
        if number not in self._pulls:
            self._pulls[number] = self._call(f"read pull request #{number}", lambda: self.repo.get_pull(number))
        return self._pulls[number]

    def _info(self, pull: Any) -> PullInfo:
        self._pulls[pull.number] = pull
        return PullInfo(pull.number, pull.state, pull.merged_at is not None, pull.title or "", pull.body or "", pull.html_url or "")

    def _call(self, doing: str, action: Callable[[], T]) -> T:
        github = self._github
        try:
            return action()
        except github.GithubException as exc:
            raise PublishError(f"GitHub: cannot {doing}: {self._explain(exc)}") from None
        except Exception as exc:  # requests' RetryError / ConnectionError after PyGithub gave up
            name = type(exc).__name__
            text = str(exc)
            if name in ("RetryError", "MaxRetryError") and ("too many 403" in text or "too many 429" in text):
                raise PublishError(f"GitHub: cannot {doing}: rate limited, and still after {self._retries} retries; "
                                   "run again later") from None
            if name in ("RetryError", "MaxRetryError", "ConnectionError", "Timeout", "ReadTimeout", "ConnectTimeout"):
                raise PublishError(f"GitHub: cannot {doing}: {self._clean(text)[:300]}") from None
            raise

    def _explain(self, exc: Any) -> str:
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
            return (f"403 {self._clean(message)}: the token needs contents: write and pull-requests: write (in Actions, "
                    "also allow GitHub Actions to create pull requests in the repository settings)")
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
