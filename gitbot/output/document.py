"""The Plan record and its JSON document (schema_version 1, see docs/plan-schema.md).

The JSON document is the one result every renderer reads: table, markdown and diff are functions of
it, so a saved ``plan.json`` can be rendered again later without re-running the plan.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Mapping

import numpy as np

import gitbot
from gitbot.edit.changeset import ChangeSet, rec_key
from gitbot.metrics.unmatched import UnmatchedHint, unmatched_hints
from gitbot.metrics.usage import Profiles, UsageProfile
from gitbot.model import FIELDS, Container, Coverage, Embedded, Field, FieldSource, Skipped, Status, TargetReport, Workload, YamlPath
from gitbot.colocation import Colocation
from gitbot.edit.scheduling import PlacementOutcome
from gitbot.output import money
from gitbot.placement import Option, Placement, family_of
from gitbot.publish.scope import ShardInfo
from gitbot.pricing.cost import percent_change, usd
from gitbot.pricing.estimate import CostDelta
from gitbot.strategies.base import Recommendation

SCHEMA_VERSION = 1
PERCENTILES = (50, 90, 95, 99)


@dataclass(frozen=True)
class UsageWindow:
    source: str
    start: float
    end: float
    step_seconds: int
    history_seconds: int
    unmatched_pods: int
    unmatched_namespaces: int = 0
    unmatched: tuple[UnmatchedHint, ...] = ()  # why those pods did not join, most pods first


@dataclass(frozen=True)
class PlanEntry:
    rec: Recommendation
    status: Status  # final: a change the edit stage could not make is comment-only here
    reasons: tuple[str, ...]
    cost: CostDelta


@dataclass(frozen=True)
class Plan:
    repository: str
    config: str | None
    usage: UsageWindow | None
    catalog: str
    rules: tuple[str, ...]
    entries: tuple[PlanEntry, ...]
    changes: ChangeSet
    skipped: tuple[Skipped, ...]
    warnings: tuple[str, ...]
    written: bool
    placements: tuple[Placement, ...] = ()  # node-family / spot suggestions
    placement_outcomes: Mapping[str, PlacementOutcome] = field(default_factory=dict)  # by workload id, with `placement: edit`
    colocations: tuple[Colocation, ...] = ()  # comment-only: chatty pairs whose traffic crosses zones
    shard: ShardInfo | None = None  # --shard: the part of the repository planned
    coverage: tuple[TargetReport, ...] = ()  # every render target and what became of it


def plan_document(plan: Plan) -> dict[str, Any]:
    containers = [_entry(e, plan.changes) for e in plan.entries]
    return {
        "schema_version": SCHEMA_VERSION,
        "gitbot_version": gitbot.__version__,
        "repository": plan.repository,
        "config": plan.config,
        "usage_source": _usage(plan.usage),
        "catalog": plan.catalog,
        "rules": list(plan.rules),
        "summary": _summary(plan, containers),
        "containers": containers,
        "edits": [{"file": c.path, "diff": c.diff()} for c in plan.changes.files],
        "written": plan.written,
        "skipped_inputs": [_skipped(s) for s in plan.skipped],
        "warnings": list(plan.warnings),
        "placements": [_placement(p, plan.placement_outcomes.get(str(p.workload.id))) for p in plan.placements],
        "colocations": [_colocation(c) for c in plan.colocations],
        "shard": None if plan.shard is None else {
            "index": plan.shard.shard.index, "count": plan.shard.shard.count, "scope": plan.shard.scope,
            "workloads": plan.shard.workloads, "workloads_in_repository": plan.shard.total,
        },
        "targets": [_target(t) for t in plan.coverage],
        "coverage": coverage_summary(plan.coverage),
    }


def _target(t: TargetReport) -> dict[str, Any]:
    return {"name": t.name, "kind": t.kind, "status": t.status.value, "detail": t.detail,
            "declared_kind": t.declared_kind, "declared_by": t.declared_by}


def coverage_summary(reports: tuple[TargetReport, ...]) -> dict[str, Any]:
    """Targets by status, and how many of the HelmReleases and Argo CD Applications rendered."""
    by_status = {c.value: 0 for c in Coverage}
    declared: dict[str, dict[str, int]] = {}
    for r in reports:
        by_status[r.status.value] += 1
        if r.declared_kind in ("HelmRelease", "Application"):
            counts = declared.setdefault(r.declared_kind, {"rendered": 0, "total": 0})
            counts["total"] += 1
            counts["rendered"] += r.status in (Coverage.RENDERED, Coverage.CACHED, Coverage.PULLED)
    return {
        "targets": len(reports),
        "by_status": by_status,
        "helm_releases": declared.get("HelmRelease", {"rendered": 0, "total": 0}),
        "applications": declared.get("Application", {"rendered": 0, "total": 0}),
    }


def _colocation(c: Colocation) -> dict[str, Any]:
    return {
        "source": str(c.source.id),
        "destination": str(c.destination.id),
        "requests_per_second": round(c.requests_per_second, 2),
        "gib_per_month": str(c.gib_per_month),
        "source_zones": {zone: round(share, 3) for zone, share in c.source_zones},
        "destination_zones": {zone: round(share, 3) for zone, share in c.destination_zones},
        "cross_zone_share": str(c.cross_zone_share),
        "usd_per_gib": str(c.price.per_gib),
        "price_source": c.price.source,
        "monthly_cost": {"before_usd": str(c.monthly_cost), "after_usd": "0.00", "delta_usd": str(-c.monthly_cost)},
        "pod_affinity_on": None if c.affinity_on is None else str(c.affinity_on.id),
        "reason": c.reason,
        "snippet": c.snippet,
    }


def _placement(p: Placement, outcome: PlacementOutcome | None) -> dict[str, Any]:
    def option(o: Option) -> dict[str, Any]:
        return {
            "family": family_of(o.instance), "category": o.instance.category, "capacity_type": o.capacity,
            "reference_instance_type": o.instance.instance_type, "cpu_request_m": o.cpu_m,
            "hourly_usd_per_pod": str(o.hourly_per_pod.quantize(Decimal("1e-6"))),
        }

    return {
        "workload": str(p.workload.id),
        "environment": p.workload.environment,
        "tier": p.workload.tier,
        "cloud": p.current.instance.cloud,
        "region": p.current.instance.region,
        "pod": {"cpu_request_m": p.cpu_m, "memory_request_bytes": p.memory_bytes},
        "replicas": str(p.replicas),
        "current": option(p.current),
        "suggested": option(p.suggested),
        "cpu_speed_ratio": None if p.speed_ratio is None else str(p.speed_ratio.quantize(Decimal("0.01"))),
        "monthly_cost": {
            "before_usd": str(usd(p.monthly_before)), "after_usd": str(usd(p.monthly_after)),
            "delta_usd": str(usd(p.monthly_after) - usd(p.monthly_before)),
        },
        "reason": p.reason,
        "snippet": p.snippet,
        "node_affinity": p.affinity,
        "status": "change" if outcome is not None and outcome.edited_file else "comment-only",
        "edited_file": outcome.edited_file if outcome is not None else None,
        "why_not_edited": outcome.why_not if outcome is not None else None,
    }


def inventory_document(
    repository: str,
    config: str | None,
    workloads: tuple[Workload, ...],
    skipped: tuple[Skipped, ...],
    warnings: tuple[str, ...],
    profiles: Profiles | None = None,
    coverage: tuple[TargetReport, ...] = (),
) -> dict[str, Any]:
    return {
        "schema_version": SCHEMA_VERSION,
        "gitbot_version": gitbot.__version__,
        "repository": repository,
        "config": config,
        "summary": {"workloads": len(workloads), "containers": sum(len(w.containers) for w in workloads)},
        "workloads": [
            {
                **_workload(w),
                "replicas": w.replicas,
                "hpa": None if w.hpa is None else {
                    "name": w.hpa.name,
                    "min_replicas": w.hpa.min_replicas,
                    "max_replicas": w.hpa.max_replicas,
                    "cpu_utilization_pct": w.hpa.cpu_utilization_pct,
                    "memory_utilization_pct": w.hpa.memory_utilization_pct,
                },
                "containers": [
                    {
                        "name": c.name,
                        "type": c.type.value,
                        "fields": {f.json_key: {"current": c.current(f), "text": c.fields[f].text, "source": _source(c.fields[f].source)} for f in FIELDS},
                        **({"usage": _profile(profiles.get(w.id, c.name))} if profiles is not None else {}),
                    }
                    for c in w.containers
                ],
            }
            for w in workloads
        ],
        "skipped_inputs": [_skipped(s) for s in skipped],
        "warnings": list(warnings),
        "targets": [_target(t) for t in coverage],
        "coverage": coverage_summary(coverage),
        **(_inventory_unmatched(profiles, workloads) if profiles is not None else {}),
    }


def _workload(w: Workload) -> dict[str, Any]:
    return {
        "workload": str(w.id),
        "namespace": w.id.namespace,
        "kind": w.id.kind,
        "name": w.id.name,
        "namespace_defaulted": not w.namespace_explicit,
        "target": {"kind": w.target.kind.value, "path": w.target.path, "name": w.target.name},
        "source": {"file": w.source.file, "line": w.source.line, "kind": w.source.kind.value},
        "environment": w.environment,
        "tier": w.tier,
    }


def _entry(e: PlanEntry, changes: ChangeSet) -> dict[str, Any]:
    rec = e.rec
    key = rec_key(rec)
    applied = key in changes.applied
    return {
        **_workload(rec.workload),
        "container": rec.container.name,
        "container_type": rec.container.type.value,
        "status": e.status.value,
        "explanation": rec.explanation,
        "reasons": list(e.reasons),
        "rule_ids": list(rec.rule_ids),
        "fields": {f.json_key: _field(rec, rec.container, f, changes.written_text.get((key, f)) if applied else None) for f in FIELDS},
        "usage": _profile(rec.profile),
        "cost": _cost(e.cost),
    }


def _field(rec: Recommendation, c: Container, f: Field, written: str | None) -> dict[str, Any]:
    fr = rec.fields[f]
    return {
        "current": fr.current,
        "current_text": c.fields[f].text,
        "recommended": fr.recommended,
        "written_text": written,
        "changed": fr.changed,
        "rule_ids": list(fr.rule_ids),
        "reason": fr.reason,
        "source": _source(c.fields[f].source),
    }


def _source(s: FieldSource) -> dict[str, Any]:
    return {
        "kind": s.kind.value,
        "file": s.file,
        "line": s.line,
        "yaml_path": _yaml_path(s.yaml_path),
        "present": s.present,
        "editable": s.editable,
        "not_editable_reason": s.not_editable,
        "note": s.note,
    }


def _yaml_path(path: YamlPath | None) -> str | None:
    """``spec.containers[0].resources``; inside an inline patch ``patches[1].patch::spec...``."""
    if path is None:
        return None
    out = ""
    for key in path:
        if isinstance(key, Embedded):
            out += "::" if key.doc == 0 else f"::{key.doc}::"
        elif isinstance(key, int):
            out += f"[{key}]"
        else:
            out += f".{key}" if out and not out.endswith("::") else str(key)
    return out


def _profile(p: UsageProfile | None) -> dict[str, Any] | None:
    if p is None:
        return None

    def stats(values: np.ndarray) -> dict[str, int] | None:
        if not values.size:
            return None
        # rounded to 6 decimals before ceil, as the strategy does, so float noise between sources
        # (the server sums series in another order) never moves a reported value by one
        out = {f"p{q}": _ceil(np.percentile(values, q)) for q in PERCENTILES}
        out["max"] = _ceil(values.max())
        return out

    return {
        "samples": p.samples,
        "coverage": round(p.coverage, 4),
        "span_hours": round(p.span_seconds / 3600, 2),
        "pods": p.pods,
        "avg_replicas": round(p.avg_replicas, 3),
        "cpu_m": stats(p.cpu_m),
        "memory_bytes": stats(p.memory_bytes),
        "oom_events": p.oom_events,
        "oom_memory_bytes": p.oom_memory_bytes,
        "restarts": p.restarts,
        "throttled_ratio": None if p.throttled_ratio is None else round(p.throttled_ratio, 4),
        "observed": {f.json_key: v for f, v in sorted(p.observed.items(), key=lambda kv: FIELDS.index(kv[0]))},
        "nodes": [
            {"instance_type": s.node.instance_type, "region": s.node.region, "capacity_type": s.node.capacity_type, "share": round(s.share, 4)}
            for s in p.nodes
        ],
        "joined_by": p.joined_by,
    }


def _ceil(value: float) -> int:
    return int(np.ceil(round(float(value), 6)))


def _cost(c: CostDelta) -> dict[str, Any]:
    return {
        "rates": c.rates.source,
        "cpu_vcpu_hour_usd": _money(c.rates.cpu_vcpu_hour, 6),
        "memory_gib_hour_usd": _money(c.rates.memory_gib_hour, 6),
        "replicas_before": str(c.replicas_before),
        "replicas_after": str(c.replicas_after),
        "replicas_basis": c.replicas_basis,
        # rounded once, here; the delta is the difference of the two roundings (gitbot.output.money)
        "before_usd": str(usd(c.before_usd)),
        "after_usd": str(usd(c.after_usd)),
        "delta_usd": str(usd(c.after_usd) - usd(c.before_usd)),
    }


def _money(value: Decimal, places: int) -> str:
    return str(value.quantize(Decimal(1).scaleb(-places)))


def _summary(plan: Plan, containers: list[dict[str, Any]]) -> dict[str, Any]:
    """Counts, and totals summed from the containers' rounded cents (``gitbot.output.money``): one
    cluster object defined by several targets (copies of a manifest) counts once, with the change
    when one of its definitions is changed."""
    by_status = {s.value: 0 for s in Status}
    workloads: set[tuple[str, str]] = set()
    for e in plan.entries:
        by_status[e.status.value] += 1
        workloads.add((e.rec.workload.target.name, str(e.rec.workload.id)))
    counted = money.counted(containers)
    cost = money.total(money.applied(c) for c in counted)
    suggested = money.total(money.proposed(c) for c in counted if c["status"] == Status.COMMENT_ONLY.value)
    pct = percent_change(cost.before, cost.after)
    return {
        "workloads": len(workloads),
        "containers": len(plan.entries),
        "by_status": by_status,
        "files_changed": len(plan.changes.files),
        "monthly_cost": {
            "before_usd": str(cost.before),
            "after_usd": str(cost.after),
            "delta_usd": str(cost.delta),
            "delta_pct": None if pct is None else str(pct.quantize(Decimal("0.1"))),
        },
        "comment_only_delta_usd": str(suggested.delta),
    }


def _usage(u: UsageWindow | None) -> dict[str, Any] | None:
    if u is None:
        return None
    return {
        "source": u.source,
        "window_start": _iso(u.start),
        "window_end": _iso(u.end),
        "step_seconds": u.step_seconds,
        "history_seconds": u.history_seconds,
        "unmatched_pods": u.unmatched_pods,
        "unmatched_namespaces": u.unmatched_namespaces,
        "unmatched": [_hint(h) for h in u.unmatched],
    }


def _hint(h: UnmatchedHint) -> dict[str, Any]:
    return {
        "kind": h.kind,
        "pods": h.pods,
        "namespaces": list(h.namespaces),
        "repository_namespaces": list(h.repository_namespaces),
        "owners": [{"kind": o.kind, "name": o.name, "pods": o.pods} for o in h.owners],
        "text": h.text,
    }


def _inventory_unmatched(profiles: Profiles, workloads: tuple[Workload, ...]) -> dict[str, Any]:
    """The plan's ``usage_source`` unmatched keys, for an inventory with a usage source."""
    found = unmatched_hints(profiles.unmatched, (w.id for w in workloads))
    return {"unmatched_pods": found.pods, "unmatched_namespaces": found.namespaces, "unmatched": [_hint(h) for h in found.hints]}


def _iso(ts: float) -> str:
    return dt.datetime.fromtimestamp(ts, tz=dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _skipped(s: Skipped) -> dict[str, Any]:
    return {"path": s.path, "line": s.line, "reason": s.reason}


def final_status(rec: Recommendation, changes: ChangeSet) -> tuple[Status, tuple[str, ...]]:
    key = rec_key(rec)
    if rec.status is Status.CHANGE and key in changes.downgraded:
        return Status.COMMENT_ONLY, (*rec.reasons, changes.downgraded[key])
    return rec.status, rec.reasons
