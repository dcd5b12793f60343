"""Review a pull request that changes resources: comments on the exact lines, and a cost summary.

The plan runs on the pull request's head commit (the caller checks that the checkout is there: line
numbers of review comments refer to the head). A field is *touched* by the pull request when its
source line (the file and line gitbot maps it to: a manifest, a values file, an overlay patch) is an
added line of the pull request's diff. For each touched field gitbot's recommendation differs from:

- inside a diff hunk: a review comment, with a GitHub ```suggestion block built from the splices of
  gitbot's own edit (the whole lines they touch, as the edit writes them; never a line diff), posted
  only when committing it on the head file reads back as the edit does; else the numbers alone;
- outside the hunks (GitHub rejects a whole review with one such comment), past the cap of comments
  per review, or with a suggestion that fails that check: a line in the summary comment instead,
  saying why.

The summary comment (one per pull request, found again by its hidden marker and edited in place)
shows the monthly cost of the touched workloads before the pull request, as written, and as gitbot
suggests. It is posted only when the pull request changes a container's resources or gitbot has a
finding. Comments already posted by an earlier run (recorded in its review's marker) are not posted
again.
"""

from __future__ import annotations

import bisect
import hashlib
import json
import re
from dataclasses import dataclass, replace
from decimal import Decimal
from typing import Any, Callable, Iterable, Mapping, Sequence

from gitbot.edit.changeset import ChangeSet, FileChange
from gitbot.edit.splice import Splice, apply_splices
from gitbot.errors import SourceError
from gitbot.output.render import FIELD_KEYS, FIELD_TITLES, human_value
from gitbot.pricing.cost import format_usd
from gitbot.publish.proposal import MARKER as PR_MARKER
from gitbot.publish.scope import BRANCH_PREFIX
from gitbot.yamldoc import parse_yaml

SUMMARY_MARKER = "<!-- gitbot:review-summary -->"
_REVIEW_MARKER = re.compile(r"<!-- gitbot:review (\[.*?\]) -->", re.DOTALL)
_HUNK = re.compile(r"^@@ -\d+(?:,\d+)? \+(\d+)(?:,(\d+))? @@")
MAX_COMMENTS = 30


@dataclass(frozen=True)
class ChangedFile:
    path: str  # repo-relative, as GitHub names it
    added: frozenset[int]  # new-file line numbers the pull request adds or changes
    in_hunks: frozenset[int]  # new-file line numbers a review comment may be placed on
    hunks: tuple[range, ...] = ()  # new-file lines of each hunk: a multi-line comment must stay inside one


def changed_file(path: str, patch: str | None) -> ChangedFile:
    """The lines of one file's patch (GitHub's ``files[].patch``: hunks without file headers)."""
    added: set[int] = set()
    visible: set[int] = set()
    hunks: list[range] = []
    line = 0
    for text in (patch or "").splitlines():
        match = _HUNK.match(text)
        if match:
            line = int(match.group(1))
            hunks.append(range(line, line + (1 if match.group(2) is None else int(match.group(2)))))
            continue
        if line == 0 or text.startswith("\\"):
            continue
        if text.startswith("-"):
            continue
        visible.add(line)
        if text.startswith("+"):
            added.add(line)
        line += 1
    return ChangedFile(path, frozenset(added), frozenset(visible), tuple(hunks))


@dataclass(frozen=True)
class Finding:
    path: str
    line: int  # the comment's (last) line
    workload: str
    container: str
    text: str  # what the comment says
    suggestion: str | None  # the lines start_line..line as gitbot's edit writes them, for a ```suggestion block
    key: str  # stable id: the same finding on a re-run is not posted twice
    start_line: int | None = None  # a suggestion over several lines starts here
    held: str | None = None  # why this is a line of the summary comment and not a review comment

    def body(self) -> str:
        out = self.text
        if self.suggestion is not None:
            out += f"\n\n```suggestion\n{self.suggestion}\n```"
        return out

    def comment(self) -> dict[str, Any]:
        """The review comment as the REST API takes it: a suggestion replaces exactly the commented lines."""
        out: dict[str, Any] = {"path": self.path, "line": self.line, "side": "RIGHT"}
        if self.start_line is not None:
            out |= {"start_line": self.start_line, "start_side": "RIGHT"}
        return {**out, "body": self.body()}

    def where(self) -> str:
        return f"{self.path}:{self.start_line}-{self.line}" if self.start_line is not None else f"{self.path}:{self.line}"


@dataclass(frozen=True)
class Suggestion:
    """Lines ``first``..``last`` (1-based) of a file, and what gitbot's edit writes in their place."""

    first: int
    last: int
    lines: tuple[str, ...]
    splices: tuple[Splice, ...]  # the edit's splices inside those lines (offsets in the whole file)

    def text(self) -> str:
        return "\n".join(self.lines)


def suggestions(before: str, splices: Sequence[Splice]) -> list[Suggestion]:
    """An edit as whole-line replacements of ``before``. A splice covers the lines it changes; whole
    lines inserted between two lines go with the line below when that is a sibling at their
    indentation (``cpu:`` above ``memory:``), else with the line above (``limits:`` after the last
    line of ``requests``). Splices that touch a common line make one suggestion."""
    if not before:
        return []
    starts = _line_starts(before)
    groups: list[tuple[int, int, list[Splice]]] = []
    for (first, last), splice in sorted(((_touched(before, starts, s), s) for s in splices), key=lambda x: (x[0], x[1].start)):
        if groups and first <= groups[-1][1]:
            top, bottom, members = groups[-1]
            groups[-1] = (top, max(bottom, last), [*members, splice])
        else:
            groups.append((first, last, [splice]))
    return [_suggestion(before, starts, first, last, members) for first, last, members in groups]


def _line_starts(text: str) -> list[int]:
    """Offsets where each line starts; lines end at ``\\n`` (as GitHub counts them)."""
    return [0, *(i + 1 for i, char in enumerate(text) if char == "\n" and i + 1 < len(text))]


def _touched(text: str, starts: list[int], splice: Splice) -> tuple[int, int]:
    """The first and last line (1-based) a splice rewrites."""
    def line(offset: int) -> int:
        return bisect.bisect_right(starts, offset)

    if splice.end > splice.start:
        return line(splice.start), line(splice.end - 1)
    at = splice.start
    if at >= len(text):  # after the last line, or at the end of a last line without a newline
        return len(starts), len(starts)
    if at == 0 or text[at - 1] != "\n" or not splice.text.endswith("\n"):
        return line(at), line(at)  # inside a line: a flow mapping's new entry, a block after ``key:``
    below = line(at)
    return (below, below) if _sibling(_line(text, starts, below), splice.text) else (below - 1, below - 1)


def _line(text: str, starts: list[int], number: int) -> str:
    end = starts[number] if number < len(starts) else len(text)
    return text[starts[number - 1]:end].rstrip("\r\n")


def _sibling(line: str, inserted: str) -> bool:
    """``line`` is a key or item at the indentation of the inserted lines (not a comment, not blank)."""
    first = next((x for x in inserted.split("\n") if x.strip()), "")
    content = line.strip()
    return bool(content) and not content.startswith("#") and _indent(line) == _indent(first)


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip(" "))


def _suggestion(text: str, starts: list[int], first: int, last: int, members: list[Splice]) -> Suggestion:
    begin = starts[first - 1]
    end = starts[last] if last < len(starts) else len(text)
    old = text[begin:end]
    new = apply_splices(old, [Splice(s.start - begin, s.end - begin, s.text) for s in members])
    ending = "\r\n" if old.endswith("\r\n") else "\n"  # a last line without one keeps having none
    if new.endswith(ending):
        new = new[: -len(ending)]
    lines = tuple(x[:-1] if x.endswith("\r") else x for x in new.split("\n"))
    return Suggestion(first, last, lines, tuple(members))


def check_suggestion(suggestion: Suggestion, path: str, before: str, head: str | None) -> str | None:
    """Why the suggestion must not be posted, or None. Committed on the pull request's head file (its
    lines replaced, as GitHub does), it must parse to the same data as ``before`` with the edit's
    splices in those lines applied: a suggestion that reads differently, or not at all (a key left
    twice), is never offered."""
    if head is None:
        return "the file is not in the pull request's head commit"
    lines = _lines(head)
    if suggestion.last > len(lines):
        return f"the head file has {len(lines)} lines, the suggestion is for lines {suggestion.first}-{suggestion.last}"
    tail = lines[suggestion.last - 1]
    ending = tail[len(tail.rstrip("\r\n")):]
    committed = "".join(lines[: suggestion.first - 1]) + (ending or "\n").join(suggestion.lines) + ending + "".join(lines[suggestion.last:])
    try:
        got = [d.data for d in parse_yaml(committed, path)]
    except SourceError as exc:
        return f"committed, it would not parse ({exc.detail})"
    try:
        wanted = [d.data for d in parse_yaml(apply_splices(before, list(suggestion.splices)), path)]
    except SourceError as exc:  # pragma: no cover - the whole edit was verified; a part of it should parse too
        return f"gitbot's edit of these lines alone would not parse ({exc.detail})"
    if not _same(got, wanted):
        return "committed on the pull request's head, it would not read as gitbot's edit"
    return None


def _lines(text: str) -> list[str]:
    """Lines with their endings, split at ``\\n`` only."""
    return re.findall(r"[^\n]*\n|[^\n]+$", text)


def _same(a: Any, b: Any) -> bool:
    """Equal data of equal types all the way down (``1`` is not ``1.0`` nor ``True``)."""
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    return bool(a == b)


def findings(document: Mapping[str, Any], changes: ChangeSet, files: Sequence[ChangedFile], prefix: str = "",
             head_text: Callable[[str], str | None] | None = None) -> list[Finding]:
    """Touched fields whose recommendation differs from what the pull request writes. ``head_text``:
    a file of the pull request's head commit by its repository path (default: the text gitbot
    planned), for the check of each suggestion."""
    by_path = {f.path: f for f in files}
    edits = {f"{prefix}{c.path}": c for c in changes.files if not c.created}
    cut: dict[str, tuple[list[Suggestion], str | None]] = {}
    notes: dict[tuple[str, int, int, str, str], list[str]] = {}
    lines: dict[tuple[str, int, int, str, str], int] = {}
    for c in document["containers"]:
        if c["status"] not in ("change", "comment-only"):
            continue
        for key in FIELD_KEYS:
            field = c["fields"][key]
            source = field["source"]
            path = f"{prefix}{source['file']}" if source["file"] else None
            if not field["changed"] or path not in by_path or source["line"] not in by_path[path].added:
                continue
            first = last = source["line"]
            if c["status"] == "change" and path in edits:
                if path not in cut:
                    cut[path] = _cut(edits[path])
                group = next((s for s in cut[path][0] if s.first <= first <= s.last), None)
                if group is not None:
                    first, last = group.first, group.last
            spot = (path, first, last, c["workload"], c["container"])
            notes.setdefault(spot, []).append(
                f"{FIELD_TITLES[key].lower()} {human_value(key, field['current'])} → {human_value(key, field['recommended'])} ({field['reason']})"
            )
            lines[spot] = min(lines.get(spot, source["line"]), source["line"])
    result = []
    for spot, said in notes.items():
        path, first, last, workload, container = spot
        c = next(x for x in document["containers"] if x["workload"] == workload and x["container"] == container)
        text = f"**gitbot** for `{workload}` `{container}`: " + "; ".join(said) + f". Usage: {c['explanation']}."
        if c["status"] == "comment-only":
            text += f" (gitbot would not edit this itself: {'; '.join(c['reasons'])})"
        suggestion, held = None, None
        if c["status"] == "change" and path in cut:
            head = head_text(path) if head_text is not None else edits[path].before
            suggestion, held = _offer(cut[path], first, last, path, edits[path].before, head)
        if suggestion is None:  # the numbers alone, on the first line the pull request writes them
            first = last = lines[spot]
        start = first if first < last else None
        shown = suggestion.text() if suggestion is not None else None
        key = hashlib.sha256(f"{path}:{start}:{last}:{text}:{shown}".encode()).hexdigest()[:12]
        result.append(Finding(path, last, workload, container, text, shown, key, start, held))
    return result


def _offer(cut: tuple[list[Suggestion], str | None], first: int, last: int, path: str, before: str,
           head: str | None) -> tuple[Suggestion | None, str | None]:
    """(the suggestion for lines first..last, None) when it passes the check, else (None, why not)."""
    groups, why_not = cut
    suggestion = next((s for s in groups if (s.first, s.last) == (first, last)), None)
    if suggestion is not None:
        why_not = check_suggestion(suggestion, path, before, head)
    return (suggestion, None) if why_not is None else (None, f"no suggestion: {why_not}")


def _cut(change: FileChange) -> tuple[list[Suggestion], str | None]:
    """The suggestions of one file's edit, or why it has none."""
    if not change.spliced():
        return [], "gitbot's edit of this file is more than the value edits a suggestion can show"
    return suggestions(change.before, change.splices), None


def placeable(found: Iterable[Finding], files: Sequence[ChangedFile], already: set[str], cap: int = MAX_COMMENTS) -> tuple[list[Finding], list[Finding]]:
    """(comments for the review, findings for the summary instead): only lines inside a hunk (all
    lines of a suggestion inside one hunk), not posted before, at most ``cap``; the others say why."""
    by_path = {f.path: f for f in files}
    inline: list[Finding] = []
    summary: list[Finding] = []
    for f in found:
        if f.key in already:
            continue
        if f.held is not None:
            summary.append(f)
        elif not _in_diff(f, by_path.get(f.path)):
            summary.append(replace(f, held="outside the diff"))
        elif len(inline) >= cap:
            summary.append(replace(f, held=f"over the cap of {cap} comments per review"))
        else:
            inline.append(f)
    return inline, summary


def _in_diff(f: Finding, changed: ChangedFile | None) -> bool:
    if changed is None:
        return False
    if f.start_line is None:
        return f.line in changed.in_hunks
    if changed.hunks:
        return any(f.start_line in h and f.line in h for h in changed.hunks)
    return all(n in changed.in_hunks for n in range(f.start_line, f.line + 1))


def posted_keys(review_bodies: Iterable[str]) -> set[str]:
    keys: set[str] = set()
    for body in review_bodies:
        match = _REVIEW_MARKER.search(body or "")
        if match:
            try:
                keys.update(str(k) for k in json.loads(match.group(1)))
            except json.JSONDecodeError:
                continue
    return keys


def review_body(inline: Sequence[Finding], previous: set[str]) -> str:
    keys = sorted(previous | {f.key for f in inline})
    return f"<!-- gitbot:review {json.dumps(keys)} -->\ngitbot sized the resources this pull request changes; details in the comments."


@dataclass(frozen=True)
class CostLine:
    workload: str
    before: Decimal | None  # the base branch (None: the workload is new)
    written: Decimal
    suggested: Decimal


def summary_body(costs: Sequence[CostLine], elsewhere: Sequence[Finding], total_findings: int, head: str) -> str:
    lines = [SUMMARY_MARKER, "## gitbot: resources in this pull request", ""]
    if not costs:
        lines.append("This pull request does not change any container's resources that gitbot can size.")
    else:
        before = sum((c.before or Decimal(0) for c in costs), Decimal(0))
        written = sum((c.written for c in costs), Decimal(0))
        suggested = sum((c.suggested for c in costs), Decimal(0))
        lines += [
            f"As written, this pull request changes the monthly cost of requests by **{format_usd(written - before, signed=True)}**; "
            f"with gitbot's suggestions, by **{format_usd(suggested - before, signed=True)}**.",
            "",
            "| Workload | Before | As written | As suggested |",
            "|---|---:|---:|---:|",
        ]
        for c in costs:
            was = format_usd(c.before) if c.before is not None else "new"
            lines.append(f"| `{c.workload}` | {was} | {format_usd(c.written)} | {format_usd(c.suggested)} |")
        lines.append(f"| **Total** | **{format_usd(before)}** | **{format_usd(written)}** | **{format_usd(suggested)}** |")
    lines += ["", f"{total_findings} suggestion(s) for the lines this pull request adds."]
    if elsewhere:
        lines += ["", "Findings that are not review comments:", ""]
        lines += [f"- `{f.where()}`: {f.text}" + (f" ({f.held})" if f.held else "") for f in elsewhere]
    lines += ["", f"<sub>Checked at {head[:12]}.</sub>"]
    return "\n".join(lines) + "\n"


CHECKOUT_HEAD = "actions/checkout with ref: ${{ github.event.pull_request.head.sha }}"


def head_mismatch(where: str, at: str | None, parents: Sequence[str], number: int, head: str, base_ref: str) -> str | None:
    """Why the checkout at ``where`` (HEAD ``at``, with ``parents``) cannot be reviewed, or None.
    Review comments name lines of the pull request's head commit: planned on anything else (the
    merge commit actions/checkout makes by default, once the base has moved), a comment and its
    suggestion land on the wrong line."""
    if at == head:
        return None
    fix = f"review comments refer to the head's lines; check out the head commit (in GitHub Actions: {CHECKOUT_HEAD})"
    if at is None:
        return f"{where}: no commit checked out, not the head of pull request #{number} ({head}): {fix}"
    if head in parents:
        return f"{where}: HEAD is {at}, the merge of pull request #{number} into {base_ref}, not its head {head}: {fix}"
    return f"{where}: HEAD is {at}, not the head of pull request #{number} ({head}): {fix}"


def own_pull(head_ref: str, body: str, from_fork: bool) -> bool:
    """gitbot's own pull request: one of its ``gitbot/...`` branches here, or a body with its marker.
    Its numbers are gitbot's already, so it gets neither comments nor a summary."""
    return (not from_fork and head_ref.startswith(BRANCH_PREFIX)) or f"<!-- {PR_MARKER} " in (body or "")


def resources_changed(head: Mapping[str, Any], base: Mapping[str, Any], workloads: Iterable[str]) -> set[str]:
    """The ``workloads`` whose containers' requests and limits differ between the base branch and the
    pull request as written (a new workload counts): a pull request that writes a resources line
    without changing a value (a reformat, a move) has nothing to summarise."""
    def values(document: Mapping[str, Any]) -> dict[str, set[tuple[Any, ...]]]:
        out: dict[str, set[tuple[Any, ...]]] = {}
        for c in document["containers"]:
            out.setdefault(c["workload"], set()).add((c["container"], *(c["fields"][k]["current"] for k in FIELD_KEYS)))
        return out

    now, was = values(head), values(base)
    return {w for w in workloads if now.get(w) != was.get(w)}


def touched_workloads(document: Mapping[str, Any], files: Sequence[ChangedFile], prefix: str = "") -> set[str]:
    """Workloads with a field whose source line the pull request adds."""
    added = {f.path: f.added for f in files}
    return {
        c["workload"]
        for c in document["containers"]
        for f in c["fields"].values()
        if f["source"]["file"] and f["source"]["line"] in added.get(f"{prefix}{f['source']['file']}", frozenset())
    }


def costs_by_workload(document: Mapping[str, Any], after: bool = False) -> dict[str, Decimal]:
    """Monthly cost of each workload's requests: as the manifests have them, or as gitbot proposes
    (``after``: changes and comment-only suggestions applied)."""
    chosen: dict[tuple[str, str], Mapping[str, Any]] = {}
    for c in document["containers"]:  # a workload rendered by several targets counts once, its changed copy first
        key = (c["workload"], c["container"])
        if key not in chosen or _PRIORITY.get(c["status"], 2) < _PRIORITY.get(chosen[key]["status"], 2):
            chosen[key] = c
    out: dict[str, Decimal] = {}
    for (workload, _), c in chosen.items():
        field = "after_usd" if after and c["status"] in _PRIORITY else "before_usd"
        out[workload] = out.get(workload, Decimal(0)) + Decimal(c["cost"][field])
    return out


_PRIORITY = {"change": 0, "comment-only": 1}


def annotations(found: Iterable[Finding]) -> list[str]:
    """GitHub Actions workflow commands, for pull requests gitbot cannot comment on (forks)."""
    def escape(text: str) -> str:
        return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")

    def where(f: Finding) -> str:
        return f"line={f.start_line},endLine={f.line}" if f.start_line is not None else f"line={f.line}"

    return [f"::warning file={f.path},{where(f)},title=gitbot::{escape(f.text)}" for f in found]
