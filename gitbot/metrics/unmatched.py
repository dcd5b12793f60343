"""Why usage did not join: hints from the pods that no workload of the repository claims.

A usage source reports the pods of every namespace with their resolved owner (``UnmatchedPod``,
``gitbot.metrics.usage``). A pod that no workload claims says how the repository and the cluster
differ, and each falls in exactly one kind of hint:

- ``namespace``: its owner (kind and name) is a workload of the repository in another namespace:
  the manifests, an Argo CD destination or ``.gitbot.yaml`` put it elsewhere than the cluster does
  (``podinfo`` in the repository, ``podinfo-staging`` in the cluster), so its usage never joins;
- ``missing-app``: it runs in a namespace where the repository has no workload at all (the cluster's
  add-ons, another team's apps, an app this repository does not carry); one hint per namespace;
- ``unknown-owner``: the namespace is one of the repository's, its owner is not; one hint per
  namespace and owner.

A pure function of the pods and the repository's workload ids, so a plan from a snapshot and one
from the server that recorded it give the same hints.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Iterable

from gitbot.metrics.usage import UnmatchedPod
from gitbot.model import WorkloadId

NAMESPACE, MISSING_APP, UNKNOWN_OWNER = "namespace", "missing-app", "unknown-owner"
OWNERS_SHOWN = 3  # owners named in a missing-app hint's text; the JSON lists them all
WHERE_TO_SET = "set the namespace in the manifests, an Argo CD destination, or namespaces: in .gitbot.yaml"

Owner = tuple[str, str] | None  # (kind, name); None: the pod had no owner series


@dataclass(frozen=True)
class OwnerCount:
    kind: str | None  # None: pods without an owner series
    name: str | None
    pods: int


@dataclass(frozen=True)
class UnmatchedHint:
    kind: str  # NAMESPACE, MISSING_APP or UNKNOWN_OWNER
    pods: int
    namespaces: tuple[str, ...]  # where the pods run, most pods first
    owners: tuple[OwnerCount, ...]  # most pods first
    repository_namespaces: tuple[str, ...]  # NAMESPACE: where the repository puts the workload; else ()
    text: str


@dataclass(frozen=True)
class UnmatchedSummary:
    pods: int
    namespaces: int
    hints: tuple[UnmatchedHint, ...]  # most pods first


def unmatched_hints(unmatched: Iterable[UnmatchedPod], repository: Iterable[WorkloadId]) -> UnmatchedSummary:
    """The unmatched pods counted and explained, most pods first (ties by text)."""
    pods = tuple(unmatched)
    homes: dict[tuple[str, str], set[str]] = {}  # (kind, name) -> the namespaces the repository puts it in
    used: set[str] = set()
    for wid in repository:
        homes.setdefault((wid.kind, wid.name), set()).add(wid.namespace)
        used.add(wid.namespace)

    moved: dict[tuple[str, str], list[UnmatchedPod]] = {}
    missing: dict[str, list[UnmatchedPod]] = {}
    unknown: dict[tuple[str, Owner], list[UnmatchedPod]] = {}
    for pod in pods:
        if pod.owner is not None and pod.owner in homes and pod.namespace not in homes[pod.owner]:
            moved.setdefault(pod.owner, []).append(pod)
        elif pod.namespace not in used:
            missing.setdefault(pod.namespace, []).append(pod)
        else:
            unknown.setdefault((pod.namespace, pod.owner), []).append(pod)

    hints = [_moved(owner, group, homes[owner]) for owner, group in moved.items()]
    hints += [_missing(namespace, group) for namespace, group in missing.items()]
    hints += [_unknown(namespace, owner, group) for (namespace, owner), group in unknown.items()]
    hints.sort(key=lambda h: (-h.pods, h.text))
    return UnmatchedSummary(len(pods), len({p.namespace for p in pods}), tuple(hints))


def _moved(owner: tuple[str, str], group: list[UnmatchedPod], homes: set[str]) -> UnmatchedHint:
    namespaces = _most_first(Counter(p.namespace for p in group))
    n = len(group)
    text = (f"{_pods(n)} of {owner[0]} {owner[1]} run{'s' if n == 1 else ''} in {', '.join(namespaces)}; "
            f"the repository puts it in {', '.join(sorted(homes))} ({WHERE_TO_SET})")
    return UnmatchedHint(NAMESPACE, n, namespaces, (OwnerCount(owner[0], owner[1], n),), tuple(sorted(homes)), text)


def _missing(namespace: str, group: list[UnmatchedPod]) -> UnmatchedHint:
    owners = _owners(group)
    shown = ", ".join(_label(o) for o in owners[:OWNERS_SHOWN])
    more = f" and {len(owners) - OWNERS_SHOWN} more" if len(owners) > OWNERS_SHOWN else ""
    text = f"{namespace}: {_pods(len(group))} ({shown}{more}); no workload of this repository is in that namespace"
    return UnmatchedHint(MISSING_APP, len(group), (namespace,), owners, (), text)


def _unknown(namespace: str, owner: Owner, group: list[UnmatchedPod]) -> UnmatchedHint:
    n = len(group)
    if owner is None:
        text = f"{namespace}: {_pods(n)} without an owner series, whose names match no workload here"
    else:
        text = f"{namespace}: {_pods(n)} of {owner[0]} {owner[1]}, which no manifest here defines"
    return UnmatchedHint(UNKNOWN_OWNER, n, (namespace,), _owners(group), (), text)


def _owners(group: list[UnmatchedPod]) -> tuple[OwnerCount, ...]:
    counts = Counter(p.owner for p in group)
    # most pods first; pods without an owner last among equals
    ordered = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0] is None, kv[0] or ("", "")))
    return tuple(OwnerCount(o[0] if o else None, o[1] if o else None, n) for o, n in ordered)


def _label(owner: OwnerCount) -> str:
    return "no owner series" if owner.kind is None else f"{owner.kind} {owner.name}"


def _most_first(counts: Counter[str]) -> tuple[str, ...]:
    return tuple(ns for ns, _ in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))


def _pods(n: int) -> str:
    return f"{n} pod{'' if n == 1 else 's'}"
