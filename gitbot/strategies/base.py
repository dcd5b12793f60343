"""Recommendation records: what a strategy proposes for one container, and why."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping

from gitbot.metrics.usage import UsageProfile
from gitbot.model import FIELDS, Container, Field, Status, Workload


@dataclass(frozen=True)
class FieldRecommendation:
    field: Field
    current: int | None
    recommended: int | None  # equals current when nothing changes; None only when unset and left unset
    rule_ids: tuple[str, ...]  # rules that shaped this value
    reason: str  # one line, with the numbers

    @property
    def changed(self) -> bool:
        return self.recommended != self.current


@dataclass(frozen=True)
class Recommendation:
    workload: Workload
    container: Container
    status: Status
    fields: Mapping[Field, FieldRecommendation]
    explanation: str  # one line with the numbers behind the proposal
    reasons: tuple[str, ...] = ()  # why skipped / comment-only
    profile: UsageProfile | None = None

    @property
    def rule_ids(self) -> tuple[str, ...]:
        seen: list[str] = []
        for f in FIELDS:
            for rid in self.fields[f].rule_ids:
                if rid not in seen:
                    seen.append(rid)
        return tuple(seen)

    @property
    def changed_fields(self) -> tuple[Field, ...]:
        return tuple(f for f in FIELDS if self.fields[f].changed)

    def recommended(self, f: Field) -> int | None:
        return self.fields[f].recommended


def unchanged_fields(container: Container, reason: str) -> dict[Field, FieldRecommendation]:
    return {f: FieldRecommendation(f, container.current(f), container.current(f), (), reason) for f in FIELDS}
