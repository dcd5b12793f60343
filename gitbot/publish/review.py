"""Review a pull request that changes resources: comments on the exact lines, and a cost summary.

The plan runs on the pull request's checkout. A field is *touched* by the pull request when its
source line (the file and line gitbot maps it to: a manifest, a values file, an overlay patch) is an
added line of the pull request's diff. For each touched field gitbot's recommendation differs from:

- inside a diff hunk: a review comment on that line, with a GitHub ```suggestion block holding the
  line as gitbot would write it (when the edit replaces values in place), else the numbers;
- outside the hunks (GitHub rejects a whole review with one such comment), or past the cap of
  comments per review: a line in the summary comment instead.

The summary comment (one per pull request, found again by its hidden marker and edited in place)
shows the monthly cost of the touched workloads before the pull request, as written, and as gitbot
suggests. Comments already posted by an earlier run (recorded in its review's marker) are not posted
again.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Iterable, Mapping, Sequence

from gitbot.edit.changeset import ChangeSet
from gitbot.output.render import FIELD_KEYS, FIELD_TITLES, human_value
from gitbot.pricing.cost import format_usd

SUMMARY_MARKER = "<!-- gitbot:review-summary -->"
_REVIEW_MARKER = re.compile(r"<!-- gitbot:review (\[.*?\]) -->", re.DOTALL)
_HUNK = re.compile(r"^@@ -\d+(?:,\d+)? \+(\d+)(?:,(\d+))? @@")
MAX_COMMENTS = 30


@dataclass(frozen=True)
class ChangedFile:
    path: str  # repo-relative, as GitHub names it
    added: frozenset[int]  # new-file line numbers the pull request adds or changes
    in_hunks: frozenset[int]  # new-file line numbers a review comment may be placed on


def changed_file(path: str, patch: str | None) -> ChangedFile:
    """The lines of one file's patch (GitHub's ``files[].patch``: hunks without file headers)."""
    added: set[int] = set()
    visible: set[int] = set()
    line = 0
    for text in (patch or "").splitlines():
        match = _HUNK.match(text)
        if match:
            line = int(match.group(1))
            continue
        if line == 0 or text.startswith("\\"):
            continue
        if text.startswith("-"):
            continue
        visible.add(line)
        if text.startswith("+"):
            added.add(line)
        line += 1
    return ChangedFile(path, frozenset(added), frozenset(visible))


@dataclass(frozen=True)
class Finding:
    path: str
    line: int
    workload: str
    container: str
    text: str  # what the comment says
    suggestion: str | None  # the replacement line, for a ```suggestion block
    key: str  # stable id: the same finding on a re-run is not posted twice

    def body(self) -> str:
        out = self.text
        if self.suggestion is not None:
            out += f"\n\n```suggestion\n{self.suggestion}\n```"
        return out


def findings(document: Mapping[str, Any], changes: ChangeSet, files: Sequence[ChangedFile], prefix: str = "") -> list[Finding]:
    """Touched fields whose recommendation differs from what the pull request writes."""
    by_path = {f.path: f for f in files}
    replacements = {c.path: suggested_lines(c.before, c.after) for c in changes.files if not c.created}
    out: dict[tuple[str, int, str, str], list[str]] = {}
    order: list[tuple[str, int, str, str]] = []
    for c in document["containers"]:
        if c["status"] not in ("change", "comment-only"):
            continue
        for key in FIELD_KEYS:
            field = c["fields"][key]
            source = field["source"]
            path = f"{prefix}{source['file']}" if source["file"] else None
            if not field["changed"] or path not in by_path or source["line"] not in by_path[path].added:
                continue
            spot = (path, source["line"], c["workload"], c["container"])
            if spot not in out:
                out[spot] = []
                order.append(spot)
            out[spot].append(
                f"{FIELD_TITLES[key].lower()} {human_value(key, field['current'])} → {human_value(key, field['recommended'])} ({field['reason']})"
            )
    result = []
    for path, line, workload, container in order:
        c = next(x for x in document["containers"] if x["workload"] == workload and x["container"] == container)
        rel = path[len(prefix):]
        suggestion = replacements.get(rel, {}).get(line) if c["status"] == "change" else None
        usage = c["explanation"]
        lines = out[(path, line, workload, container)]
        text = f"**gitbot** for `{workload}` `{container}`: " + "; ".join(lines) + f". Usage: {usage}."
        if c["status"] == "comment-only":
            text += f" (gitbot would not edit this itself: {'; '.join(c['reasons'])})"
        key = hashlib.sha256(f"{path}:{line}:{text}:{suggestion}".encode()).hexdigest()[:12]
        result.append(Finding(path, line, workload, container, text, suggestion, key))
    return result


def suggested_lines(before: str, after: str) -> dict[int, str]:
    """For each line of ``before`` that the edit changes, the text that replaces it (1-based line ->
    one or more lines). Lines inserted between two lines belong to the line below them (a field
    added above a sibling: ``cpu`` before ``memory``), or to the last line at the end."""
    import difflib

    old, new = before.splitlines(), after.splitlines()
    out: dict[int, list[str]] = {}  # 1-based old line -> lines inserted above it, then its own (new) text
    for op, i1, i2, j1, j2 in difflib.SequenceMatcher(a=old, b=new, autojunk=False).get_opcodes():
        if op == "replace" and i2 - i1 == j2 - j1:
            for k in range(i2 - i1):
                out.setdefault(i1 + k + 1, [old[i1 + k]])[-1] = new[j1 + k]
        elif op == "replace" and i2 - i1 == 1:
            out[i1 + 1] = new[j1:j2]
        elif op == "insert" and i1 < len(old):  # above the line below, which keeps (or replaces) its text after them
            out[i1 + 1] = [*new[j1:j2], *out.get(i1 + 1, [old[i1]])]
        elif op == "insert" and old:  # at the end: after the last line
            out[i1] = [*out.get(i1, [old[i1 - 1]]), *new[j1:j2]]
    return {line: "\n".join(text) for line, text in out.items()}


def placeable(found: Iterable[Finding], files: Sequence[ChangedFile], already: set[str], cap: int = MAX_COMMENTS) -> tuple[list[Finding], list[Finding]]:
    """(comments for the review, findings for the summary instead): only lines inside a hunk, not
    posted before, at most ``cap``."""
    visible = {f.path: f.in_hunks for f in files}
    inline: list[Finding] = []
    summary: list[Finding] = []
    for f in found:
        if f.key in already:
            continue
        if f.line in visible.get(f.path, frozenset()) and len(inline) < cap:
            inline.append(f)
        else:
            summary.append(f)
    return inline, summary


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
        lines += ["", "Suggestions that cannot be review comments (outside the diff, or over the per-review cap):", ""]
        lines += [f"- `{f.path}:{f.line}`: {f.text}" for f in elsewhere]
    lines += ["", f"<sub>Checked at {head[:12]}.</sub>"]
    return "\n".join(lines) + "\n"


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

    return [f"::warning file={f.path},line={f.line},title=gitbot::{escape(f.text)}" for f in found]
