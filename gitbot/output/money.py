"""One set of numbers for every output: which containers count toward a total, and how they add up.

Money is rounded once. Each container's monthly cost before and after its proposal is rounded to
cents in the JSON plan (``gitbot.output.document``), and its delta is the difference of those two
roundings, so a row's Previous, New and Diff always agree. Every total shown anywhere (the JSON
``summary``, table and markdown totals, headlines, pull-request titles and commit messages, the
Action's ``monthly-delta-usd``) is a sum of those cents: what a reader adds up is what gitbot
printed. Rounding each total from the unrounded amounts instead left totals a cent away from the
rows above them.

A workload container that several targets define (copies of one manifest) is one cost: it counts
once, its ``change`` copy first, then a ``comment-only`` one, else the first found.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

_PRIORITY = {"change": 0, "comment-only": 1}  # which copy of a workload container counts


@dataclass(frozen=True)
class Money:
    """Monthly cost before and after, in cents already rounded; the delta is their difference."""

    before: Decimal
    after: Decimal

    @property
    def delta(self) -> Decimal:
        return self.after - self.before

    def __add__(self, other: Money) -> Money:
        return Money(self.before + other.before, self.after + other.after)


ZERO = Money(Decimal("0.00"), Decimal("0.00"))  # a sum of nothing still has cents: "0.00"


def counted(containers: Iterable[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """The containers whose cost counts, one per ``(workload, container)``, in document order."""
    chosen: dict[tuple[str, str], Mapping[str, Any]] = {}
    for c in containers:
        key = (c["workload"], c["container"])
        if key not in chosen or _PRIORITY.get(c["status"], 2) < _PRIORITY.get(chosen[key]["status"], 2):
            chosen[key] = c
    return list(chosen.values())


def proposed(c: Mapping[str, Any]) -> Money:
    """What the container costs today and with gitbot's values (whatever its status)."""
    cost = c["cost"]
    return Money(Decimal(cost["before_usd"]), Decimal(cost["after_usd"]))


def applied(c: Mapping[str, Any]) -> Money:
    """What the plan changes: the proposal for a ``change``, today's cost for every other status."""
    cost = proposed(c)
    return cost if c["status"] == "change" else Money(cost.before, cost.before)


def total(items: Iterable[Money]) -> Money:
    out = ZERO
    for m in items:
        out += m
    return out
