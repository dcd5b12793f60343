"""Semantic versions and the version constraints Helm, Flux and Argo CD write (Masterminds semver v3).

A HelmRelease asks for ``version: ">=1.0.0-alpha"``, an OCIRepository for ``semver: "1.x"``, a
Chart.yaml dependency for ``~1.2``, an Argo CD Application for ``targetRevision: 15.*``. gitbot picks
the chart version the controller would: the highest version that satisfies the constraint.

Constraints: ``||`` separates alternatives; within one, comparisons separated by commas or spaces
must all hold. Operators ``= != > < >= <= ~ ~> ^``, wildcards ``x X *`` in any position, hyphen
ranges ``1.2 - 1.4.5``. A pre-release version (``1.2.0-rc.1``) satisfies a comparison only when that
comparison's own version has a pre-release part, as in Masterminds semver.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import total_ordering
from typing import Callable, Iterable

_VERSION = re.compile(
    r"^v?(?P<major>0|[1-9]\d*)(?:\.(?P<minor>0|[1-9]\d*))?(?:\.(?P<patch>0|[1-9]\d*))?"
    r"(?:-(?P<pre>[0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*))?(?:\+(?P<build>[0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*))?$"
)
_PART = r"(?:0|[1-9]\d*|[xX*])"
_CONSTRAINT_VERSION = re.compile(
    rf"^v?(?P<major>{_PART})(?:\.(?P<minor>{_PART}))?(?:\.(?P<patch>{_PART}))?"
    r"(?:-(?P<pre>[0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*))?(?:\+[0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*)?$"
)
_OPERATOR = re.compile(r"^(?P<op>!=|>=|=>|<=|=<|~>|[=<>~^])?\s*(?P<version>\S+)$")


class VersionError(ValueError):
    """Text that is not a version or a constraint."""


@total_ordering
@dataclass(frozen=True)
class Version:
    major: int
    minor: int
    patch: int
    pre: tuple[int | str, ...] = ()
    text: str = ""  # as written, e.g. "v1.2" (kept for tags, whose exact text names the artifact)

    @classmethod
    def parse(cls, text: str) -> Version:
        m = _VERSION.match(text.strip())
        if m is None:
            raise VersionError(f"{text!r} is not a semantic version")
        pre = tuple(int(p) if p.isdigit() else p for p in m["pre"].split(".")) if m["pre"] else ()
        return cls(int(m["major"]), int(m["minor"] or 0), int(m["patch"] or 0), pre, text.strip())

    @property
    def prerelease(self) -> bool:
        return bool(self.pre)

    def _key(self) -> tuple[int, int, int, int, tuple[tuple[int, int | str], ...]]:
        # a release sorts above its pre-releases; numeric identifiers sort below alphanumeric ones
        return (self.major, self.minor, self.patch, 0 if self.pre else 1,
                tuple((0, p) if isinstance(p, int) else (1, p) for p in self.pre))

    def __lt__(self, other: object) -> bool:
        if not isinstance(other, Version):
            return NotImplemented
        return self._key() < other._key()

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Version) and self._key() == other._key()

    def __hash__(self) -> int:
        return hash(self._key())

    def __str__(self) -> str:
        return self.text or f"{self.major}.{self.minor}.{self.patch}" + (f"-{'.'.join(map(str, self.pre))}" if self.pre else "")


Check = Callable[[Version], bool]


@dataclass(frozen=True)
class Constraint:
    text: str
    alternatives: tuple[tuple[Check, ...], ...]

    @classmethod
    def parse(cls, text: str | None) -> Constraint:
        """``None`` or an empty string means any stable version, like ``*``."""
        raw = (text or "*").strip() or "*"
        alternatives = []
        for part in raw.split("||"):
            alternatives.append(tuple(_checks(part.strip(), raw)))
        return cls(raw, tuple(alternatives))

    def allows(self, version: Version) -> bool:
        return any(all(check(version) for check in group) for group in self.alternatives)

    def best(self, versions: Iterable[Version]) -> Version | None:
        """The highest version that satisfies the constraint."""
        return max((v for v in versions if self.allows(v)), default=None)


def _checks(group: str, whole: str) -> list[Check]:
    if not group:
        raise VersionError(f"{whole!r} has an empty alternative")
    hyphen = re.fullmatch(r"(\S+)\s+-\s+(\S+)", group)
    if hyphen:
        return [*_comparison(">=", hyphen[1], whole), *_comparison("<=", hyphen[2], whole)]
    # "> = 1.2" and ">= 1.2" both mean one comparison: glue operators to their versions first
    tokens = re.sub(r"(!=|>=|=>|<=|=<|~>|[=<>~^])\s+", r"\1", group).replace(",", " ").split()
    out: list[Check] = []
    for token in tokens:
        m = _OPERATOR.match(token)
        if m is None:
            raise VersionError(f"{whole!r} is not a version constraint")
        out += _comparison(m["op"] or "=", m["version"], whole)
    return out


def _comparison(op: str, text: str, whole: str) -> list[Check]:
    m = _CONSTRAINT_VERSION.match(text)
    if m is None:
        raise VersionError(f"{whole!r} is not a version constraint ({text!r} is not a version)")
    parts = [m["major"], m["minor"], m["patch"]]
    wild = next((i for i, p in enumerate(parts) if p is None or p in ("x", "X", "*")), 3)
    nums = [int(p) if i < wild and p is not None else 0 for i, p in enumerate(parts)]
    pre = tuple(int(p) if p.isdigit() else p for p in m["pre"].split(".")) if m["pre"] else ()
    low = Version(nums[0], nums[1], nums[2], pre if wild == 3 else ())
    allow_pre = bool(pre)

    def stable_or(check: Check) -> Check:
        return lambda v: (allow_pre or not v.prerelease) and check(v)

    def bump(position: int) -> Version:
        """The first version past ``low`` at ``position`` (0 major, 1 minor, 2 patch)."""
        n = list(nums)
        n[position] += 1
        for i in range(position + 1, 3):
            n[i] = 0
        return Version(n[0], n[1], n[2])

    explicit = min(wild, 3)  # how many of major.minor.patch are written
    if op in ("=", ) and wild == 0:
        return [stable_or(lambda v: True)]
    if op == "=":
        if wild == 3:
            return [stable_or(lambda v: v == low)]
        high = bump(wild - 1)
        return [stable_or(lambda v: low <= v < high)]
    if op == "!=":
        if wild == 3:
            return [stable_or(lambda v: v != low)]
        if wild == 0:
            return [lambda v: False]
        high = bump(wild - 1)
        return [stable_or(lambda v: not (low <= v < high))]
    if op == ">":
        if wild == 0:
            return [lambda v: False]
        if wild == 3:
            return [stable_or(lambda v: v > low)]
        high = bump(wild - 1)
        return [stable_or(lambda v: v >= high)]
    if op in (">=", "=>"):
        return [stable_or(lambda v: v >= low)]
    if op == "<":
        if wild == 0:
            return [lambda v: False]
        return [stable_or(lambda v: v < low)]
    if op in ("<=", "=<"):
        if wild == 0:
            return [stable_or(lambda v: True)]
        if wild == 3:
            return [stable_or(lambda v: v <= low)]
        high = bump(wild - 1)
        return [stable_or(lambda v: v < high)]
    if op in ("~", "~>"):
        if wild == 0:
            return [stable_or(lambda v: True)]
        high = bump(0) if explicit == 1 else bump(1)
        return [stable_or(lambda v: low <= v < high)]
    if op == "^":
        if wild == 0:
            return [stable_or(lambda v: True)]
        if nums[0] > 0 or explicit == 1:
            high = bump(0)
        elif nums[1] > 0 or explicit == 2:
            high = bump(1)
        else:
            high = bump(2)
        return [stable_or(lambda v: low <= v < high)]
    raise VersionError(f"{whole!r}: unknown operator {op!r}")  # pragma: no cover - the pattern allows no other


def pick(constraint: str | None, candidates: Iterable[str]) -> str | None:
    """The candidate text (a tag or an index version) the constraint selects, or None.
    Candidates that are not versions are ignored; an exact text match wins (a tag like ``latest``)."""
    wanted = (constraint or "").strip()
    texts = list(candidates)
    if wanted and wanted in texts:
        return wanted
    parsed: dict[Version, str] = {}
    for text in texts:
        try:
            version = Version.parse(text)
        except VersionError:
            continue
        parsed.setdefault(version, text)
    best = Constraint.parse(wanted).best(parsed)
    return None if best is None else parsed[best]
