"""A local stand-in for the part of the GitHub REST API that gitbot uses through PyGithub.

:class:`GitHubStandIn` serves one in-memory repository on ``127.0.0.1`` at a free port, from a
background thread, with the standard library only. It never opens a connection anywhere else::

    with GitHubStandIn() as gh:
        client = github.Github(base_url=gh.base_url, auth=github.Auth.Token("t0k3n"), retry=None,
                               seconds_between_requests=None, seconds_between_writes=None)
        repo = client.get_repo("acme/gitops")
        pull = repo.create_pull(title="Right-size", body="...", head="gitbot/x", base="main")
        assert gh.calls() == ["GET /repos/acme/gitops", "POST /repos/acme/gitops/pulls"]

Endpoints (``{o}/{r}`` is the configured repository; any other repository is a 404)::

    GET   /user                                  GET   /rate_limit
    GET   /repos/{o}/{r}
    GET   /repos/{o}/{r}/pulls                   (state, head, base, sort, direction; paginated)
    POST  /repos/{o}/{r}/pulls
    GET   /repos/{o}/{r}/pulls/{n}               PATCH /repos/{o}/{r}/pulls/{n}
    GET   /repos/{o}/{r}/pulls/{n}/files         (paginated)
    POST  /repos/{o}/{r}/pulls/{n}/requested_reviewers
    GET   /repos/{o}/{r}/pulls/{n}/reviews       POST  /repos/{o}/{r}/pulls/{n}/reviews
    GET   /repos/{o}/{r}/issues                  (state, labels, sort, direction; paginated)
    POST  /repos/{o}/{r}/issues
    GET   /repos/{o}/{r}/issues/{n}              PATCH /repos/{o}/{r}/issues/{n}
    GET   /repos/{o}/{r}/issues/{n}/comments     POST  /repos/{o}/{r}/issues/{n}/comments
    GET   /repos/{o}/{r}/issues/comments/{id}    PATCH /repos/{o}/{r}/issues/comments/{id}
    GET   /repos/{o}/{r}/issues/{n}/labels       POST  /repos/{o}/{r}/issues/{n}/labels
    DELETE /repos/{o}/{r}/issues/{n}/labels/{name}
    POST  /repos/{o}/{r}/issues/{n}/assignees

Anything else answers 404 ``{"message": "Not Found", ...}``, like GitHub.

Behaviour copied from GitHub because client code depends on it:

- Every request needs ``Authorization: token <token>`` (or ``Bearer``): a wrong token is a 401
  "Bad credentials" (PyGithub raises ``BadCredentialsException``); no header at all is a 401
  "Requires authentication".
- The list endpoint returns the *simple* pull request shape, without ``merged``, ``mergeable``,
  ``comments``, ``additions`` and the like; PyGithub then fetches ``GET /pulls/{n}`` lazily when
  one of those is read, and that request shows up in :meth:`GitHubStandIn.calls` as it would
  against github.com.
- ``GET /pulls?head=`` only filters when the value is ``owner:branch``; a bare branch name is
  silently ignored (every pull request matches), which is a classic bug to catch.
- Creating a pull request while an open one exists for the same head *and* base is a 422
  "A pull request already exists for owner:branch.".
- Issues and pull requests share one sequence of numbers. ``GET /issues`` lists both (a pull
  request carries a ``pull_request`` key), open ones by default, newest first; ``labels=a,b``
  keeps those that have every label. ``PATCH /issues/{n}`` and ``GET /issues/{n}`` of a plain
  issue answer the issue. Adding a label that does not exist creates it; removing one the issue
  does not have is a 404 "Label does not exist".
- Reviews are all-or-nothing: one inline comment whose ``path`` is not among the pull request's
  files ("Path could not be resolved") or whose ``line`` (``side`` RIGHT: new-file lines of a
  ``@@ -a,b +c,d @@`` hunk; LEFT: old-file lines), ``start_line`` or legacy ``position`` is not in
  the diff ("Line could not be resolved") fails the whole review with a 422 and stores nothing.
  A multi-line comment's ``start_line`` must lie before ``line`` in the same hunk. A ``commit_id``
  that is not a commit of the pull request (its head, or a head :meth:`GitHubStandIn.push_head`
  pushed over) is a 422 "commit_id is not part of the pull request", GitHub's answer for review
  comments; without ``commit_id`` the review is on the current head. The author cannot approve or request changes on their own pull request (422), nor be requested
  as a reviewer (422). Submitting a review removes its author from the requested reviewers.

Recording and faults: every request (including rejected and injected ones) is appended to
:attr:`GitHubStandIn.requests` as a :class:`Recorded`; :meth:`GitHubStandIn.fail_next` and
:meth:`GitHubStandIn.rate_limit_next` queue canned answers for matching requests, consumed one
per HTTP request.

Retries: PyGithub's default ``GithubRetry`` (10 attempts, no backoff) resends GET and POST
requests that got a 5xx, 403s that carry ``Retry-After`` or a rate-limit message (sleeping until
``X-RateLimit-Reset`` + 1 s for the primary limit, ``Retry-After`` or 60 s for the secondary one),
and 429s with ``Retry-After``. Each resend is a new request here: it is recorded and consumes one
queued fault, so ``fail_next(..., times=1)`` with the default retry is transparently recovered
from, and ``.calls()`` shows the request twice. Pass ``retry=None`` to ``github.Github`` to see
exactly one request per PyGithub call. PyGithub also throttles by default (0.25 s between
requests, 1 s between writes): pass ``seconds_between_requests=None, seconds_between_writes=None``
to keep tests fast.
"""

from __future__ import annotations

import copy
import hashlib
import itertools
import json
import math
import re
import socket
import threading
import time
import traceback
import zlib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self
from urllib.parse import parse_qs, unquote, urlencode, urlsplit

__all__ = [
    "ChangedFile",
    "Comment",
    "GitHubStandIn",
    "Hunk",
    "Issue",
    "Pull",
    "Recorded",
    "Review",
    "ReviewComment",
    "parse_hunks",
]

DOCS_URL = "https://docs.github.com/rest"
RATE_LIMIT = 5000
PER_PAGE_DEFAULT, PER_PAGE_MAX = 30, 100

# -- state ----------------------------------------------------------------------------------------


def _now() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


def _iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def _fake_sha(*parts: object) -> str:
    """A stable 40-hex-digit "commit" or "blob" id for ``parts``."""
    return hashlib.sha1("\0".join(map(str, parts)).encode()).hexdigest()


def _user_id(login: str) -> int:
    return zlib.crc32(login.encode()) & 0x7FFFFFFF


@dataclass
class ChangedFile:
    """One entry of ``GET /pulls/{n}/files``. ``patch`` is the unified diff body starting at the
    first ``@@`` line (None: no patch, as GitHub does for binary or huge files). ``additions``,
    ``deletions`` and ``sha`` are derived from it when not given."""

    filename: str
    patch: str | None = None
    status: str = "modified"
    additions: int | None = None
    deletions: int | None = None
    sha: str | None = None
    previous_filename: str | None = None

    def __post_init__(self) -> None:
        lines = (self.patch or "").splitlines()
        if self.additions is None:
            self.additions = sum(line.startswith("+") for line in lines)
        if self.deletions is None:
            self.deletions = sum(line.startswith("-") for line in lines)
        if self.sha is None:
            self.sha = _fake_sha("blob", self.filename, self.patch)


@dataclass(frozen=True)
class Hunk:
    """The line numbers a ``@@ -a,b +c,d @@`` hunk covers in the old and the new file."""

    old: range
    new: range


_HUNK_HEADER = re.compile(r"^@@ -(\d+)(?:,(\d+))? \+(\d+)(?:,(\d+))? @@")


def parse_hunks(patch: str | None) -> list[Hunk]:
    """The hunks of a per-file patch (a missing count means 1, as in unified diffs)."""
    hunks = []
    for line in (patch or "").splitlines():
        if m := _HUNK_HEADER.match(line):
            old_start, old_count, new_start, new_count = m.groups()
            old_n = 1 if old_count is None else int(old_count)
            new_n = 1 if new_count is None else int(new_count)
            hunks.append(Hunk(range(int(old_start), int(old_start) + old_n),
                              range(int(new_start), int(new_start) + new_n)))
    return hunks


@dataclass
class Pull:
    """A pull request as the stand-in stores it."""

    number: int
    id: int
    title: str
    body: str | None
    head_ref: str
    head_sha: str
    head_repo: str  # full name, "owner/name"
    base_ref: str
    user: str
    state: str = "open"
    merged: bool = False
    draft: bool = False
    maintainer_can_modify: bool = False
    labels: list[str] = field(default_factory=list)
    requested_reviewers: list[str] = field(default_factory=list)
    requested_teams: list[str] = field(default_factory=list)
    assignees: list[str] = field(default_factory=list)
    files: list[ChangedFile] = field(default_factory=list)
    created_at: datetime = field(default_factory=_now)
    updated_at: datetime = field(default_factory=_now)
    closed_at: datetime | None = None
    merged_at: datetime | None = None
    earlier_heads: list[str] = field(default_factory=list)  # pushed over (push_head): still its commits

    @property
    def head_label(self) -> str:
        return f"{self.head_repo.split('/')[0]}:{self.head_ref}"


@dataclass
class Issue:
    """A plain issue (not a pull request) as the stand-in stores it."""

    number: int
    id: int
    title: str
    body: str | None
    user: str
    state: str = "open"
    labels: list[str] = field(default_factory=list)
    assignees: list[str] = field(default_factory=list)
    created_at: datetime = field(default_factory=_now)
    updated_at: datetime = field(default_factory=_now)
    closed_at: datetime | None = None


@dataclass
class Comment:
    """An issue comment (on a pull request's conversation tab)."""

    id: int
    issue_number: int
    body: str
    user: str
    created_at: datetime = field(default_factory=_now)
    updated_at: datetime = field(default_factory=_now)


@dataclass
class ReviewComment:
    """An inline comment of a review, as submitted."""

    path: str
    body: str
    line: int | None = None
    side: str | None = None
    start_line: int | None = None
    start_side: str | None = None
    position: int | None = None


@dataclass
class Review:
    """A pull request review. ``event`` is what was submitted (None: pending)."""

    id: int
    body: str
    event: str | None
    state: str
    commit_id: str
    user: str
    comments: list[ReviewComment] = field(default_factory=list)
    submitted_at: datetime | None = None


_REVIEW_STATES = {"APPROVE": "APPROVED", "REQUEST_CHANGES": "CHANGES_REQUESTED",
                  "COMMENT": "COMMENTED", None: "PENDING"}

# -- recording and faults -------------------------------------------------------------------------


@dataclass(frozen=True)
class Recorded:
    """One request as received. ``path`` has no host and no query; ``body`` is the parsed JSON
    (None without a body; the raw text when it is not JSON). ``repr`` hides the Authorization
    header; ``headers`` itself holds it as sent."""

    method: str
    path: str
    query: dict[str, list[str]]
    body: Any
    headers: dict[str, str]

    def __repr__(self) -> str:
        shown = {k: "***" if k.lower() == "authorization" else v for k, v in self.headers.items()}
        return (f"Recorded(method={self.method!r}, path={self.path!r}, query={self.query!r}, "
                f"body={self.body!r}, headers={shown!r})")


@dataclass
class _Fault:
    method: str  # upper case, or "*"
    path: re.Pattern[str]
    status: int
    body: Any
    headers: dict[str, str]
    remaining: int


@dataclass
class _Reply:
    status: int
    body: Any
    headers: dict[str, str] = field(default_factory=dict)


class _HTTPError(Exception):
    """Raised by endpoint handlers to answer with an error."""

    def __init__(self, status: int, body: Any) -> None:
        super().__init__(status, body)
        self.reply = _Reply(status, body)


def _error(message: str, documentation_url: str = DOCS_URL, **extra: Any) -> dict[str, Any]:
    return {"message": message, **extra, "documentation_url": documentation_url}


def _not_found() -> _HTTPError:
    return _HTTPError(404, _error("Not Found"))


def _validation_failed(*errors: dict[str, Any], docs: str = DOCS_URL) -> _HTTPError:
    return _HTTPError(422, _error("Validation Failed", docs, errors=list(errors)))


def _unprocessable(message: str, docs: str = DOCS_URL) -> _HTTPError:
    return _HTTPError(422, _error("Unprocessable Entity", docs, errors=[message]))


# -- the server -----------------------------------------------------------------------------------

_Handler = Callable[[Recorded, dict[str, str]], _Reply]
_REPO = r"/repos/(?P<owner>[^/]+)/(?P<repo>[^/]+)"
_PULLS_DOCS = "https://docs.github.com/rest/pulls/pulls"
_REVIEWS_DOCS = "https://docs.github.com/rest/pulls/reviews#create-a-review-for-a-pull-request"


class GitHubStandIn:
    """An in-memory GitHub with one repository, served on ``127.0.0.1`` (see the module doc).

    State is changed through the API or the helpers (:meth:`add_pull`, :meth:`set_files`,
    :meth:`close_pull`, :meth:`add_comment`, :meth:`add_issue`, :meth:`edit_issue`) and read
    through :attr:`pulls`, :attr:`issues`, :attr:`comments` and :attr:`reviews`, which return copies.
    """

    def __init__(self, repo: str = "acme/gitops", *, default_branch: str = "main",
                 token: str = "t0k3n", login: str = "gitbot[bot]") -> None:
        self.owner, self.name = repo.split("/")
        self.full_name = repo
        self.default_branch = default_branch
        self.login = login
        self._token = token
        self._lock = threading.RLock()
        self._ids = itertools.count(1001)
        self._pulls: dict[int, Pull] = {}
        self._issues: dict[int, Issue] = {}  # plain issues; numbers are shared with the pull requests
        self._comments: dict[int, list[Comment]] = {}
        self._reviews: dict[int, list[Review]] = {}
        self._requests: list[Recorded] = []
        self._request_ids = itertools.count(1)
        self._faults: list[_Fault] = []
        self._used = 0
        self._reset_at = int(time.time()) + 3600
        self._created_at = _now()
        #: Tracebacks of bugs in the stand-in itself (answered as 500s); tests may assert it's empty.
        self.internal_errors: list[str] = []
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self._routes: list[tuple[str, re.Pattern[str], _Handler]] = [
            (method, re.compile(pattern), handler) for method, pattern, handler in [
                ("GET", r"/user", self._get_user),
                ("GET", r"/rate_limit", self._get_rate_limit),
                ("GET", _REPO, self._get_repo),
                ("GET", _REPO + r"/pulls", self._list_pulls),
                ("POST", _REPO + r"/pulls", self._create_pull),
                ("GET", _REPO + r"/pulls/(?P<number>\d+)", self._get_pull),
                ("PATCH", _REPO + r"/pulls/(?P<number>\d+)", self._edit_pull),
                ("GET", _REPO + r"/pulls/(?P<number>\d+)/files", self._list_files),
                ("POST", _REPO + r"/pulls/(?P<number>\d+)/requested_reviewers",
                 self._request_reviewers),
                ("GET", _REPO + r"/pulls/(?P<number>\d+)/reviews", self._list_reviews),
                ("POST", _REPO + r"/pulls/(?P<number>\d+)/reviews", self._create_review),
                ("GET", _REPO + r"/issues", self._list_issues),
                ("POST", _REPO + r"/issues", self._create_issue),
                ("GET", _REPO + r"/issues/(?P<number>\d+)", self._get_issue),
                ("PATCH", _REPO + r"/issues/(?P<number>\d+)", self._edit_issue),
                ("GET", _REPO + r"/issues/(?P<number>\d+)/comments", self._list_comments),
                ("POST", _REPO + r"/issues/(?P<number>\d+)/comments", self._create_comment),
                ("GET", _REPO + r"/issues/comments/(?P<id>\d+)", self._get_comment),
                ("PATCH", _REPO + r"/issues/comments/(?P<id>\d+)", self._edit_comment),
                ("GET", _REPO + r"/issues/(?P<number>\d+)/labels", self._list_labels),
                ("POST", _REPO + r"/issues/(?P<number>\d+)/labels", self._add_labels),
                ("DELETE", _REPO + r"/issues/(?P<number>\d+)/labels/(?P<name>[^/]+)", self._remove_label),
                ("POST", _REPO + r"/issues/(?P<number>\d+)/assignees", self._add_assignees),
            ]
        ]

    # -- lifecycle --------------------------------------------------------------------------------

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> Self:
        """Start serving (idempotent)."""
        if self._server is None:
            self._server = _Server(self)
            self._thread = threading.Thread(target=self._server.serve_forever,
                                            kwargs={"poll_interval": 0.05}, daemon=True,
                                            name=f"GitHubStandIn {self.base_url}")
            self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and drop idle keep-alive connections (idempotent)."""
        server, self._server = self._server, None
        if server is None:
            return
        server.shutdown()
        server.server_close()
        server.close_connections()
        if self._thread is not None:
            self._thread.join(timeout=5)

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:PORT``, for ``github.Github(base_url=...)``."""
        if self._server is None:
            raise RuntimeError("GitHubStandIn is not running: use start() or a with block")
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    # -- recording and faults ---------------------------------------------------------------------

    @property
    def requests(self) -> list[Recorded]:
        """Every request received so far, oldest first (a copy)."""
        with self._lock:
            return list(self._requests)

    def calls(self) -> list[str]:
        """``"METHOD /path"`` for every request so far (no host, no query)."""
        return [f"{r.method} {r.path}" for r in self.requests]

    def clear_requests(self) -> None:
        with self._lock:
            self._requests.clear()

    def fail_next(self, method: str, path_regex: str, status: int, body: Any = None,
                  headers: Mapping[str, str] | None = None, times: int = 1) -> None:
        """Answer the next ``times`` requests whose method is ``method`` ("*": any) and whose path
        (no query) fully matches ``path_regex`` with ``status``, JSON ``body`` (default: GitHub's
        ``{"message": <reason>, "documentation_url": ...}``) and ``headers`` on top of the
        standard ones. Faults are checked before authentication, in the order queued."""
        if body is None:
            body = _error(HTTPStatus(status).phrase)
        with self._lock:
            self._faults.append(_Fault(method.upper(), re.compile(path_regex), status, body,
                                       dict(headers or {}), times))

    def rate_limit_next(self, method: str, path_regex: str, *, secondary: bool = False,
                        status: int = 403, retry_after: int = 1, times: int = 1) -> None:
        """Queue GitHub's rate-limit answer: the primary limit (403, ``X-RateLimit-Remaining: 0``,
        ``X-RateLimit-Reset`` a minute ahead) or, with ``secondary``, the secondary limit
        (``status`` 403 or 429, ``Retry-After: retry_after``)."""
        if secondary:
            message = ("You have exceeded a secondary rate limit. Please wait a few minutes "
                       "before you try again.")
            headers = {"Retry-After": str(retry_after)}
            docs = "https://docs.github.com/rest/overview/rate-limits-for-the-rest-api"
        else:
            status = 403
            message = "API rate limit exceeded for installation ID 1."
            headers = {"X-RateLimit-Remaining": "0", "X-RateLimit-Used": str(RATE_LIMIT),
                       "X-RateLimit-Reset": str(int(time.time()) + 60)}
            docs = ("https://docs.github.com/rest/overview/resources-in-the-rest-api"
                    "#rate-limiting")
        self.fail_next(method, path_regex, status, _error(message, docs), headers, times)

    # -- state helpers ----------------------------------------------------------------------------

    def add_pull(self, head: str, base: str = "main", title: str = "Test pull request",
                 body: str = "", state: str = "open", merged: bool = False,
                 user: str | None = None, head_sha: str | None = None) -> int:
        """Create a pull request directly (no request recorded); returns its number. ``head`` is
        a branch of this repository or ``owner:branch`` of a fork; ``user`` defaults to the
        authenticated login."""
        with self._lock:
            pull = self._new_pull(head, base, title, body, user or self.login, head_sha)
            if state == "closed" or merged:
                self._close(pull, merged)
            return pull.number

    def set_files(self, number: int, files: Iterable[ChangedFile | Mapping[str, Any]]) -> None:
        """Replace the changed files of pull request ``number`` (dicts take ChangedFile's fields)."""
        with self._lock:
            self._pull(number).files = [f if isinstance(f, ChangedFile) else ChangedFile(**f)
                                        for f in files]

    def push_head(self, number: int, sha: str) -> None:
        """A push to the pull request's branch: ``sha`` is its new head; the old head stays one of
        its commits (a review may still name it, as GitHub allows for outdated comments)."""
        with self._lock:
            pull = self._pull(number)
            pull.earlier_heads.append(pull.head_sha)
            pull.head_sha, pull.updated_at = sha, _now()

    def close_pull(self, number: int, merged: bool = False) -> None:
        with self._lock:
            self._close(self._pull(number), merged)

    def add_comment(self, number: int, body: str, user: str | None = None) -> int:
        """Add an issue comment directly (e.g. by a human); returns its id."""
        with self._lock:
            self._pull(number)
            comment = Comment(next(self._ids), number, body, user or self.login)
            self._comments.setdefault(number, []).append(comment)
            return comment.id

    def add_issue(self, title: str, body: str = "", state: str = "open", labels: Iterable[str] = (),
                  user: str | None = None) -> int:
        """Create a plain issue directly (no request recorded); returns its number."""
        with self._lock:
            issue = self._new_issue(title, body, user or self.login)
            issue.labels = list(dict.fromkeys(labels))
            if state == "closed":
                issue.state, issue.closed_at = "closed", _now()
            return issue.number

    def edit_issue(self, number: int, *, body: str | None = None, state: str | None = None,
                   labels: Iterable[str] | None = None) -> None:
        """Change a plain issue as a person would in the web UI (no request recorded), e.g. tick a
        box in its body."""
        with self._lock:
            issue = self._issue(number)
            if body is not None:
                issue.body = body
            if labels is not None:
                issue.labels = list(dict.fromkeys(labels))
            if state is not None:
                issue.state, issue.closed_at = state, (_now() if state == "closed" else None)
            issue.updated_at = _now()

    @property
    def issues(self) -> dict[int, Issue]:
        """Plain issues by number (pull requests are in :attr:`pulls`)."""
        with self._lock:
            return copy.deepcopy(self._issues)

    @property
    def pulls(self) -> dict[int, Pull]:
        with self._lock:
            return copy.deepcopy(self._pulls)

    @property
    def comments(self) -> dict[int, list[Comment]]:
        """Issue comments by pull request number."""
        with self._lock:
            return copy.deepcopy(self._comments)

    @property
    def reviews(self) -> dict[int, list[Review]]:
        """Reviews by pull request number."""
        with self._lock:
            return copy.deepcopy(self._reviews)

    def _new_pull(self, head: str, base: str, title: str, body: str | None, user: str,
                  head_sha: str | None = None) -> Pull:
        owner, _, ref = head.rpartition(":")
        number = self._next_number()
        pull = Pull(number=number, id=next(self._ids), title=title, body=body, head_ref=ref,
                    head_sha=head_sha or _fake_sha("commit", head, number),
                    head_repo=f"{owner or self.owner}/{self.name}", base_ref=base, user=user)
        self._pulls[number] = pull
        return pull

    def _next_number(self) -> int:
        return len(self._pulls) + len(self._issues) + 1

    def _new_issue(self, title: str, body: str | None, user: str) -> Issue:
        issue = Issue(number=self._next_number(), id=next(self._ids), title=title, body=body, user=user)
        self._issues[issue.number] = issue
        return issue

    def _issue(self, number: int | str) -> Issue:
        try:
            return self._issues[int(number)]
        except KeyError:
            raise _not_found() from None

    def _labelled(self, number: int | str) -> Pull | Issue:
        """The pull request or plain issue ``number`` (labels belong to either)."""
        return self._issues[int(number)] if int(number) in self._issues else self._pull(number)

    def _close(self, pull: Pull, merged: bool) -> None:
        pull.state, pull.closed_at, pull.updated_at = "closed", _now(), _now()
        if merged:
            pull.merged, pull.merged_at = True, pull.closed_at

    def _pull(self, number: int | str) -> Pull:
        try:
            return self._pulls[int(number)]
        except KeyError:
            raise _not_found() from None

    # -- request handling -------------------------------------------------------------------------

    def _handle(self, method: str, target: str, headers: Mapping[str, str], raw: bytes) -> _Reply:
        """Record and answer one request (called by the HTTP handler's threads)."""
        split = urlsplit(target)
        body: Any = None
        bad_json = False
        if raw:
            text = raw.decode("utf-8", errors="replace")
            try:
                body = json.loads(text)
            except ValueError:
                body, bad_json = text, True
        request = Recorded(method.upper(), split.path,
                           parse_qs(split.query, keep_blank_values=True), body, dict(headers))
        with self._lock:
            self._requests.append(request)
            reply = self._answer(request, bad_json)
            reply.headers = {**self._standard_headers(next(self._request_ids)), **reply.headers}
            return reply

    def _answer(self, request: Recorded, bad_json: bool) -> _Reply:
        fault = self._take_fault(request)
        if fault is not None:
            return _Reply(fault.status, fault.body, dict(fault.headers))
        if (failure := self._check_auth(request.headers)) is not None:
            return failure
        if request.path != "/rate_limit":
            self._used += 1
        if bad_json:
            return _Reply(400, _error("Problems parsing JSON"))
        handler, params = self._route(request)
        try:
            return handler(request, params)
        except _HTTPError as e:
            return e.reply
        except Exception as exc:  # noqa: BLE001 -- a stand-in bug, answered as a visible 500
            self.internal_errors.append(traceback.format_exc())
            return _Reply(500, _error(f"GitHubStandIn internal error: {exc!r}"))

    def _take_fault(self, request: Recorded) -> _Fault | None:
        for fault in self._faults:
            if fault.method in ("*", request.method) and fault.path.fullmatch(request.path):
                fault.remaining -= 1
                if fault.remaining <= 0:
                    self._faults.remove(fault)
                return fault
        return None

    def _check_auth(self, headers: Mapping[str, str]) -> _Reply | None:
        value = next((v for k, v in headers.items() if k.lower() == "authorization"), None)
        if value is None:
            return _Reply(401, _error("Requires authentication"))
        scheme, _, token = value.partition(" ")
        if scheme.lower() not in ("token", "bearer") or token.strip() != self._token:
            return _Reply(401, _error("Bad credentials"))
        return None

    def _route(self, request: Recorded) -> tuple[_Handler, dict[str, str]]:
        for method, pattern, handler in self._routes:
            if method == request.method and (m := pattern.fullmatch(request.path)):
                params = m.groupdict()
                if "owner" in params and (
                        f"{params['owner']}/{params['repo']}".lower() != self.full_name.lower()):
                    break
                return handler, params
        return self._not_found_handler, {}

    def _not_found_handler(self, request: Recorded, params: dict[str, str]) -> _Reply:
        raise _not_found()

    def _standard_headers(self, request_id: int) -> dict[str, str]:
        return {
            "Content-Type": "application/json; charset=utf-8",
            "X-GitHub-Media-Type": "github.v3; format=json",
            "X-GitHub-Request-Id": f"STANDIN:{request_id:06d}",
            "X-RateLimit-Limit": str(RATE_LIMIT),
            "X-RateLimit-Remaining": str(max(RATE_LIMIT - self._used, 0)),
            "X-RateLimit-Reset": str(self._reset_at),
            "X-RateLimit-Used": str(self._used),
            "X-RateLimit-Resource": "core",
        }

    def _paginate(self, request: Recorded, items: list[Any]) -> _Reply:
        """One page of ``items`` per the ``page``/``per_page`` query, with GitHub's Link header."""
        def number(name: str, default: int) -> int:
            try:
                return int(request.query.get(name, [default])[0])
            except ValueError:
                return default

        per_page = min(max(number("per_page", PER_PAGE_DEFAULT), 1), PER_PAGE_MAX)
        page = max(number("page", 1), 1)
        last = max(math.ceil(len(items) / per_page), 1)

        def link(to: int, rel: str) -> str:
            query = {**request.query, "page": [str(to)]}
            return f'<{self.base_url}{request.path}?{urlencode(query, doseq=True)}>; rel="{rel}"'

        links = []
        if page > 1:
            links += [link(min(page - 1, last), "prev"), link(1, "first")]
        if page < last:
            links += [link(page + 1, "next"), link(last, "last")]
        start = (page - 1) * per_page
        return _Reply(200, items[start:start + per_page],
                      {"Link": ", ".join(links)} if links else {})

    # -- JSON shapes ------------------------------------------------------------------------------

    def _user_json(self, login: str) -> dict[str, Any]:
        is_bot = login.endswith("[bot]")
        is_org = login.lower() == self.owner.lower()
        api = f"{self.base_url}/users/{login}"
        return {
            "login": login, "id": _user_id(login), "node_id": f"U_{_user_id(login)}",
            "type": "Bot" if is_bot else "Organization" if is_org else "User",
            "site_admin": False, "url": api, "html_url": f"https://github.com/{login}",
            "avatar_url": f"https://avatars.githubusercontent.com/u/{_user_id(login)}?v=4",
            "gravatar_id": "", "repos_url": f"{api}/repos",
        }

    def _repo_json(self, full_name: str | None = None) -> dict[str, Any]:
        full_name = full_name or self.full_name
        owner, name = full_name.split("/")
        api = f"{self.base_url}/repos/{full_name}"
        html = f"https://github.com/{full_name}"
        return {
            "id": _user_id(full_name), "node_id": f"R_{_user_id(full_name)}", "name": name,
            "full_name": full_name, "owner": self._user_json(owner), "private": True,
            "visibility": "private", "fork": full_name != self.full_name, "archived": False,
            "disabled": False, "description": None, "html_url": html, "url": api,
            "clone_url": f"{html}.git", "git_url": f"git://github.com/{full_name}.git",
            "ssh_url": f"git@github.com:{full_name}.git",
            "pulls_url": f"{api}/pulls{{/number}}", "issues_url": f"{api}/issues{{/number}}",
            "default_branch": self.default_branch, "created_at": _iso(self._created_at),
            "updated_at": _iso(self._created_at), "pushed_at": _iso(self._created_at),
            "permissions": {"admin": False, "maintain": False, "push": True, "triage": True,
                            "pull": True},
            "allow_merge_commit": True, "allow_squash_merge": True, "allow_rebase_merge": True,
            "delete_branch_on_merge": False, "has_issues": True,
            "open_issues_count": sum(i.state == "open" for i in [*self._pulls.values(), *self._issues.values()]),
        }

    def _label_json(self, name: str) -> dict[str, Any]:
        return {
            "id": _user_id(f"label:{name}"), "node_id": f"LA_{_user_id(f'label:{name}')}",
            "url": f"{self.base_url}/repos/{self.full_name}/labels/{name}", "name": name,
            "color": f"{zlib.crc32(name.encode()) & 0xFFFFFF:06x}", "default": False,
            "description": None,
        }

    def _team_json(self, slug: str) -> dict[str, Any]:
        return {
            "id": _user_id(f"team:{slug}"), "node_id": f"T_{_user_id(f'team:{slug}')}",
            "name": slug, "slug": slug, "description": None, "privacy": "closed",
            "permission": "pull", "parent": None,
            "url": f"{self.base_url}/organizations/{_user_id(self.owner)}/team/{_user_id(slug)}",
            "html_url": f"https://github.com/orgs/{self.owner}/teams/{slug}",
        }

    def _pull_json(self, pull: Pull, *, full: bool = True) -> dict[str, Any]:
        """The pull request object (``full=False``: the simple shape of list responses)."""
        repo_api = f"{self.base_url}/repos/{self.full_name}"
        api, issue_api = f"{repo_api}/pulls/{pull.number}", f"{repo_api}/issues/{pull.number}"
        html = f"https://github.com/{self.full_name}/pull/{pull.number}"
        head_owner = pull.head_repo.split("/")[0]
        data: dict[str, Any] = {
            "url": api, "id": pull.id, "node_id": f"PR_{pull.id}", "html_url": html,
            "diff_url": f"{html}.diff", "patch_url": f"{html}.patch", "issue_url": issue_api,
            "commits_url": f"{api}/commits", "review_comments_url": f"{api}/comments",
            "review_comment_url": f"{repo_api}/pulls/comments{{/number}}",
            "comments_url": f"{issue_api}/comments",
            "statuses_url": f"{repo_api}/statuses/{pull.head_sha}",
            "number": pull.number, "state": pull.state, "locked": False, "title": pull.title,
            "user": self._user_json(pull.user), "body": pull.body,
            "labels": [self._label_json(name) for name in pull.labels], "milestone": None,
            "active_lock_reason": None, "created_at": _iso(pull.created_at),
            "updated_at": _iso(pull.updated_at), "closed_at": _iso(pull.closed_at),
            "merged_at": _iso(pull.merged_at),
            "merge_commit_sha": _fake_sha("merge", pull.number, pull.head_sha),
            "assignee": self._user_json(pull.assignees[0]) if pull.assignees else None,
            "assignees": [self._user_json(login) for login in pull.assignees],
            "requested_reviewers": [self._user_json(login) for login in pull.requested_reviewers],
            "requested_teams": [self._team_json(slug) for slug in pull.requested_teams],
            "head": {"label": pull.head_label, "ref": pull.head_ref, "sha": pull.head_sha,
                     "user": self._user_json(head_owner), "repo": self._repo_json(pull.head_repo)},
            "base": {"label": f"{self.owner}:{pull.base_ref}", "ref": pull.base_ref,
                     "sha": _fake_sha("commit", self.full_name, pull.base_ref),
                     "user": self._user_json(self.owner), "repo": self._repo_json()},
            "_links": {"self": {"href": api}, "html": {"href": html},
                       "issue": {"href": issue_api}, "comments": {"href": f"{issue_api}/comments"},
                       "review_comments": {"href": f"{api}/comments"},
                       "commits": {"href": f"{api}/commits"},
                       "statuses": {"href": f"{repo_api}/statuses/{pull.head_sha}"}},
            "author_association": "CONTRIBUTOR", "auto_merge": None, "draft": pull.draft,
        }
        if full:
            is_open = pull.state == "open"
            data |= {
                "merged": pull.merged, "mergeable": True if is_open else None,
                "rebaseable": True if is_open else None,
                "mergeable_state": "clean" if is_open else "unknown",
                "merged_by": self._user_json(self.login) if pull.merged else None,
                "comments": len(self._comments.get(pull.number, [])),
                "review_comments": sum(len(r.comments)
                                       for r in self._reviews.get(pull.number, [])),
                "maintainer_can_modify": pull.maintainer_can_modify, "commits": 1,
                "additions": sum(f.additions or 0 for f in pull.files),
                "deletions": sum(f.deletions or 0 for f in pull.files),
                "changed_files": len(pull.files),
            }
        return data

    def _issue_json(self, pull: Pull) -> dict[str, Any]:
        repo_api = f"{self.base_url}/repos/{self.full_name}"
        api = f"{repo_api}/issues/{pull.number}"
        html = f"https://github.com/{self.full_name}/pull/{pull.number}"
        return {
            "url": api, "repository_url": repo_api, "labels_url": f"{api}/labels{{/name}}",
            "comments_url": f"{api}/comments", "events_url": f"{api}/events", "html_url": html,
            "id": pull.id, "node_id": f"PR_{pull.id}", "number": pull.number,
            "title": pull.title, "user": self._user_json(pull.user),
            "labels": [self._label_json(name) for name in pull.labels], "state": pull.state,
            "locked": False,
            "assignee": self._user_json(pull.assignees[0]) if pull.assignees else None,
            "assignees": [self._user_json(login) for login in pull.assignees],
            "milestone": None, "comments": len(self._comments.get(pull.number, [])),
            "created_at": _iso(pull.created_at), "updated_at": _iso(pull.updated_at),
            "closed_at": _iso(pull.closed_at), "author_association": "CONTRIBUTOR",
            "active_lock_reason": None, "body": pull.body, "draft": pull.draft,
            "state_reason": "completed" if pull.state == "closed" else None,
            "pull_request": {"url": f"{repo_api}/pulls/{pull.number}", "html_url": html,
                             "diff_url": f"{html}.diff", "patch_url": f"{html}.patch",
                             "merged_at": _iso(pull.merged_at)},
        }

    def _plain_issue_json(self, issue: Issue) -> dict[str, Any]:
        repo_api = f"{self.base_url}/repos/{self.full_name}"
        api = f"{repo_api}/issues/{issue.number}"
        return {
            "url": api, "repository_url": repo_api, "labels_url": f"{api}/labels{{/name}}",
            "comments_url": f"{api}/comments", "events_url": f"{api}/events",
            "html_url": f"https://github.com/{self.full_name}/issues/{issue.number}",
            "id": issue.id, "node_id": f"I_{issue.id}", "number": issue.number,
            "title": issue.title, "user": self._user_json(issue.user),
            "labels": [self._label_json(name) for name in issue.labels], "state": issue.state,
            "locked": False,
            "assignee": self._user_json(issue.assignees[0]) if issue.assignees else None,
            "assignees": [self._user_json(login) for login in issue.assignees],
            "milestone": None, "comments": len(self._comments.get(issue.number, [])),
            "created_at": _iso(issue.created_at), "updated_at": _iso(issue.updated_at),
            "closed_at": _iso(issue.closed_at), "author_association": "CONTRIBUTOR",
            "active_lock_reason": None, "body": issue.body,
            "state_reason": "completed" if issue.state == "closed" else None,
        }

    def _comment_json(self, comment: Comment) -> dict[str, Any]:
        repo_api = f"{self.base_url}/repos/{self.full_name}"
        return {
            "url": f"{repo_api}/issues/comments/{comment.id}", "id": comment.id,
            "node_id": f"IC_{comment.id}",
            "html_url": (f"https://github.com/{self.full_name}/pull/{comment.issue_number}"
                         f"#issuecomment-{comment.id}"),
            "issue_url": f"{repo_api}/issues/{comment.issue_number}", "body": comment.body,
            "user": self._user_json(comment.user), "created_at": _iso(comment.created_at),
            "updated_at": _iso(comment.updated_at), "author_association": "CONTRIBUTOR",
        }

    def _review_json(self, number: int, review: Review) -> dict[str, Any]:
        pull_api = f"{self.base_url}/repos/{self.full_name}/pulls/{number}"
        html = f"https://github.com/{self.full_name}/pull/{number}#pullrequestreview-{review.id}"
        data = {
            "id": review.id, "node_id": f"PRR_{review.id}", "user": self._user_json(review.user),
            "body": review.body, "state": review.state, "html_url": html,
            "pull_request_url": pull_api, "commit_id": review.commit_id,
            "author_association": "CONTRIBUTOR",
            "_links": {"html": {"href": html}, "pull_request": {"href": pull_api}},
        }
        if review.submitted_at is not None:
            data["submitted_at"] = _iso(review.submitted_at)
        return data

    def _file_json(self, changed: ChangedFile, head_sha: str) -> dict[str, Any]:
        html = f"https://github.com/{self.full_name}"
        data = {
            "sha": changed.sha, "filename": changed.filename, "status": changed.status,
            "additions": changed.additions, "deletions": changed.deletions,
            "changes": (changed.additions or 0) + (changed.deletions or 0),
            "blob_url": f"{html}/blob/{head_sha}/{changed.filename}",
            "raw_url": f"{html}/raw/{head_sha}/{changed.filename}",
            "contents_url": (f"{self.base_url}/repos/{self.full_name}/contents/"
                             f"{changed.filename}?ref={head_sha}"),
        }
        if changed.patch is not None:
            data["patch"] = changed.patch
        if changed.previous_filename is not None:
            data["previous_filename"] = changed.previous_filename
        return data

    # -- endpoints --------------------------------------------------------------------------------

    def _get_user(self, request: Recorded, params: dict[str, str]) -> _Reply:
        return _Reply(200, self._user_json(self.login))

    def _get_rate_limit(self, request: Recorded, params: dict[str, str]) -> _Reply:
        core = {"limit": RATE_LIMIT, "used": self._used,
                "remaining": max(RATE_LIMIT - self._used, 0), "reset": self._reset_at}
        idle = {"used": 0, "reset": self._reset_at}
        return _Reply(200, {"resources": {"core": core,
                                          "search": {"limit": 30, "remaining": 30, **idle},
                                          "graphql": {"limit": RATE_LIMIT,
                                                      "remaining": RATE_LIMIT, **idle}},
                            "rate": core})

    def _get_repo(self, request: Recorded, params: dict[str, str]) -> _Reply:
        return _Reply(200, self._repo_json())

    def _list_pulls(self, request: Recorded, params: dict[str, str]) -> _Reply:
        query = {k: v[-1] for k, v in request.query.items()}
        state = query.get("state", "open")
        if state not in ("open", "closed", "all"):
            raise _validation_failed({"resource": "PullRequest", "field": "state",
                                      "code": "invalid"}, docs=_PULLS_DOCS)
        head = query.get("head", "")
        pulls = [p for p in self._pulls.values()
                 if state in ("all", p.state)
                 and ("base" not in query or p.base_ref == query["base"])
                 and (":" not in head or p.head_label.lower() == head.lower())]
        sort = query.get("sort", "created")
        direction = query.get("direction", "desc" if sort == "created" else "asc")
        key = (lambda p: (p.updated_at, p.number)) if sort == "updated" else (
            lambda p: (p.created_at, p.number))
        pulls.sort(key=key, reverse=direction == "desc")
        return self._paginate(request, [self._pull_json(p, full=False) for p in pulls])

    def _create_pull(self, request: Recorded, params: dict[str, str]) -> _Reply:
        body = request.body if isinstance(request.body, dict) else {}
        for name in ("title", "head", "base"):
            if not isinstance(body.get(name), str) or not body[name]:
                raise _validation_failed({"resource": "PullRequest", "field": name,
                                          "code": "missing_field"}, docs=_PULLS_DOCS)
        head, base = body["head"], body["base"]
        label = head if ":" in head else f"{self.owner}:{head}"
        if label.lower() == f"{self.owner}:{base}".lower():
            raise _validation_failed({"resource": "PullRequest", "code": "custom",
                                      "message": f"No commits between {base} and {head}"},
                                     docs=_PULLS_DOCS)
        if any(p.state == "open" and p.head_label.lower() == label.lower() and p.base_ref == base
               for p in self._pulls.values()):
            raise _validation_failed({"resource": "PullRequest", "code": "custom",
                                      "message": f"A pull request already exists for {label}."},
                                     docs=_PULLS_DOCS)
        pull = self._new_pull(label, base, body["title"], body.get("body"), self.login)
        pull.draft = bool(body.get("draft", False))
        pull.maintainer_can_modify = bool(body.get("maintainer_can_modify", False))
        data = self._pull_json(pull)
        return _Reply(201, data, {"Location": data["url"]})

    def _get_pull(self, request: Recorded, params: dict[str, str]) -> _Reply:
        return _Reply(200, self._pull_json(self._pull(params["number"])))

    def _edit_pull(self, request: Recorded, params: dict[str, str]) -> _Reply:
        pull = self._pull(params["number"])
        body = request.body if isinstance(request.body, dict) else {}
        state = body.get("state")
        if state is not None and (state not in ("open", "closed") or pull.merged):
            raise _validation_failed({"resource": "PullRequest", "field": "state",
                                      "code": "invalid"}, docs=_PULLS_DOCS)
        if state == "open" and pull.state == "closed" and any(
                p.state == "open" and p.head_label == pull.head_label
                and p.base_ref == pull.base_ref for p in self._pulls.values()):
            raise _validation_failed({"resource": "PullRequest", "code": "custom",
                                      "message": f"A pull request already exists for "
                                                 f"{pull.head_label}."}, docs=_PULLS_DOCS)
        for name in ("title", "body", "maintainer_can_modify"):
            if name in body:
                setattr(pull, name, body[name])
        if "base" in body:
            pull.base_ref = body["base"]
        if state == "closed" and pull.state == "open":
            self._close(pull, merged=False)
        elif state == "open":
            pull.state, pull.closed_at = "open", None
        pull.updated_at = _now()
        return _Reply(200, self._pull_json(pull))

    def _list_files(self, request: Recorded, params: dict[str, str]) -> _Reply:
        pull = self._pull(params["number"])
        return self._paginate(request, [self._file_json(f, pull.head_sha) for f in pull.files])

    def _request_reviewers(self, request: Recorded, params: dict[str, str]) -> _Reply:
        pull = self._pull(params["number"])
        body = request.body if isinstance(request.body, dict) else {}
        reviewers, teams = body.get("reviewers") or [], body.get("team_reviewers") or []
        if pull.user in reviewers:
            raise _unprocessable("Review cannot be requested from pull request author.",
                                 "https://docs.github.com/rest/pulls/review-requests")
        pull.requested_reviewers += [r for r in reviewers if r not in pull.requested_reviewers]
        pull.requested_teams += [t for t in teams if t not in pull.requested_teams]
        pull.updated_at = _now()
        return _Reply(201, self._pull_json(pull, full=False))

    def _list_reviews(self, request: Recorded, params: dict[str, str]) -> _Reply:
        number = self._pull(params["number"]).number
        return self._paginate(request, [self._review_json(number, r)
                                        for r in self._reviews.get(number, [])])

    def _create_review(self, request: Recorded, params: dict[str, str]) -> _Reply:
        pull = self._pull(params["number"])
        body = request.body if isinstance(request.body, dict) else {}
        event = body.get("event") or None
        if event not in _REVIEW_STATES:
            raise _unprocessable(f"Unknown review event: {event}", _REVIEWS_DOCS)
        if pull.user == self.login and event in ("APPROVE", "REQUEST_CHANGES"):
            what = "approve" if event == "APPROVE" else "request changes on"
            raise _unprocessable(f"Can not {what} your own pull request", _REVIEWS_DOCS)
        commit_id = body.get("commit_id")
        if commit_id is not None and commit_id not in (pull.head_sha, *pull.earlier_heads):
            raise _validation_failed({"resource": "PullRequestReview", "code": "custom",
                                      "field": "commit_id",
                                      "message": "commit_id is not part of the pull request"},
                                     docs=_REVIEWS_DOCS)
        files = {f.filename: f for f in pull.files}
        comments = [self._resolve_review_comment(c, files) for c in body.get("comments") or []]
        review = Review(id=next(self._ids), body=body.get("body") or "", event=event,
                        state=_REVIEW_STATES[event],
                        commit_id=commit_id or pull.head_sha, user=self.login,
                        comments=comments, submitted_at=None if event is None else _now())
        self._reviews.setdefault(pull.number, []).append(review)
        if event is not None and self.login in pull.requested_reviewers:
            pull.requested_reviewers.remove(self.login)
        return _Reply(200, self._review_json(pull.number, review))

    @staticmethod
    def _resolve_review_comment(raw: Any, files: Mapping[str, ChangedFile]) -> ReviewComment:
        """Check one inline comment of a review against the pull request's diff."""
        if not isinstance(raw, dict) or not isinstance(raw.get("path"), str):
            raise _unprocessable("Path could not be resolved", _REVIEWS_DOCS)
        changed = files.get(raw["path"])
        if changed is None:
            raise _unprocessable("Path could not be resolved", _REVIEWS_DOCS)
        comment = ReviewComment(path=raw["path"], body=str(raw.get("body", "")),
                                line=raw.get("line"), side=raw.get("side"),
                                start_line=raw.get("start_line"),
                                start_side=raw.get("start_side"), position=raw.get("position"))
        hunks = parse_hunks(changed.patch)

        def hunk_of(line: Any, side: str | None) -> Hunk | None:
            if not isinstance(line, int) or side not in (None, "LEFT", "RIGHT"):
                return None
            return next((h for h in hunks if line in (h.old if side == "LEFT" else h.new)), None)

        if comment.line is not None:
            hunk = hunk_of(comment.line, comment.side or "RIGHT")
            resolved = hunk is not None
            if resolved and comment.start_line is not None:
                start_side = comment.start_side or comment.side or "RIGHT"
                resolved = (hunk_of(comment.start_line, start_side) == hunk
                            and comment.start_line < comment.line)
        elif comment.position is not None:
            positions = len((changed.patch or "").splitlines()) - 1  # the line after @@ is 1
            resolved = isinstance(comment.position, int) and 1 <= comment.position <= positions
        else:
            resolved = False
        if not resolved:
            raise _unprocessable("Line could not be resolved", _REVIEWS_DOCS)
        return comment

    def _list_issues(self, request: Recorded, params: dict[str, str]) -> _Reply:
        query = {k: v[-1] for k, v in request.query.items()}
        state = query.get("state", "open")
        if state not in ("open", "closed", "all"):
            raise _validation_failed({"resource": "Issue", "field": "state", "code": "invalid"})
        wanted = [name for name in query.get("labels", "").split(",") if name]
        items: list[Pull | Issue] = [*self._pulls.values(), *self._issues.values()]
        items = [i for i in items if state in ("all", i.state) and all(name in i.labels for name in wanted)
                 and ("creator" not in query or i.user == query["creator"])]
        sort = query.get("sort", "created")
        key = (lambda i: (i.updated_at, i.number)) if sort == "updated" else (lambda i: (i.created_at, i.number))
        items.sort(key=key, reverse=query.get("direction", "desc") == "desc")
        return self._paginate(request, [self._issue_json(i) if isinstance(i, Pull) else self._plain_issue_json(i)
                                        for i in items])

    def _create_issue(self, request: Recorded, params: dict[str, str]) -> _Reply:
        body = request.body if isinstance(request.body, dict) else {}
        if not isinstance(body.get("title"), str) or not body["title"]:
            raise _validation_failed({"resource": "Issue", "field": "title", "code": "missing_field"})
        issue = self._new_issue(body["title"], body.get("body"), self.login)
        issue.labels = list(dict.fromkeys(body.get("labels") or []))
        issue.assignees = list(dict.fromkeys(body.get("assignees") or []))
        data = self._plain_issue_json(issue)
        return _Reply(201, data, {"Location": data["url"]})

    def _get_issue(self, request: Recorded, params: dict[str, str]) -> _Reply:
        if int(params["number"]) in self._issues:
            return _Reply(200, self._plain_issue_json(self._issues[int(params["number"])]))
        return _Reply(200, self._issue_json(self._pull(params["number"])))

    def _edit_issue(self, request: Recorded, params: dict[str, str]) -> _Reply:
        issue = self._issue(params["number"])
        body = request.body if isinstance(request.body, dict) else {}
        state = body.get("state")
        if state is not None and state not in ("open", "closed"):
            raise _validation_failed({"resource": "Issue", "field": "state", "code": "invalid"})
        for name in ("title", "body"):
            if name in body:
                setattr(issue, name, body[name])
        if "labels" in body:
            issue.labels = list(dict.fromkeys(body["labels"] or []))
        if state is not None and state != issue.state:
            issue.state, issue.closed_at = state, (_now() if state == "closed" else None)
        issue.updated_at = _now()
        return _Reply(200, self._plain_issue_json(issue))

    def _list_comments(self, request: Recorded, params: dict[str, str]) -> _Reply:
        number = self._pull(params["number"]).number
        return self._paginate(request, [self._comment_json(c)
                                        for c in self._comments.get(number, [])])

    def _create_comment(self, request: Recorded, params: dict[str, str]) -> _Reply:
        pull = self._pull(params["number"])
        body = request.body if isinstance(request.body, dict) else {}
        if not isinstance(body.get("body"), str) or not body["body"]:
            raise _validation_failed({"resource": "IssueComment", "field": "body",
                                      "code": "missing_field"})
        comment = Comment(next(self._ids), pull.number, body["body"], self.login)
        self._comments.setdefault(pull.number, []).append(comment)
        data = self._comment_json(comment)
        return _Reply(201, data, {"Location": data["url"]})

    def _find_comment(self, comment_id: str) -> Comment:
        for comments in self._comments.values():
            for comment in comments:
                if comment.id == int(comment_id):
                    return comment
        raise _not_found()

    def _get_comment(self, request: Recorded, params: dict[str, str]) -> _Reply:
        return _Reply(200, self._comment_json(self._find_comment(params["id"])))

    def _edit_comment(self, request: Recorded, params: dict[str, str]) -> _Reply:
        comment = self._find_comment(params["id"])
        body = request.body if isinstance(request.body, dict) else {}
        if not isinstance(body.get("body"), str) or not body["body"]:
            raise _validation_failed({"resource": "IssueComment", "field": "body",
                                      "code": "missing_field"})
        comment.body, comment.updated_at = body["body"], _now()
        return _Reply(200, self._comment_json(comment))

    def _list_labels(self, request: Recorded, params: dict[str, str]) -> _Reply:
        pull = self._pull(params["number"])
        return self._paginate(request, [self._label_json(name) for name in pull.labels])

    def _add_labels(self, request: Recorded, params: dict[str, str]) -> _Reply:
        pull = self._labelled(params["number"])
        body = request.body
        names = body.get("labels") if isinstance(body, dict) else body
        if not isinstance(names, list) or not all(isinstance(n, str) and n for n in names):
            raise _validation_failed({"resource": "Label", "field": "name", "code": "invalid"})
        pull.labels += [n for n in dict.fromkeys(names) if n not in pull.labels]
        pull.updated_at = _now()
        return _Reply(200, [self._label_json(name) for name in pull.labels])

    def _remove_label(self, request: Recorded, params: dict[str, str]) -> _Reply:
        item = self._labelled(params["number"])
        name = unquote(params["name"])
        if name not in item.labels:
            raise _HTTPError(404, _error("Label does not exist",
                                         "https://docs.github.com/rest/issues/labels#remove-a-label-from-an-issue"))
        item.labels.remove(name)
        item.updated_at = _now()
        return _Reply(200, [self._label_json(n) for n in item.labels])

    def _add_assignees(self, request: Recorded, params: dict[str, str]) -> _Reply:
        pull = self._pull(params["number"])
        body = request.body if isinstance(request.body, dict) else {}
        pull.assignees += [a for a in dict.fromkeys(body.get("assignees") or [])
                           if a not in pull.assignees]
        pull.updated_at = _now()
        return _Reply(201, self._issue_json(pull))


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, standin: GitHubStandIn) -> None:
        super().__init__(("127.0.0.1", 0), _RequestHandler)
        self.standin = standin
        self.connections: set[socket.socket] = set()

    def close_connections(self) -> None:
        for connection in list(self.connections):
            try:
                connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


class _RequestHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as PyGithub's requests session expects
    server: _Server

    def setup(self) -> None:
        super().setup()
        # headers and body go out in separate writes: without this, Nagle's algorithm and the
        # client's delayed ACK add ~40 ms to every response
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.server.connections.add(self.connection)

    def finish(self) -> None:
        self.server.connections.discard(self.connection)
        super().finish()

    def _serve(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        reply = self.server.standin._handle(self.command, self.path, dict(self.headers), raw)
        payload = b"" if reply.body is None else json.dumps(reply.body).encode()
        self.send_response(reply.status)
        for name, value in reply.headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    do_GET = do_POST = do_PATCH = do_PUT = do_DELETE = _serve

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: :attr:`GitHubStandIn.requests` is the log."""

