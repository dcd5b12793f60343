"""Which pull request a workload's changes belong to.

``repository``: one PR for everything. ``directory``: one per app — the directory that renders the
workload (a Kustomize root, a chart, a plain file's directory, or for Flux and Argo CD the place that
declares the release). ``environment``: one per environment from ``.gitbot.yaml``. The scope's slug
names the branch, ``gitbot/<slug>``.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

from gitbot.model import TargetKind, Workload

SCOPES = ("repository", "directory", "environment")
BRANCH_PREFIX = "gitbot/"
_MAX_SLUG = 60


@dataclass(frozen=True, order=True)
class Scope:
    slug: str  # branch-safe: "all", "apps-cart", "production"
    name: str  # for people: "the repository", "apps/cart", "environment production"

    @property
    def branch(self) -> str:
        return BRANCH_PREFIX + self.slug


def scope_of(workload: Workload, mode: str) -> Scope:
    if mode == "repository":
        return Scope("all", "the repository")
    if mode == "environment":
        return Scope(slug(workload.environment), f"environment {workload.environment}")
    target = workload.target.declared_by or workload.target
    directory = target.path.rsplit("/", 1)[0] if target.kind is TargetKind.PLAIN and "/" in target.path else target.path
    if target.kind is TargetKind.PLAIN and "/" not in target.path:
        directory = ""
    return Scope(slug(directory or "root"), directory or "the repository root")


def slug(text: str) -> str:
    """Lower-case letters, digits, dots and dashes; long names keep a short hash to stay unique."""
    base = re.sub(r"[^a-z0-9.]+", "-", text.lower()).strip("-.") or "root"
    base = re.sub(r"\.{2,}", ".", base)  # git refuses ".." in a ref name
    if len(base) <= _MAX_SLUG:
        return base
    digest = hashlib.sha256(text.encode()).hexdigest()[:8]
    return f"{base[: _MAX_SLUG - 9].rstrip('-.')}-{digest}"


@dataclass(frozen=True)
class Shard:
    """Part ``index`` of ``count`` (1-based): the scopes whose slug hashes there (``--shard 2/4``).

    A scope is never split, so two runners never push the same branch; the hash (SHA-256 of the slug)
    is the same on every runner and every run, so a scope stays in its shard as the repository grows."""

    index: int
    count: int

    def __str__(self) -> str:
        return f"{self.index}/{self.count}"

    def holds(self, scope: Scope) -> bool:
        return int.from_bytes(hashlib.sha256(scope.slug.encode()).digest()[:8], "big") % self.count == self.index - 1


def parse_shard(text: str) -> Shard:
    """``I/N`` with 1 <= I <= N."""
    index, sep, count = text.strip().partition("/")
    if not sep or not index.isdigit() or not count.isdigit() or not 1 <= int(index) <= int(count):
        raise ValueError(f"--shard: expected I/N with 1 <= I <= N, e.g. 2/4, not {text!r}")
    return Shard(int(index), int(count))


@dataclass(frozen=True)
class ShardInfo:
    """What a sharded plan covered."""

    shard: Shard
    scope: str  # the scope mode workloads were grouped by
    workloads: int  # planned in this shard
    total: int  # in the repository
