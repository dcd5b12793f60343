"""The dashboard issue: one per repository, edited in place, that lists every scope.

Pull requests show what gitbot proposes; they do not show what it holds back (queued behind
``max_open``, below ``min_monthly_delta_usd``, declined, skipped) or what it could not size. The
dashboard does, in one place, and lets people steer the next run with two boxes per scope::

    - [ ] refresh apps-cart                        push and update (or open) its pull request now
    - [ ] skip apps-cart until usage moves         propose nothing while the proposal stays put

gitbot reads the boxes at the start of a run (``read`` then ``decide``) and writes the issue at the
end (``sync``): a refresh it acted on is unticked, a skip stays ticked while it holds and is unticked
when a value moves more than ``reopen_threshold_pct`` from the proposal recorded when gitbot first
saw it ticked. The issue is found again by the hidden marker at the top of its body, which also
keeps those records and every scope's row, so a sharded run (``--shard``) rewrites only its own
scopes' rows and keeps the others'. The body is only sent when it changed; before sending, the
issue is read again, so boxes a person ticked while the run was busy are kept.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any, Callable, Mapping, Sequence

from gitbot.config import PullRequestConfig
from gitbot.errors import PublishError
from gitbot.pricing.cost import format_usd
from gitbot.publish.github import IssueInfo, Issues
from gitbot.publish.pr import RISK_INTENTS, Asks, Outcome, monthly_delta
from gitbot.publish.proposal import Proposal, moved_past

TITLE = "gitbot: right-sizing dashboard"
LABEL = "gitbot-dashboard"  # finds the issue in one request; the marker is what identifies it
MARKER = "gitbot:dashboard"
BODY_LIMIT = 65_536  # GitHub's limit for an issue body
RECORD_LIMIT = 8_000  # a skip's recorded values past this many characters: only its fingerprint is kept
_MARKER_RE = re.compile(r"<!-- gitbot:dashboard (\{.*?\}) -->", re.DOTALL)
_BOX_RE = re.compile(r"^[ \t]*[-*] \[([ xX])\] (refresh|skip) `?([A-Za-z0-9._-]+)`?(?: until usage moves)?[ \t\r]*$", re.MULTILINE)
_OPEN = ("open", "waiting")  # row states with an open pull request
# what a run did to an open pull request is its own business: the board says "open" either way, so it
# is not rewritten on the next run only because "opened" became "open"
_STATE = {"created": "open", "updated": "open", "unchanged": "open"}


@dataclass(frozen=True)
class Row:
    """One scope's line of the table and its containers gitbot did not size, as rendered."""

    state: str  # the outcome's action ("open" for created, updated and unchanged)
    pr: str  # markdown cell: the pull request and what happened to it
    proposal: str  # markdown cell: what is pending
    delta: str  # the pending monthly delta in dollars ("-2.64"); "" when nothing is pending
    actionable: bool  # a pending proposal or a held skip: the scope gets its two boxes
    skipped: tuple[tuple[str, str, str], ...] = ()  # (workload, container, reason)


@dataclass(frozen=True)
class Board:
    """What the dashboard says now."""

    issue: IssueInfo | None
    refresh: frozenset[str] = frozenset()  # slugs whose refresh box is ticked
    skip: frozenset[str] = frozenset()  # slugs whose skip box is ticked
    records: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)  # slug -> the proposal when its skip was first seen
    rows: Mapping[str, Row] = field(default_factory=dict)


@dataclass(frozen=True)
class Decision:
    """What this run does with the boxes of its own scopes."""

    asks: Asks
    records: Mapping[str, Mapping[str, Any]]  # the skips that hold after this run
    released: frozenset[str]  # skips that end now: a value moved


@dataclass(frozen=True)
class DashboardOutcome:
    action: str  # created | updated | unchanged | nothing | failed | planned (dry run)
    number: int | None
    url: str | None
    detail: str
    body: str
    warnings: tuple[str, ...] = ()


def read(issue: IssueInfo | None) -> Board:
    """The boxes (from the visible text, which people edit) and the marker's records and rows."""
    if issue is None:
        return Board(None)
    ticked: dict[str, set[str]] = {"refresh": set(), "skip": set()}
    for mark, kind, slug in _BOX_RE.findall(issue.body):
        if mark in "xX":
            ticked[kind].add(slug)
    data = _marker(issue.body)
    records = {slug: dict(r) for slug, r in (data.get("records") or {}).items() if isinstance(r, dict)}
    rows = {slug: row for slug, raw in (data.get("rows") or {}).items() if (row := _row_from(raw)) is not None}
    return Board(issue, frozenset(ticked["refresh"]), frozenset(ticked["skip"]), records, rows)


def decide(board: Board, proposals: Sequence[Proposal], threshold_pct: int) -> Decision:
    """Refresh the scopes whose box is ticked; hold the ticked skips, recording the proposal the
    first time, and release those whose proposal moved past ``threshold_pct`` from the record."""
    held: set[str] = set()
    released: set[str] = set()
    records: dict[str, Mapping[str, Any]] = {}
    for p in proposals:
        slug = p.scope.slug
        if slug not in board.skip:
            continue
        record = board.records.get(slug)
        if record is None:
            records[slug] = _record(p)
            held.add(slug)
        elif record.get("fingerprint") != p.fingerprint and moved_past(record, p.values, Decimal(threshold_pct)):
            released.add(slug)
        else:
            records[slug] = record
            held.add(slug)
    refresh = frozenset(p.scope.slug for p in proposals if p.scope.slug in board.refresh)
    return Decision(Asks(refresh, frozenset(held)), records, frozenset(released))


def load(host: Issues) -> Board:
    return read(host.find_issue(LABEL, MARKER))


def sync(host: Issues, board: Board, decision: Decision, proposals: Sequence[Proposal], outcomes: Sequence[Outcome],
         options: PullRequestConfig, owns: Callable[[str], bool]) -> DashboardOutcome:
    """Write the dashboard: open it if there is none, else edit it in place when its body changes."""
    mine = _mine(decision, proposals, outcomes)
    ended = f"; skip ended (usage moved): {', '.join(sorted(decision.released))}" if decision.released else ""
    if board.issue is None:
        body = compose(Board(None), mine, options, owns)
        if not mine.rows:
            return DashboardOutcome("nothing", None, None, "no scope to list; no dashboard opened", body)
        created = host.create_issue(TITLE, body)
        warnings = _labelled(host, created)
        return DashboardOutcome("created", created.number, created.url, _summary(mine.rows), body, warnings)
    issue = board.issue
    warnings = _labelled(host, issue)
    closed = "; closed by a person, so not reopened" if issue.state == "closed" else ""
    body = compose(board, mine, options, owns)
    if body != issue.body:
        fresh = read(host.issue(issue.number))  # boxes ticked while this run was busy win
        body = compose(fresh, _kept(mine, board, fresh), options, owns)
        if body != (fresh.issue.body if fresh.issue else ""):
            host.edit_issue(issue.number, body)
            return DashboardOutcome("updated", issue.number, issue.url, _summary(mine.rows) + ended + closed, body, warnings)
    return DashboardOutcome("unchanged", issue.number, issue.url, "already up to date" + closed, body, warnings)


def preview(proposals: Sequence[Proposal], outcomes: Sequence[Outcome], options: PullRequestConfig) -> DashboardOutcome:
    """The body a first run would write (a dry run: no dashboard read, no box ticked)."""
    mine = _mine(Decision(Asks(), {}, frozenset()), proposals, outcomes)
    body = compose(Board(None), mine, options, lambda slug: True)
    return DashboardOutcome("planned", None, None, "dry run: GitHub was not asked", body)


@dataclass(frozen=True)
class _Mine:
    """This run's part of the dashboard: its scopes' rows and boxes."""

    rows: Mapping[str, Row]
    refresh: frozenset[str]  # boxes left ticked (a refresh that failed is tried again)
    skip: frozenset[str]
    records: Mapping[str, Mapping[str, Any]]


def _mine(decision: Decision, proposals: Sequence[Proposal], outcomes: Sequence[Outcome]) -> _Mine:
    by_slug = {o.scope: o for o in outcomes}
    rows = {p.scope.slug: row(p, by_slug[p.scope.slug], p.scope.slug in decision.asks.held) for p in proposals}
    failed = frozenset(slug for slug in decision.asks.refresh if by_slug[slug].action == "failed")
    return _Mine(rows, failed, decision.asks.held, decision.records)


def _kept(mine: _Mine, before: Board, now: Board) -> _Mine:
    """``mine`` with the boxes of its scopes that a person changed since the run read them."""
    def merged(ours: frozenset[str], then: frozenset[str], fresh: frozenset[str]) -> frozenset[str]:
        changed = {slug for slug in mine.rows if (slug in then) != (slug in fresh)}
        return frozenset((ours - changed) | (fresh & changed))

    skip = merged(mine.skip, before.skip, now.skip)
    records = {slug: r for slug, r in mine.records.items() if slug in skip}
    return _Mine(mine.rows, merged(mine.refresh, before.refresh, now.refresh), skip, records)


def row(p: Proposal, o: Outcome, held: bool) -> Row:
    """A scope's row from its proposal and what the run did with it."""
    skipped = tuple(
        (c["workload"], c["container"], c.get("explanation") or "; ".join(c.get("reasons") or ()))
        for c in p.document["containers"]
        if c["status"] == "skipped"
    )
    state = _STATE.get(o.action, o.action)
    if p.empty:
        return Row(state, _pr_cell(o), "nothing to propose", "", held, skipped)
    changed = p.document["summary"]["by_status"]["change"]
    files = len(p.changes.files)
    text = f"{changed} container{'s' if changed != 1 else ''} in {files} file{'s' if files != 1 else ''}"
    if p.intents:
        text += ": " + ", ".join(f"`{i}`" for i in p.intents)
    return Row(state, _pr_cell(o), text, str(monthly_delta(p)), True, skipped)


def _pr_cell(o: Outcome) -> str:
    link = f"[#{o.number}]({o.url})" if o.number is not None and o.url else (f"#{o.number}" if o.number is not None else "")
    cells = {
        "created": f"{link} open",
        "updated": f"{link} open",
        "unchanged": f"{link} open",
        "waiting": (f"{link} open, waiting" if link else "waiting") + f": `{o.branch}` has commits gitbot did not make",
        "closed": f"{link} closed: nothing left to propose",
        "nothing": "—",
        "declined": f"declined: {link} was closed unmerged",
        "queued": "queued",
        "below-threshold": "below the threshold",
        "skipped": "skipped until usage moves" + (f"; {link} left as it is" if link else ""),
        "failed": f"failed: {o.detail}",
        "planned": "to open (dry run)",
    }
    return _cell(cells.get(o.action, o.action))


def compose(base: Board, mine: _Mine, options: PullRequestConfig, owns: Callable[[str], bool]) -> str:
    """The body: ``mine`` for this run's scopes, ``base``'s rows, boxes and records for the scopes
    another shard owns."""
    rows = {**{s: r for s, r in base.rows.items() if not owns(s)}, **mine.rows}
    refresh = {s for s in base.refresh if not owns(s)} | set(mine.refresh)
    skip = {s for s in base.skip if not owns(s)} | set(mine.skip)
    records = {**{s: r for s, r in base.records.items() if not owns(s)}, **mine.records}
    rows = dict(sorted(rows.items()))
    body = render(rows, refresh, skip, records, options)
    if len(body) > BODY_LIMIT:  # first the skipped containers go, then the tail of the table
        rows = {s: Row(r.state, r.pr, r.proposal, r.delta, r.actionable) for s, r in rows.items()}
        note = "The list of containers gitbot did not size was left out (GitHub's size limit); `gitbot plan` shows it."
        body = render(rows, refresh, skip, records, options, note=note)
        shown = len(rows)
        while len(body) > BODY_LIMIT and shown > 0:
            shown = shown * 9 // 10
            body = render(rows, refresh, skip, records, options, note=note, shown=shown)
    return body


def render(rows: Mapping[str, Row], refresh: set[str], skip: set[str], records: Mapping[str, Mapping[str, Any]],
           options: PullRequestConfig, note: str = "", shown: int | None = None) -> str:
    data = {"records": records, "rows": {s: [r.state, r.pr, r.proposal, r.delta, r.actionable, [list(x) for x in r.skipped]]
                                          for s, r in rows.items()}}
    marker = f"<!-- {MARKER} {json.dumps(data, sort_keys=True, ensure_ascii=False).replace('>', chr(92) + 'u003e')} -->"
    listed = list(rows.items())[:shown] if shown is not None else list(rows.items())
    out = [marker, "## gitbot: right-sizing dashboard", "", _summary(rows), ""]
    out += ["| Scope | Pull request | Proposal | Monthly delta |", "|---|---|---|---:|"]
    out += [f"| `{s}` | {r.pr} | {r.proposal} | {_usd(r.delta)} |" for s, r in listed]
    if len(listed) < len(rows):
        out.append(f"\n{len(rows) - len(listed)} more scope(s) not shown: the dashboard hit GitHub's size limit.")
    skipped = [(s, *x) for s, r in listed for x in r.skipped]
    if skipped:
        out += ["", f"<details><summary>{len(skipped)} container{'s' if len(skipped) != 1 else ''} not sized</summary>", "",
                "| Scope | Workload | Container | Why |", "|---|---|---|---|"]
        out += [f"| `{s}` | `{w}` | `{c}` | {_cell(why)} |" for s, w, c, why in skipped]
        out += ["", "</details>"]
    if note:
        out += ["", note]
    boxes = [s for s, r in listed if r.actionable or s in skip]
    if boxes:
        out += ["", "### Steer the next run", "",
                "Tick a box; gitbot reads them when it next runs. **refresh** pushes and updates the scope's pull request "
                "even if nothing changed, or opens it now although it was queued, below the threshold or declined, then "
                "unticks the box. **skip … until usage moves** proposes nothing for the scope (an open pull request is "
                f"left as it is) until a value moves more than {options.reopen_threshold_pct}% from the proposal as it was "
                "when gitbot first saw the box ticked; then gitbot unticks it and proposes again. Untick it to end the skip sooner.",
                ""]
        for s in boxes:
            out.append(f"- [{'x' if s in refresh else ' '}] refresh {s}")
            out.append(f"- [{'x' if s in skip else ' '}] skip {s} until usage moves")
    cap = f"at most {options.max_open} open at once" if options.max_open else "with no cap on how many are open"
    out += ["", f"<sub>gitbot opens a pull request for a monthly delta of at least {format_usd(options.min_monthly_delta_usd)} "
                f"(risk fixes, {', '.join(f'`{i}`' for i in RISK_INTENTS)}, whatever their delta), {cap}. It rewrites this "
                "issue on every run: edit only the boxes.</sub>", ""]
    return "\n".join(out)


def _summary(rows: Mapping[str, Row]) -> str:
    """"10 scopes · 5 pull requests open · 3 queued · ... · pending −$53.49/month"."""
    count = lambda *states: sum(1 for r in rows.values() if r.state in states)  # noqa: E731
    parts = [f"{len(rows)} scope{'s' if len(rows) != 1 else ''}",
             f"{count(*_OPEN)} pull request{'s' if count(*_OPEN) != 1 else ''} open"]
    for states, label in ((("queued",), "queued"), (("below-threshold",), "below the threshold"), (("skipped",), "skipped"),
                          (("declined",), "declined"), (("failed",), "failed")):
        if count(*states):
            parts.append(f"{count(*states)} {label}")
    pending = sum((_decimal(r.delta) for r in rows.values() if r.delta), Decimal(0))
    parts.append(f"pending {format_usd(pending, signed=True)}/month")
    return " · ".join(parts)


def _labelled(host: Issues, issue: IssueInfo) -> tuple[str, ...]:
    """Give the issue its label (what finds it in one request next time); a refusal is a warning."""
    if LABEL in issue.labels:
        return ()
    try:
        host.add_labels(issue.number, [LABEL])
    except PublishError as exc:
        return (f"{exc} (the dashboard is still found by its marker, with more requests)",)
    return ()


def _record(p: Proposal) -> dict[str, Any]:
    """What the proposal was when a skip was first seen: its values, or only its fingerprint when
    they are too many to keep in the issue (any change then ends the skip)."""
    record: dict[str, Any] = {"fingerprint": p.fingerprint, "values": dict(p.values)}
    return record if len(json.dumps(record)) <= RECORD_LIMIT else {"fingerprint": p.fingerprint}


def _marker(body: str) -> dict[str, Any]:
    match = _MARKER_RE.search(body or "")
    if match is None:
        return {}
    try:
        data = json.loads(match.group(1))
    except json.JSONDecodeError:
        return {}
    return data if isinstance(data, dict) else {}


def _row_from(raw: Any) -> Row | None:
    """A row as the marker keeps it; None when a hand edit broke it (the owning run rewrites it)."""
    if not (isinstance(raw, list) and len(raw) == 6 and all(isinstance(x, str) for x in raw[:4]) and isinstance(raw[4], bool)
            and isinstance(raw[5], list)):
        return None
    skipped = tuple(tuple(x) for x in raw[5] if isinstance(x, list) and len(x) == 3 and all(isinstance(y, str) for y in x))
    return Row(raw[0], raw[1], raw[2], raw[3], raw[4], skipped)  # type: ignore[arg-type]


def _cell(text: str) -> str:
    """Text that stays inside one markdown table cell."""
    return " ".join(text.split()).replace("|", "\\|")


def _usd(delta: str) -> str:
    return format_usd(_decimal(delta), signed=True) if delta else "—"


def _decimal(text: str) -> Decimal:
    try:
        return Decimal(text)
    except InvalidOperation:
        return Decimal(0)
