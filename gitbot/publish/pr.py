"""Open, refresh or close gitbot's pull request for each scope.

For every scope's proposal, in order:

1. nothing to propose: close gitbot's open pull request for the scope, with a comment;
2. a proposal a person closed unmerged is not proposed again unless a value moved more than
   ``reopen_threshold_pct`` from it (the marker in the closed body records what was proposed);
3. someone else pushed to ``gitbot/<scope>``: leave the branch alone; say once (per proposal) on
   the open pull request that a refresh is waiting;
4. otherwise push the commit (a no-op when the branch already holds it) and open the pull request,
   or update its title and body when they changed.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Sequence

from gitbot.config import PullRequestConfig
from gitbot.publish.github import PullInfo, PullRequests
from gitbot.publish.gitrepo import GitRepository
from gitbot.publish.proposal import Proposal, moved_past, read_marker

WAITING = "gitbot:waiting"


@dataclass(frozen=True)
class Outcome:
    scope: str  # the slug
    branch: str
    action: str  # created | updated | unchanged | closed | nothing | declined | waiting
    number: int | None
    url: str | None
    detail: str


def publish(proposals: Sequence[Proposal], git: GitRepository, pulls: PullRequests, base: str, options: PullRequestConfig) -> list[Outcome]:
    git.fetch(base)
    return [_one(p, git, pulls, base, options) for p in proposals]


def _one(p: Proposal, git: GitRepository, pulls: PullRequests, base: str, options: PullRequestConfig) -> Outcome:
    branch = p.scope.branch
    ours = [pr for pr in pulls.for_branch(branch) if (read_marker(pr.body) or {}).get("scope") == p.scope.slug]
    open_pr = next((pr for pr in ours if pr.state == "open"), None)

    if p.empty:
        if open_pr is None:
            return Outcome(p.scope.slug, branch, "nothing", None, None, "nothing to propose")
        pulls.comment(open_pr.number, "gitbot has nothing to propose for this scope any more (the values are right-sized or changed by hand); closing.")
        pulls.close(open_pr.number)
        return Outcome(p.scope.slug, branch, "closed", open_pr.number, open_pr.url, "nothing to propose any more")

    if open_pr is None:
        declined = [pr for pr in ours if pr.state == "closed" and not pr.merged]
        latest = max(declined, key=lambda pr: pr.number, default=None)
        if latest is not None:
            marker = read_marker(latest.body) or {}
            same = marker.get("fingerprint") == p.fingerprint
            if same or not moved_past(marker, p.values, Decimal(options.reopen_threshold_pct)):
                why = "the same proposal" if same else f"no value moved more than {options.reopen_threshold_pct}% from it"
                return Outcome(p.scope.slug, branch, "declined", latest.number, latest.url, f"#{latest.number} was closed unmerged; {why}")

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
        return Outcome(p.scope.slug, branch, "waiting", open_pr.number if open_pr else None, open_pr.url if open_pr else None,
                       f"{branch} has commits gitbot did not make: {', '.join(state.foreign)}")

    pushed = git.push(p.changes, branch, base, p.commit_message, state)
    if open_pr is not None:
        if (open_pr.title, open_pr.body) == (p.title, p.body) and not pushed.changed:
            return Outcome(p.scope.slug, branch, "unchanged", open_pr.number, open_pr.url, "already up to date")
        pulls.update(open_pr.number, p.title, p.body)
        return Outcome(p.scope.slug, branch, "updated", open_pr.number, open_pr.url, _pushed(pushed.changed))
    created: PullInfo = pulls.create(branch, base, p.title, p.body)
    pulls.decorate(created.number, options.labels, options.reviewers, options.team_reviewers, options.assignees)
    return Outcome(p.scope.slug, branch, "created", created.number, created.url, _pushed(pushed.changed))


def _pushed(changed: bool) -> str:
    return "pushed a new commit" if changed else "the branch already had this commit"
