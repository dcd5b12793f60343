"""One scope's plan as a pull request: branch, title, commit message, body, fingerprint.

The body is the plan's markdown (``gitbot.output.render.plan_markdown``) with a hidden marker at the
top that identifies gitbot's pull request for the scope and records what it proposed::

    <!-- gitbot:pr {"scope": "apps-cart", "fingerprint": "3f2a...", "values": {...}} -->

``values`` holds every proposed field (``workload/container/field`` -> millicores or bytes), so a
later run can tell whether a proposal a person declined (closed unmerged) has moved enough to be
worth proposing again (with thousands of fields the values are left out: any change then counts).
Bodies are capped below GitHub's 65,536-character limit: the diff, then the tail of the details are
cut, with a note saying so; the marker never is.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Mapping

from gitbot.edit.changeset import ChangeSet
from gitbot.output.render import FIELD_KEYS, headline, plan_markdown
from gitbot.pricing.cost import format_usd
from gitbot.publish.scope import Scope

BODY_LIMIT = 65_536
MARKER = "gitbot:pr"
_MARKER_RE = re.compile(r"<!-- gitbot:pr (\{.*?\}) -->", re.DOTALL)
TRUNCATED = "\n\n> **Truncated**: this description hit GitHub's size limit; the diff is complete in the branch, and `gitbot plan --format markdown` prints the full report.\n"


@dataclass(frozen=True)
class Proposal:
    scope: Scope
    title: str
    commit_message: str
    body: str
    diff: str
    fingerprint: str  # of the diff: the same edits give the same fingerprint
    values: Mapping[str, int | None]  # "workload/container/field" -> proposed value
    changes: ChangeSet
    document: Mapping[str, Any]
    intents: tuple[str, ...] = ()  # what the change does, most urgent first (INTENTS)

    @property
    def empty(self) -> bool:
        return not self.changes.files


# what a proposal can do, in the order a reviewer should hear it (labels_by_intent keys on these)
INTENTS = ("fixes-oom", "adds-requests", "raises", "saves")


def intents_of(document: Mapping[str, Any]) -> tuple[str, ...]:
    """The intents of the containers that change: ``fixes-oom`` (memory raised after OOM kills),
    ``adds-requests`` (a request that was unset gets one), ``raises`` (any other value goes up),
    ``saves`` (the monthly cost goes down)."""
    found: set[str] = set()
    for c in document["containers"]:
        if c["status"] != "change":
            continue
        fields = c["fields"]
        changed = [f for f in fields.values() if f["changed"]]
        if (c.get("usage") or {}).get("oom_events") and any(
            fields[k]["changed"] and (fields[k]["recommended"] or 0) > (fields[k]["current"] or 0)
            for k in ("memory_request_bytes", "memory_limit_bytes")
        ):
            found.add("fixes-oom")
        if any(fields[k]["changed"] and fields[k]["current"] is None for k in ("cpu_request_m", "memory_request_bytes")):
            found.add("adds-requests")
        if any(f["current"] is not None and f["recommended"] is not None and f["recommended"] > f["current"] for f in changed):
            found.add("raises")
    if Decimal(document["summary"]["monthly_cost"]["delta_usd"]) < 0:
        found.add("saves")
    return tuple(i for i in INTENTS if i in found)


def build(scope: Scope, document: Mapping[str, Any], changes: ChangeSet, limit: int = BODY_LIMIT) -> Proposal:
    diff = changes.diff()
    fingerprint = hashlib.sha256(diff.encode()).hexdigest()[:16]
    values = {
        f"{c['workload']}/{c['container']}/{key}": c["fields"][key]["recommended"]
        for c in document["containers"]
        if c["status"] == "change"
        for key in FIELD_KEYS
        if c["fields"][key]["changed"]
    }
    data = {"scope": scope.slug, "fingerprint": fingerprint, "values": values}
    marker = f"<!-- {MARKER} {json.dumps(data, sort_keys=True)} -->"
    if len(marker) > limit // 4:  # thousands of fields: keep the body for people (a declined one returns on any change)
        marker = f"<!-- {MARKER} {json.dumps({'scope': scope.slug, 'fingerprint': fingerprint}, sort_keys=True)} -->"
    cost = document["summary"]["monthly_cost"]
    title = f"gitbot: right-size {scope.name} ({format_usd(Decimal(cost['delta_usd']), signed=True)}/month)"
    changed = document["summary"]["by_status"]["change"]
    message = (
        f"Right-size resources in {scope.name}\n\n"
        f"{changed} container(s) in {len(changes.files)} file(s); {headline(document)}.\n"
        "Proposed by gitbot from observed usage; see the pull request for the numbers."
    )
    return Proposal(scope, title, message, _body(marker, document, limit), diff, fingerprint, values, changes, document,
                    intents_of(document))


def _body(marker: str, document: Mapping[str, Any], limit: int) -> str:
    """The markdown with the marker first, cut to ``limit`` characters: the diff first, then the tail
    of the details; the marker is never cut."""
    full = f"{marker}\n{plan_markdown(document)}"
    if len(full) <= limit:
        return full
    without_diff = f"{marker}\n{plan_markdown({**document, 'edits': []})}"
    if len(without_diff) + len(TRUNCATED) <= limit:
        return without_diff + TRUNCATED
    room = max(0, limit - len(TRUNCATED) - len(marker) - 1)
    return f"{marker}\n" + plan_markdown({**document, "edits": []})[:room].rsplit("\n", 1)[0] + TRUNCATED


def read_marker(body: str | None) -> dict[str, Any] | None:
    """The marker's data from a pull request body, None when it is not gitbot's."""
    match = _MARKER_RE.search(body or "")
    if match is None:
        return None
    try:
        data = json.loads(match.group(1))
    except json.JSONDecodeError:
        return None
    return data if isinstance(data, dict) else None


def moved_past(declined: Mapping[str, Any], proposed: Mapping[str, int | None], threshold_pct: Decimal) -> bool:
    """Whether ``proposed`` differs from a declined proposal by more than ``threshold_pct`` in any
    field (or changes fields it did not touch)."""
    old = declined.get("values")
    if not isinstance(old, dict):
        return True
    if set(old) != set(proposed):
        return True
    for key, new in proposed.items():
        before = old.get(key)
        if before is None or new is None:
            if before != new:
                return True
            continue
        if before == 0:
            if new != 0:
                return True
            continue
        if abs(Decimal(new) - Decimal(before)) * 100 / Decimal(before) > threshold_pct:
            return True
    return False
