"""A small PromQL builder: selectors with escaped label values, so no user string is ever pasted
into a query unescaped (a namespace named ``a"}or vector(1)`` stays a namespace name).

    >>> str(Selector("kube_pod_owner").where("namespace", "in", ["shop", "a.b"]))
    'kube_pod_owner{namespace=~"shop|a\\\\.b"}'
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Iterable

_LABEL_NAME = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")
_METRIC_NAME = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")
_RE2_SPECIAL = re.compile(r"([\\.+*?()|\[\]{}^$])")
_OPS = {"eq": "=", "ne": "!=", "in": "=~", "not_in": "!~", "re": "=~", "not_re": "!~"}


def quote(value: str) -> str:
    """A PromQL double-quoted string literal."""
    escaped = value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return f'"{escaped}"'


def regex_literal(value: str) -> str:
    """``value`` as an RE2 pattern that matches exactly it."""
    return _RE2_SPECIAL.sub(r"\\\1", value)


def duration(seconds: int | float) -> str:
    return f"{int(seconds)}s"


@dataclass(frozen=True)
class Selector:
    metric: str
    matchers: tuple[tuple[str, str, str], ...] = ()  # (label, operator, quoted-ready value)

    def __post_init__(self) -> None:
        if not _METRIC_NAME.fullmatch(self.metric):
            raise ValueError(f"not a metric name: {self.metric!r}")

    def where(self, label: str, op: str, value: str | Iterable[str]) -> Selector:
        """``op``: eq, ne, re (value is a pattern), not_re, in and not_in (value is a list of literal values)."""
        if not _LABEL_NAME.fullmatch(label):
            raise ValueError(f"not a label name: {label!r}")
        if op in ("in", "not_in"):
            if isinstance(value, str):
                raise TypeError(f"{op!r} takes a list of values")
            text = "|".join(regex_literal(v) for v in sorted(set(value)))
        elif isinstance(value, str):
            text = value
        else:
            raise TypeError(f"{op!r} takes one value")
        return Selector(self.metric, self.matchers + ((label, _OPS[op], text),))

    def __str__(self) -> str:
        if not self.matchers:
            return self.metric
        inner = ",".join(f"{label}{op}{quote(value)}" for label, op, value in self.matchers)
        return f"{self.metric}{{{inner}}}"

    def range(self, seconds: int | float) -> str:
        return f"{self}[{duration(seconds)}]"


def by(labels: Iterable[str]) -> str:
    names = list(labels)
    for name in names:
        if not _LABEL_NAME.fullmatch(name):
            raise ValueError(f"not a label name: {name!r}")
    return f"by ({', '.join(names)})"
