"""One scope's plan as a pull request: branch, title, commit message, body, fingerprint.

The body is the plan's markdown (``gitbot.output.render.plan_markdown``) with a hidden marker at the
top that identifies gitbot's pull request for the scope and records what it proposed::

    <!-- gitbot:pr {"scope": "apps-cart", "fingerprint": "3f2a...", "values": {...}} -->

``values`` holds every proposed field (``workload/container/field`` -> millicores or bytes), so a
later run can tell whether a proposal a person declined (closed unmerged) has moved enough to be
worth proposing again (with thousands of fields the values are left out: any change then counts).
Bodies are capped below GitHub's 65,536-character limit: the diff, then the tail of the details are
cut, with a note saying so; the marker never is.

Title, commit message and body lead with what the change does (``gitbot.output.intent``), most
urgent first — ``gitbot: fixes 14 OOM kills in shop (+$7.97/month)`` — and every amount in them is
a sum of the plan's rounded rows (``gitbot.output.money``), so they agree with the body to the cent.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Mapping

from gitbot.edit.changeset import ChangeSet
from gitbot.output import intent, money
from gitbot.output.intent import INTENTS, intents_of  # noqa: F401 - the intent contract is read from here too (labels_by_intent)
from gitbot.output.render import FIELD_KEYS, is_increase, plan_markdown, shown_pct
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
    what = title_of(scope, document)
    return Proposal(scope, f"gitbot: {what}", commit_message(what, document, len(changes.files)), _body(marker, document, limit),
                    diff, fingerprint, values, changes, document, intents_of(document))


def title_of(scope: Scope, document: Mapping[str, Any]) -> str:
    """``fixes 14 OOM kills in shop (+$7.97/month)``, ``saves $28.93/month in platform/checkout``:
    the intents first, then where, then the net cost when it goes up (a saving is already said)."""
    said = intent.clause(document)
    if said:
        return f"{said} in {scope.name}{intent.net_increase(document)}"
    delta = Decimal(document["summary"]["monthly_cost"]["delta_usd"])
    return f"right-size {scope.name}" + (f" ({format_usd(delta, signed=True)}/month)" if delta else "")


def commit_message(what: str, document: Mapping[str, Any], files: int) -> str:
    """The title as the subject; the increases and decreases and the totals, from the same rows as
    the pull request's body."""
    counted = money.counted(document["containers"])
    changing = [c for c in counted if c["status"] == "change"]
    ups = money.total(money.proposed(c) for c in changing if is_increase(c))
    downs = money.total(money.proposed(c) for c in changing if not is_increase(c))
    total = money.total(map(money.applied, counted))
    n_ups = sum(is_increase(c) for c in changing)
    changed = document["summary"]["by_status"]["change"]
    return (
        f"{what[:1].upper()}{what[1:]}\n\n"
        f"{changed} container(s) in {files} file(s): {n_ups} increase(s), {format_usd(ups.delta, signed=True)}; "
        f"{len(changing) - n_ups} decrease(s), {format_usd(downs.delta, signed=True)}.\n"
        f"Monthly cost of requests: {format_usd(total.before)} → {format_usd(total.after)} "
        f"({format_usd(total.delta, signed=True)}{shown_pct(document)}).\n"
        "Proposed by gitbot from observed usage; see the pull request for the numbers."
    )


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
