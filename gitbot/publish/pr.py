"""Open, refresh or close gitbot's pull request for each scope.

For every scope's proposal, in order:

1. nothing to propose: close gitbot's open pull request for the scope, with a comment;
2. skipped on the dashboard until usage moves: nothing is done (an open pull request stays as it is);
3. a proposal a person closed unmerged is not proposed again unless a value moved more than
   ``reopen_threshold_pct`` from it (the marker in the closed body records what was proposed);
4. someone else pushed to ``gitbot/<scope>``: leave the branch alone; say once (per proposal) on
   the open pull request that a refresh is waiting;
5. an open pull request: push the commit (a no-op when the branch already holds it) and update its
   title, body, labels, reviewers and assignees when something changed (whatever the amount: a
   person may be reviewing it, and stale numbers are worse than small ones);
6. no pull request yet: a proposal worth less than ``min_monthly_delta_usd`` a month is not opened,
   unless it fixes OOM kills or adds missing requests (risk fixes are never held back for being
   cheap); the others are opened most urgent first (intent order, then the size of the monthly
   delta) while fewer than ``max_open`` of gitbot's pull requests are open, and wait ("queued")
   after that.

A "refresh" ticked on the dashboard pushes and updates the scope's pull request even when nothing
changed, or opens it now although it was declined, below the threshold or queued: a person asked.

Each scope is on its own: a GitHub or git refusal (a 403, a 422, a rejected push) makes that scope
"failed" with the one-line reason and the next scope goes on. A refused label, reviewer or assignee
request after the pull request was opened or updated is a warning of that scope, not a failure.
Only bad credentials or an exhausted rate limit stop the run early (every later call would fail
alike): the scopes not tried yet are "failed" with that reason.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Callable, Sequence

from gitbot.config import PullRequestConfig
from gitbot.errors import PublishError
from gitbot.pricing.cost import format_usd
from gitbot.publish.github import Decoration, GitHubUnavailable, PullInfo, PullRequests
from gitbot.publish.gitrepo import BranchState, GitRepository
from gitbot.publish.proposal import INTENTS, Proposal, moved_past, read_marker
from gitbot.publish.scope import BRANCH_PREFIX

WAITING = "gitbot:waiting"
RISK_INTENTS = ("fixes-oom", "adds-requests")  # opened whatever their monthly delta
ACTIONS = ("created", "updated", "unchanged", "closed", "nothing", "declined", "waiting", "queued", "below-threshold",
           "skipped", "failed")


@dataclass(frozen=True)
class Outcome:
    scope: str  # the slug
    branch: str
    action: str  # one of ACTIONS ("planned" in a dry run's preview)
    number: int | None
    url: str | None
    detail: str
    warnings: tuple[str, ...] = ()  # e.g. a reviewer GitHub refused; the pull request itself is fine


@dataclass(frozen=True)
class Asks:
    """What people asked for on the dashboard, for this run (slugs)."""

    refresh: frozenset[str] = frozenset()  # push and update (or open) now, even if nothing changed
    held: frozenset[str] = frozenset()  # skipped until usage moves: propose nothing


@dataclass(frozen=True)
class _Candidate:
    """A proposal that would open a new pull request, waiting for a free slot."""

    proposal: Proposal
    state: BranchState
    refresh: bool


def monthly_delta(p: Proposal) -> Decimal:
    return Decimal(p.document["summary"]["monthly_cost"]["delta_usd"])


def below_threshold(p: Proposal, options: PullRequestConfig) -> bool:
    """Too cheap to be worth a reviewer's time, and no risk fix."""
    return not set(p.intents) & set(RISK_INTENTS) and abs(monthly_delta(p)) < options.min_monthly_delta_usd


def urgency(p: Proposal) -> tuple[int, Decimal, str]:
    """Sort key, most urgent first: the most urgent intent (INTENTS order), then the larger monthly delta."""
    first = min((INTENTS.index(i) for i in p.intents if i in INTENTS), default=len(INTENTS))
    return first, -abs(monthly_delta(p)), p.scope.slug


def wanted(options: PullRequestConfig, intents: Sequence[str]) -> Decoration:
    """The labels (the config's, then those of the proposal's intents), reviewers and assignees a
    pull request of this proposal should carry."""
    labels = [*options.labels, *(label for i in intents for label in options.labels_by_intent.get(i, ()))]
    return Decoration(tuple(dict.fromkeys(labels)), options.reviewers, options.team_reviewers, options.assignees)


def publish(proposals: Sequence[Proposal], git: GitRepository, pulls: PullRequests, base: str, options: PullRequestConfig,
            asks: Asks = Asks()) -> list[Outcome]:
    """One outcome per proposal, in the proposals' order (``base`` fetched already)."""
    done: dict[str, Outcome] = {}
    candidates: list[_Candidate] = []
    stop: str | None = None  # set when GitHub cannot be used any more in this run
    for p in proposals:
        if stop is not None:
            done[p.scope.slug] = _failed(p, f"not tried: {stop}")
            continue
        try:
            settled = _settle(p, git, pulls, base, options, asks)
        except PublishError as exc:
            done[p.scope.slug] = _failed(p, str(exc))
            stop = str(exc) if isinstance(exc, GitHubUnavailable) else None
            continue
        if isinstance(settled, _Candidate):
            candidates.append(settled)
        else:
            done[p.scope.slug] = settled
    if candidates:
        done.update(_open_in_turn(candidates, git, pulls, base, options, stop))
    return [done[p.scope.slug] for p in proposals]


def preview(proposals: Sequence[Proposal], options: PullRequestConfig, asks: Asks = Asks()) -> list[Outcome]:
    """What a run would do as far as it can be told without GitHub (a dry run): nothing to propose,
    skipped, below the threshold, queued behind ``max_open`` (counting no pull request open yet), or
    "planned"."""
    out: dict[str, Outcome] = {}
    candidates = []
    for p in proposals:
        slug, branch = p.scope.slug, p.scope.branch
        refresh = slug in asks.refresh
        if p.empty:
            out[slug] = Outcome(slug, branch, "nothing", None, None, "nothing to propose")
        elif slug in asks.held:
            out[slug] = Outcome(slug, branch, "skipped", None, None, "skipped on the dashboard until usage moves")
        elif below_threshold(p, options) and not refresh:
            out[slug] = Outcome(slug, branch, "below-threshold", None, None, _below_detail(p, options))
        else:
            candidates.append(p)
    slots = options.max_open or len(candidates)
    for p in sorted(candidates, key=lambda p: (p.scope.slug not in asks.refresh, urgency(p))):
        if slots > 0 or p.scope.slug in asks.refresh:
            slots -= 1
            out[p.scope.slug] = Outcome(p.scope.slug, p.scope.branch, "planned", None, None, "dry run: GitHub was not asked")
        else:
            out[p.scope.slug] = Outcome(p.scope.slug, p.scope.branch, "queued", None, None, f"max_open is {options.max_open}")
    return [out[p.scope.slug] for p in proposals]


def _settle(p: Proposal, git: GitRepository, pulls: PullRequests, base: str, options: PullRequestConfig,
            asks: Asks) -> Outcome | _Candidate:
    """Everything but opening a new pull request (which waits for a slot): an outcome, or a candidate."""
    branch, slug = p.scope.branch, p.scope.slug
    refresh = slug in asks.refresh
    ours = [pr for pr in pulls.for_branch(branch) if (read_marker(pr.body) or {}).get("scope") == slug]
    open_pr = next((pr for pr in ours if pr.state == "open"), None)

    if p.empty:
        if open_pr is None:
            return Outcome(slug, branch, "nothing", None, None, "nothing to propose")
        pulls.comment(open_pr.number, "gitbot has nothing to propose for this scope any more (the values are right-sized or changed by hand); closing.")
        pulls.close(open_pr.number)
        return Outcome(slug, branch, "closed", open_pr.number, open_pr.url, "nothing to propose any more")

    if slug in asks.held:
        left = "; its open pull request is left as it is" if open_pr is not None else ""
        return Outcome(slug, branch, "skipped", _number(open_pr), _url(open_pr), f"skipped on the dashboard until usage moves{left}")

    if open_pr is None and not refresh:
        declined = [pr for pr in ours if pr.state == "closed" and not pr.merged]
        latest = max(declined, key=lambda pr: pr.number, default=None)
        if latest is not None:
            marker = read_marker(latest.body) or {}
            same = marker.get("fingerprint") == p.fingerprint
            if same or not moved_past(marker, p.values, Decimal(options.reopen_threshold_pct)):
                why = "the same proposal" if same else f"no value moved more than {options.reopen_threshold_pct}% from it"
                return Outcome(slug, branch, "declined", latest.number, latest.url, f"#{latest.number} was closed unmerged; {why}")

    state = git.branch_state(branch, base)
    if state.foreign:
        if open_pr is not None:
            note = f"<!-- {WAITING} {p.fingerprint} -->"
            if not any(note in body for body in pulls.comments(open_pr.number)):
                pulls.comment(open_pr.number, (
                    f"{note}\ngitbot has a refreshed proposal for this pull request, but `{branch}` has commits it did not "
                    f"make ({', '.join(state.foreign)}), so it leaves the branch alone. Merge or close this pull "
                    f"request, or delete the branch, and gitbot will propose again."
                ))
        return Outcome(slug, branch, "waiting", _number(open_pr), _url(open_pr),
                       f"{branch} has commits gitbot did not make: {', '.join(state.foreign)}")

    if open_pr is not None:
        return _update(p, open_pr, state, refresh, git, pulls, base, options)
    if not refresh and below_threshold(p, options):
        return Outcome(slug, branch, "below-threshold", None, None, _below_detail(p, options))
    return _Candidate(p, state, refresh)


def _update(p: Proposal, open_pr: PullInfo, state: BranchState, refresh: bool, git: GitRepository, pulls: PullRequests,
            base: str, options: PullRequestConfig) -> Outcome:
    slug, branch = p.scope.slug, p.scope.branch
    pushed = git.push(p.changes, branch, base, p.commit_message, state)
    if (open_pr.title, open_pr.body) == (p.title, p.body) and not pushed.changed and not refresh:
        return Outcome(slug, branch, "unchanged", open_pr.number, open_pr.url, "already up to date")
    pulls.update(open_pr.number, p.title, p.body)
    warnings = _decorate(pulls, open_pr.number, wanted(options, p.intents), open_pr.decoration, options)
    detail = _pushed(pushed.changed) + ("; refreshed as asked on the dashboard" if refresh else "")
    return Outcome(slug, branch, "updated", open_pr.number, open_pr.url, detail, warnings)


def _open_in_turn(candidates: list[_Candidate], git: GitRepository, pulls: PullRequests, base: str, options: PullRequestConfig,
                  stop: str | None) -> dict[str, Outcome]:
    """Open the candidates most urgent first (refreshes asked for before all) while slots last."""
    out: dict[str, Outcome] = {}
    ordered = sorted(candidates, key=lambda c: (not c.refresh, urgency(c.proposal)))
    slots: int | None = None  # None: no cap
    open_now = 0
    if options.max_open and stop is None and not all(c.refresh for c in candidates):
        try:
            open_now = sum(1 for pr in pulls.open_pulls() if _is_gitbots(pr))
        except PublishError as exc:  # the cap cannot be respected blindly: open nothing this time
            return {c.proposal.scope.slug: _failed(c.proposal, str(exc)) for c in candidates}
        slots = max(0, options.max_open - open_now)
    queued = 0
    for c in ordered:
        p = c.proposal
        if stop is not None:
            out[p.scope.slug] = _failed(p, f"not tried: {stop}")
            continue
        if slots is not None and slots <= 0 and not c.refresh:
            queued += 1
            out[p.scope.slug] = Outcome(p.scope.slug, p.scope.branch, "queued", None, None,
                                        f"{_nth(queued)} in line: {open_now} of gitbot's pull requests are open (max_open {options.max_open})")
            continue
        try:
            out[p.scope.slug] = _create(c, git, pulls, base, options)
        except PublishError as exc:
            out[p.scope.slug] = _failed(p, str(exc))
            stop = str(exc) if isinstance(exc, GitHubUnavailable) else None
            continue
        open_now += 1
        if slots is not None:
            slots -= 1
    return out


def _create(c: _Candidate, git: GitRepository, pulls: PullRequests, base: str, options: PullRequestConfig) -> Outcome:
    p = c.proposal
    pushed = git.push(p.changes, p.scope.branch, base, p.commit_message, c.state)
    created: PullInfo = pulls.create(p.scope.branch, base, p.title, p.body)
    warnings = _decorate(pulls, created.number, wanted(options, p.intents), Decoration(), options)
    detail = _pushed(pushed.changed) + ("; opened as asked on the dashboard" if c.refresh else "")
    return Outcome(p.scope.slug, p.scope.branch, "created", created.number, created.url, detail, warnings)


def _decorate(pulls: PullRequests, number: int, want: Decoration, have: Decoration, options: PullRequestConfig) -> tuple[str, ...]:
    """Add what ``want`` has and the pull request lacks (GitHub names compare case-insensitively;
    a reviewer already requested is not requested again), and remove the labels of intents the
    proposal no longer has. Each kind is one request, and a refusal is a warning: one bad reviewer
    does not keep the labels off, nor fail a pull request that is already open."""
    def missing(names: Sequence[str], present: Sequence[str]) -> list[str]:
        lower = {n.lower() for n in present}
        return [n for n in names if n.lower() not in lower]

    by_intent = {label.lower() for labels in options.labels_by_intent.values() for label in labels}
    keep = {label.lower() for label in want.labels}
    stale = [label for label in have.labels if label.lower() in by_intent and label.lower() not in keep]
    labels = missing(want.labels, have.labels)
    reviewers, teams = missing(want.reviewers, have.reviewers), missing(want.team_reviewers, have.team_reviewers)
    assignees = missing(want.assignees, have.assignees)
    steps: list[Callable[[], None]] = []
    if labels:
        steps.append(lambda: pulls.add_labels(number, labels))
    steps += [lambda label=label: pulls.remove_label(number, label) for label in stale]  # type: ignore[misc]
    if reviewers or teams:
        steps.append(lambda: pulls.request_reviewers(number, reviewers, teams))
    if assignees:
        steps.append(lambda: pulls.add_assignees(number, assignees))
    warnings = []
    for step in steps:
        try:
            step()
        except PublishError as exc:
            warnings.append(str(exc))
    return tuple(warnings)


def _is_gitbots(pr: PullInfo) -> bool:
    return pr.branch.startswith(BRANCH_PREFIX) and (read_marker(pr.body) or {}).get("scope") is not None


def _below_detail(p: Proposal, options: PullRequestConfig) -> str:
    return (f"monthly delta {format_usd(monthly_delta(p), signed=True)} is below min_monthly_delta_usd "
            f"({format_usd(options.min_monthly_delta_usd)})")


def _failed(p: Proposal, reason: str) -> Outcome:
    return Outcome(p.scope.slug, p.scope.branch, "failed", None, None, reason)


def _number(pr: PullInfo | None) -> int | None:
    return pr.number if pr is not None else None


def _url(pr: PullInfo | None) -> str | None:
    return pr.url if pr is not None else None


def _nth(n: int) -> str:
    return f"{n}{'th' if 10 <= n % 100 <= 20 else {1: 'st', 2: 'nd', 3: 'rd'}.get(n % 10, 'th')}"


def _pushed(changed: bool) -> str:
    return "pushed a new commit" if changed else "the branch already had this commit"
