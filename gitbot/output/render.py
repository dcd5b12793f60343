"""Renderers: functions of the JSON plan document (never of the internal records).

- ``table``: aligned text for a terminal;
- ``markdown``: a pull-request body: what the changes do first (``gitbot.output.intent``), then the
  increases and the decreases, each container with a confidence mark, what was skipped and why,
  the warnings, and placement and co-location advice under their own cost models;
- ``diff``: the unified diff of the edits;
- ``json``: the document itself.
"""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any, Callable, Mapping

from gitbot.output import intent, money
from gitbot.output.money import Money
from gitbot.pricing.cost import format_usd
from gitbot.quantity import human_cpu, human_memory

FORMATS = ("table", "json", "markdown", "diff")
FIELD_KEYS = ("cpu_request_m", "cpu_limit_m", "memory_request_bytes", "memory_limit_bytes")
FIELD_TITLES = {"cpu_request_m": "CPU REQ", "cpu_limit_m": "CPU LIM", "memory_request_bytes": "MEM REQ", "memory_limit_bytes": "MEM LIM"}
STATUS_ORDER = {"change": 0, "comment-only": 1, "unchanged": 2, "skipped": 3}
LONG = 5  # lists longer than this are folded (<details>) in markdown

# Confidence of a container's numbers, from its usage: how much of the window the samples cover,
# how many days they span, and whether the values come from a forecast or plain percentiles.
MARKS = {"high": "●", "medium": "◐", "low": "○"}
HIGH = (0.9, 7.0)  # coverage, days; and a forecast
MEDIUM = (0.6, 3.0)
CONFIDENCE_LEGEND = (
    "Confidence: ● high — usage covers at least 90% of at least 7 days and the values come from a forecast; "
    "◐ medium — at least 60% of at least 3 days; ○ low — less (a CronJob's short runs, a new workload) or no usage."
)


def render(document: Mapping[str, Any], fmt: str) -> str:
    renderers: dict[str, Callable[[Mapping[str, Any]], str]] = {
        "json": to_json,
        "table": plan_table if "containers" in document else inventory_table,
        "markdown": plan_markdown,
        "diff": plan_diff,
    }
    return renderers[fmt](document)


def to_json(document: Mapping[str, Any]) -> str:
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"


def plan_diff(document: Mapping[str, Any]) -> str:
    return "".join(edit["diff"] for edit in document.get("edits", []))


def human_value(key: str, value: int | None) -> str:
    if value is None:
        return "—"  # unset
    return human_cpu(value) if key.startswith("cpu") else human_memory(value)


def _change(key: str, field: Mapping[str, Any]) -> str:
    """``500m → 430m``; a value that was unset reads ``unset → 155m`` (never a percentage of $0)."""
    before = human_value(key, field["current"])
    if not field["changed"]:
        return before
    return f"{'unset' if field['current'] is None else before} → {human_value(key, field['recommended'])}"


def confidence(c: Mapping[str, Any]) -> tuple[str, str]:
    """The level (``high``, ``medium``, ``low``) of a container's numbers, and its basis:
    ``100% of 14d, forecast``."""
    u = c.get("usage")
    if not u:
        return "low", "no usage"
    days = u["span_hours"] / 24
    forecast = "no forecast" not in c["explanation"] and any("-day forecast" in c["fields"][k]["reason"] for k in FIELD_KEYS)
    span = f"{days:.0f}d" if days >= 1 else f"{u['span_hours']:.0f}h"
    basis = f"{u['coverage']:.0%} of {span}, {'forecast' if forecast else 'percentiles'}"
    if u["coverage"] >= HIGH[0] and days >= HIGH[1] and forecast:
        return "high", basis
    if u["coverage"] >= MEDIUM[0] and days >= MEDIUM[1]:
        return "medium", basis
    return "low", basis


def shown_pct(doc: Mapping[str, Any]) -> str:
    """``, −14.5%`` for the plan's change in cost, or "" when a percentage would mislead: nothing
    changes, or a changed container had an unset request (priced at $0 before, it inflates the
    percentage: +434% for a request added to a memory-only container)."""
    cost = doc["summary"]["monthly_cost"]
    if cost["delta_pct"] is None or not Decimal(cost["delta_usd"]):
        return ""
    if any(intent.added_requests(c) for c in doc["containers"] if c["status"] == "change"):
        return ""
    return f", {_pct(cost['delta_pct'])}"


def is_increase(c: Mapping[str, Any]) -> bool:
    """Which section a changed container belongs to: its cost goes up, or (at no cost) a value does."""
    delta = money.proposed(c).delta
    return delta > 0 or (delta == 0 and bool(intent.container_intents(c)))


def _sorted(containers: list[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    return sorted(containers, key=lambda c: (STATUS_ORDER[c["status"]], Decimal(c["cost"]["delta_usd"]), c["workload"], c["container"]))


def _money(text: str, signed: bool = False) -> str:
    return format_usd(Decimal(text), signed=signed)


def plan_table(doc: Mapping[str, Any]) -> str:
    headers = ["WORKLOAD", "CONTAINER", "STATUS", *FIELD_TITLES.values(), "CONFIDENCE", "$/MONTH"]
    counted = {id(c) for c in money.counted(doc["containers"])}
    rows = []
    for c in _sorted(list(doc["containers"])):
        delta = money.proposed(c).delta
        money_cell = ""
        if c["status"] in ("change", "comment-only") and delta:
            money_cell = format_usd(delta, signed=True) if id(c) in counted else "(copy)"
        level = confidence(c)[0] if c["status"] in ("change", "comment-only") else ""
        rows.append([c["workload"], c["container"], c["status"], *(_change(k, c["fields"][k]) for k in FIELD_KEYS),
                     f"{MARKS[level]} {level}" if level else "", money_cell])
    lines = [_header(doc), *unmatched_lines(doc["usage_source"]), ""]
    lines += _align([headers, *rows], right={len(headers) - 1})
    notes = [c for c in _sorted(list(doc["containers"])) if c["status"] in ("comment-only", "skipped") and c["reasons"]]
    if notes:
        lines.append("")
        for c in notes:
            lines.append(f"{c['status']:<12}  {c['workload']} {c['container']}: {'; '.join(c['reasons'])}")
    placements = doc.get("placements") or []
    if placements:
        edited = any(p.get("status") == "change" for p in placements)
        lines += ["", f"Placement ({'' if edited else 'comment-only; '}node share, $/month, not requests; the affinity snippets are in --format markdown/json):"]
        for p in placements:
            cost = p["monthly_cost"]
            lines.append(
                f"  {p['workload']}: {_option(p['current'])} → {_option(p['suggested'])}, node share "
                f"{_money(cost['before_usd'])} → {_money(cost['after_usd'])}/month ({_money(cost['delta_usd'], signed=True)})"
                f"{_placement_outcome(p)}"
            )
        lines.append(f"  {_affinity_caveat(placements, markdown=False)}")
    colocations = doc.get("colocations") or []
    if colocations:
        lines += ["", "Co-location (comment-only; the snippets are in --format markdown/json):"]
        for c in colocations:
            lines.append(f"  {c['source']} → {c['destination']}: {Decimal(c['gib_per_month']):,.0f} GiB/month, "
                         f"{Decimal(c['cross_zone_share']):.0%} across zones, up to {_money(c['monthly_cost']['delta_usd'], signed=True)}/month")
            narrowing = _narrowing(c, _tiers(doc), markdown=False)
            if narrowing:
                lines.append(f"    fewer zones: {narrowing}")
    lines += target_lines(doc)
    lines += ["", _summary_line(doc)]
    if doc.get("coverage", {}).get("targets"):
        lines.append(coverage_line(doc))
    if doc["edits"] and not doc["written"]:
        lines.append("Dry run: nothing written. --format diff shows the edits; --write applies them.")
    elif doc["written"]:
        lines.append(f"Wrote {len(doc['edits'])} file(s).")
    return "\n".join(lines) + "\n"


def inventory_table(doc: Mapping[str, Any]) -> str:
    headers = ["WORKLOAD", "CONTAINER", "TYPE", "ENV", *FIELD_TITLES.values(), "SOURCE"]
    rows = []
    for w in doc["workloads"]:
        for c in w["containers"]:
            sources = {f["source"]["file"] for f in c["fields"].values() if f["source"]["file"]}
            line = c["fields"]["cpu_request_m"]["source"]["line"]
            where = f"{sorted(sources)[0]}:{line}" if len(sources) == 1 and line else ", ".join(sorted(sources))
            rows.append([w["workload"], c["name"], c["type"], w["environment"], *(human_value(k, c["fields"][k]["current"]) for k in FIELD_KEYS), where])
    lines = [f"gitbot inventory · {doc['repository']}", *unmatched_lines(doc), ""]
    lines += _align([headers, *rows])
    s = doc["summary"]
    lines += target_lines(doc)
    lines += ["", f"{s['workloads']} workloads, {s['containers']} containers; {len(doc['skipped_inputs'])} inputs skipped"]
    if doc.get("coverage", {}).get("targets"):
        lines.append(coverage_line(doc))
    return "\n".join(lines) + "\n"


def target_lines(doc: Mapping[str, Any]) -> list[str]:
    """The render targets, one line each (plain files that rendered: one line per directory)."""
    rows = [["TARGET", "STATUS", "DETAIL"]]
    plain: dict[str, int] = {}
    for t in doc.get("targets") or []:
        if t["kind"] == "plain" and t["status"] == "rendered" and not t["declared_kind"]:
            directory = t["name"].rsplit("/", 1)[0] + "/" if "/" in t["name"] else "./"
            plain[directory] = plain.get(directory, 0) + 1
            continue
        rows.append([t["name"], t["status"], t["detail"] or ""])
    rows += [[f"{d} ({n} plain file{'s' if n != 1 else ''})", "rendered", ""] for d, n in sorted(plain.items())]
    return ["", *_align(rows)] if len(rows) > 1 else []


def coverage_line(doc: Mapping[str, Any]) -> str:
    """``targets: 88 rendered (12 cached, 3 pulled), 3 failed (see above) · HelmReleases: 66 of 69 rendered``."""
    cov = doc.get("coverage") or {}
    counts = cov.get("by_status") or {}
    if not cov.get("targets"):
        return ""
    rendered = counts.get("rendered", 0) + counts.get("cached", 0) + counts.get("pulled", 0)
    extra = [f"{counts[k]} {k}" for k in ("cached", "pulled") if counts.get(k)]
    parts = [f"{rendered} rendered" + (f" ({', '.join(extra)})" if extra else "")]
    if counts.get("failed"):
        parts.append(f"{counts['failed']} failed (see above)")
    if counts.get("skipped"):
        parts.append(f"{counts['skipped']} skipped")
    line = "targets: " + ", ".join(parts)
    for key, title in (("helm_releases", "HelmReleases"), ("applications", "Argo CD Applications")):
        found = cov.get(key) or {}
        if found.get("total"):
            line += f" · {title}: {found['rendered']} of {found['total']} rendered"
    return line


UNMATCHED_SHOWN = 5  # hints in the table; the JSON has them all
UNMATCHED_SHOWN_MD = 20


def unmatched_lines(found: Mapping[str, Any] | None) -> list[str]:
    """``unmatched pods: 57 in 6 namespaces (usage no workload here claims)`` and the first hints,
    most pods first: why usage did not join (``found``: a plan's usage_source, or an inventory)."""
    if not found or not found.get("unmatched_pods"):
        return []
    hints = found.get("unmatched") or []
    more = len(hints) - UNMATCHED_SHOWN
    return [_unmatched_title(found), *(f"  {h['text']}" for h in hints[:UNMATCHED_SHOWN]),
            *([f"  … {more} more in --format json"] if more > 0 else [])]


def _unmatched_title(found: Mapping[str, Any]) -> str:
    namespaces = found.get("unmatched_namespaces")
    where = f" in {namespaces} namespace{'' if namespaces == 1 else 's'}" if namespaces else ""
    return f"unmatched pods: {found['unmatched_pods']}{where} (usage no workload here claims)"


def _unmatched_md(usage: Mapping[str, Any]) -> list[str]:
    """The unmatched pods' hints folded under their count."""
    if not usage.get("unmatched_pods"):
        return []
    hints = usage.get("unmatched") or []
    more = len(hints) - UNMATCHED_SHOWN_MD
    return [f"<details><summary>{_unmatched_title(usage)}</summary>", "", *(f"- {h['text']}" for h in hints[:UNMATCHED_SHOWN_MD]),
            *([f"- … {more} more in the JSON plan"] if more > 0 else []), "", "</details>", ""]


def _header(doc: Mapping[str, Any]) -> str:
    usage = doc["usage_source"]
    if usage is None:
        return f"gitbot plan · {doc['repository']} · no usage source"
    window = f"{usage['window_start'][:16].replace('T', ' ')} → {usage['window_end'][:16].replace('T', ' ')} UTC, step {usage['step_seconds'] // 60}m"
    return f"gitbot plan · {doc['repository']} · {usage['source']} ({window})"


def _summary_line(doc: Mapping[str, Any]) -> str:
    """The plan's totals: the sums of the rows above (``gitbot.output.money``), the change split into
    its increases and decreases."""
    s = doc["summary"]
    counts = s["by_status"]
    ups, downs, others = _sections(doc)
    up, down, total = money.total(map(money.applied, ups)), money.total(map(money.applied, downs)), _grand_total(ups, downs, others)
    split = ""
    if ups or downs:
        split = (f": {format_usd(up.delta, signed=True)} in {_count(len(ups), 'increase')}, "
                 f"{format_usd(down.delta, signed=True)} in {_count(len(downs), 'decrease')}")
    suggested = money.total(money.proposed(c) for c in others if c["status"] == "comment-only")
    return (
        f"Monthly cost of requests: {format_usd(total.before)} → {format_usd(total.after)} "
        f"({format_usd(total.delta, signed=True)}{shown_pct(doc)}{split}) · {counts['change']} changes in {s['files_changed']} files · "
        f"{counts['comment-only']} comment-only"
        + (f" ({format_usd(suggested.delta, signed=True)} if applied by hand)" if suggested.delta else "")
        + f" · {counts['unchanged']} unchanged · {counts['skipped']} skipped"
    )


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"


def _sections(doc: Mapping[str, Any]) -> tuple[list[Mapping[str, Any]], list[Mapping[str, Any]], list[Mapping[str, Any]]]:
    """The counted containers as increases (most urgent first: OOM fixes, added requests, then the
    largest), decreases (the largest saving first) and the others (unchanged, comment-only, skipped)."""
    counted = money.counted(doc["containers"])
    changes = [c for c in counted if c["status"] == "change"]
    ups = sorted((c for c in changes if is_increase(c)), key=_urgency)
    downs = sorted((c for c in changes if not is_increase(c)), key=lambda c: (money.proposed(c).delta, c["workload"], c["container"]))
    return ups, downs, [c for c in counted if c["status"] != "change"]


def _urgency(c: Mapping[str, Any]) -> tuple[int, Decimal, str, str]:
    found = intent.container_intents(c)
    rank = next((i for i, name in enumerate(intent.INTENTS) if name in found), len(intent.INTENTS))
    return rank, -money.proposed(c).delta, c["workload"], c["container"]


def _grand_total(*groups: list[Mapping[str, Any]]) -> Money:
    return money.total(money.applied(c) for group in groups for c in group)


def _pct(text: str) -> str:
    value = Decimal(text)
    return f"{'−' if value < 0 else '+'}{abs(value)}%"


def _align(rows: list[list[str]], right: set[int] = frozenset()) -> list[str]:  # type: ignore[assignment]
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    out = []
    for r in rows:
        cells = [cell.rjust(widths[i]) if i in right else cell.ljust(widths[i]) for i, cell in enumerate(r)]
        out.append("  ".join(cells).rstrip())
    return out


def headline(doc: Mapping[str, Any]) -> str:
    """What the changes do, most urgent first, then the net cost when it goes up:
    ``fixes 14 OOM kills, adds missing CPU requests and saves $53.50/month``."""
    said = intent.clause(doc)
    if said:
        return said + intent.net_increase(doc)
    changed = doc["summary"]["by_status"]["change"]
    if changed:  # values that only move sideways (a limit set where none was ...)
        return f"right-sizes {_count(changed, 'container')}{intent.net_increase(doc)}"
    suggested = doc["summary"]["by_status"]["comment-only"]
    if suggested:
        return f"no edits; {_count(suggested, 'suggestion')} gitbot could not edit"
    return "nothing to change"


def plan_markdown(doc: Mapping[str, Any]) -> str:
    s = doc["summary"]
    ups, downs, others = _sections(doc)
    total = _grand_total(ups, downs, others)
    lines = [f"## gitbot: {headline(doc)}", ""]
    if doc["usage_source"]:
        u = doc["usage_source"]
        lines += [f"Usage: {u['source']}, {u['window_start']} → {u['window_end']} ({u['step_seconds'] // 60}-minute steps).", ""]
        lines += _unmatched_md(u)
    lines += [
        f"Requests cost {format_usd(total.before)}/month today and {format_usd(total.after)}/month with this change "
        f"({format_usd(total.delta, signed=True)}{shown_pct(doc)}). "
        f"{s['by_status']['change']} containers change in {s['files_changed']} files; "
        f"{s['by_status']['comment-only']} more are suggestions gitbot could not edit; "
        f"{s['by_status']['unchanged']} are right-sized; {s['by_status']['skipped']} were skipped.",
        "",
    ]
    if ups or downs:
        lines += _overview_md(ups, downs, others)
        lines += [CONFIDENCE_LEGEND, ""]
    entries = list(doc["containers"])
    if ups:
        lines += ["### Increases", "", *_cost_table_md(ups, why=True)]
        lines += _details_md(_with_copies(ups, entries), fold=False)
    if downs:
        lines += ["### Decreases", "", *_cost_table_md(downs, why=False)]
        lines += _details_md(_with_copies(downs, entries), fold=True)
    suggestions = [c for c in others if c["status"] == "comment-only"]
    if suggestions:
        lines += ["### Suggestions gitbot could not edit", "", "Not part of the totals above: a person would have to apply them.", "",
                  *_cost_table_md(suggestions, why=False, applied=False)]
        lines += _details_md(_with_copies(suggestions, entries), fold=True)
    lines += _skipped_md(doc)
    lines += _warnings_md(doc)
    lines += _placements_md(doc)
    lines += _colocations_md(doc)
    if doc["edits"]:
        diff = plan_diff(doc)
        lines += ["<details><summary>Diff</summary>", "", "```diff", diff.rstrip("\n"), "```", "", "</details>", ""]
    lines += _targets_md(doc)
    return "\n".join(lines)


def _overview_md(ups: list[Mapping[str, Any]], downs: list[Mapping[str, Any]], others: list[Mapping[str, Any]]) -> list[str]:
    """Increases, decreases and the containers without a row, adding up to the plan's total."""
    groups = [("Increases", ups), ("Decreases", downs)]
    if others:
        statuses = [status for status in ("unchanged", "comment-only", "skipped") if any(c["status"] == status for c in others)]
        groups.append((f"other containers ({'/'.join(statuses)})", others))
    lines = ["| Monthly cost of requests | Containers | Previous | New | Diff |", "|---|---:|---:|---:|---:|"]
    for label, group in groups:
        if group:
            m = money.total(map(money.applied, group))
            lines.append(f"| {label} | {len(group)} | {format_usd(m.before)} | {format_usd(m.after)} | {format_usd(m.delta, signed=True)} |")
    m = _grand_total(ups, downs, others)
    count = len(ups) + len(downs) + len(others)
    return [*lines, f"| **Total** | **{count}** | **{format_usd(m.before)}** | **{format_usd(m.after)}** | **{format_usd(m.delta, signed=True)}** |", ""]


def _cost_table_md(containers: list[Mapping[str, Any]], why: bool, applied: bool = True) -> list[str]:
    """One row per container, then their total; ``why`` adds what each increase fixes or raises."""
    head = ["Workload", "Container", *(["Why"] if why else []), "Confidence", "Previous", "New", "Diff"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * (len(head) - 3) + "---:|---:|---:|"]
    for c in containers:
        m = money.proposed(c)
        level, basis = confidence(c)
        cells = [f"`{c['workload']}`", f"`{c['container']}`", *([_why(c)] if why else []), f"{MARKS[level]} {level}: {basis}",
                 format_usd(m.before), format_usd(m.after), format_usd(m.delta, signed=True)]
        lines.append("| " + " | ".join(cells) + " |")
    m = money.total(map(money.applied if applied else money.proposed, containers))
    cells = ["**Total**", *[""] * (len(head) - 4), f"**{format_usd(m.before)}**", f"**{format_usd(m.after)}**", f"**{format_usd(m.delta, signed=True)}**"]
    lines.append("| " + " | ".join(cells) + " |")
    return [*lines, ""]


def _why(c: Mapping[str, Any]) -> str:
    """What an increase is for: ``fixes 14 OOM kills``, ``adds a CPU request``, ``raises cpu req, mem req``."""
    found = intent.container_intents(c)
    parts = []
    if "fixes-oom" in found:
        kills = intent.oom_kills(c)
        parts.append(f"fixes {_count(kills, 'OOM kill')}")
    for name in intent.added_requests(c):
        parts.append(f"adds a {name} request")
    raised = [FIELD_TITLES[k].lower() for k in FIELD_KEYS
              if c["fields"][k]["changed"] and c["fields"][k]["current"] is not None and (c["fields"][k]["recommended"] or 0) > c["fields"][k]["current"]]
    if raised:
        parts.append(f"raises {', '.join(raised)}")
    if not parts and Decimal(c["cost"]["replicas_after"]) > Decimal(c["cost"]["replicas_before"]):
        parts.append("more replicas as the HPA rescales")
    return "; ".join(parts) or "—"


def _with_copies(rows: list[Mapping[str, Any]], entries: list[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """The rows' containers in the rows' order, each followed by the other copies of it (the same
    workload container defined by another target) with the same status: each is an edit of its own."""
    out: list[Mapping[str, Any]] = []
    for row in rows:
        out += [c for c in entries if (c["workload"], c["container"], c["status"]) == (row["workload"], row["container"], row["status"])]
    return out


def _details_md(containers: list[Mapping[str, Any]], fold: bool) -> list[str]:
    """Each container's values with their reasons, sources and rules; folded when long."""
    lines = [line for c in containers for line in _container_md(c)]
    if fold and len(containers) > LONG:
        return [f"<details><summary>Values, reasons and sources ({_count(len(containers), 'container')})</summary>", "", *lines, "",
                "</details>", ""]
    return [*lines, ""]


def _skipped_md(doc: Mapping[str, Any]) -> list[str]:
    """Containers gitbot left alone (exempt in config, too little data ...) with the reason."""
    skipped = [c for c in doc["containers"] if c["status"] == "skipped"]
    if not skipped:
        return []
    items = [f"- `{c['workload']}` `{c['container']}`: {'; '.join(c['reasons']) or 'no reason recorded'}" for c in skipped]
    return ["### Skipped and exempt containers", "", *_folded(f"{_count(len(items), 'container')} left as they are", items)]


def _warnings_md(doc: Mapping[str, Any]) -> list[str]:
    warnings = [f"- {w}" for w in doc.get("warnings") or []]
    inputs = [f"- `{i['path']}{'' if i.get('line') is None else ':' + str(i['line'])}`: {i['reason']}" for i in doc.get("skipped_inputs") or []]
    if not warnings and not inputs:
        return []
    lines = ["### Warnings", ""]
    if warnings:
        lines += _folded(_count(len(warnings), "warning"), warnings)
    if inputs:
        lines += ["<details><summary>" + _count(len(inputs), "input") + " skipped (files or objects gitbot could not use)</summary>", "",
                  *inputs, "", "</details>", ""]
    return lines


def _folded(summary: str, items: list[str]) -> list[str]:
    """A markdown list, folded under ``summary`` when longer than LONG."""
    if len(items) > LONG:
        return [f"<details><summary>{summary}</summary>", "", *items, "", "</details>", ""]
    return [*items, ""]


def _placements_md(doc: Mapping[str, Any]) -> list[str]:
    """Placement has its own cost model (the pods' share of a node), so its own table, never mixed
    with the requests totals; and the risk of its node affinity next to it."""
    placements = doc.get("placements") or []
    if not placements:
        return []
    lines = [
        "### Placement suggestions" + ("" if any(p.get("status") == "change" for p in placements) else " (comment-only)"), "",
        "Node families that fit the pods' new CPU:memory shape for less, CPU rescaled by per-core speed. A different cost "
        "model from the requests above, and not part of their totals: the pods' share of a node (the larger of CPU and "
        "memory), without node overhead.", "",
        "| Workload | Now | Suggested | node share, $/month |", "|---|---|---|---:|",
    ]
    for p in placements:
        cost = p["monthly_cost"]
        lines.append(f"| `{p['workload']}` | {_option(p['current'])} | {_option(p['suggested'])} | "
                     f"{_money(cost['before_usd'])} → {_money(cost['after_usd'])} ({_money(cost['delta_usd'], signed=True)}) |")
    lines += ["", _affinity_caveat(placements, markdown=True), ""]
    for p in placements:
        lines += [f"- **`{p['workload']}`**: {p['reason']}{_placement_outcome(p, code=True)}", "",
                  *_folded_yaml("pod spec snippet", p["snippet"])]
    return lines


def _affinity_caveat(placements: list[Mapping[str, Any]], markdown: bool) -> str:
    """What the snippets' node affinity risks: with ``required``, Pending pods where the family (or
    spot capacity) cannot be provisioned; with ``preferred``, a saving that only comes where it can.
    (A plan document of an older gitbot has no ``node_affinity``: its snippets were required.)"""
    required = any(p.get("node_affinity", "required") == "required" for p in placements)
    if not markdown:
        return ("node affinity: required: pods stay Pending where the family cannot be provisioned; check the node pools allow it"
                if required else "node affinity: preferred: pods run elsewhere when the family cannot be provisioned")
    if required:
        return ("**Required node affinity:** pods stay Pending wherever a node of the suggested family and capacity type "
                "cannot be provisioned. Check that the cluster's node pools (e.g. the Karpenter NodePool's requirements) "
                "allow it before applying a snippet.")
    return ("**Preferred node affinity:** the scheduler (and Karpenter, when it provisions) uses the suggested family and "
            "capacity type when it can and places the pods elsewhere when it cannot, so nothing stays Pending; the saving "
            "needs node pools (e.g. the Karpenter NodePool's requirements) that offer the family. "
            "`placement: {affinity: required}` makes it a hard constraint.")


def _colocations_md(doc: Mapping[str, Any]) -> list[str]:
    colocations = doc.get("colocations") or []
    if not colocations:
        return []
    lines = [
        "### Co-location suggestions (comment-only)", "",
        "Service-mesh traffic between these workloads crosses zones, which the cloud bills per GiB. "
        "The share assumes zone-blind load balancing; keeping requests in-zone saves up to the cost shown "
        "(inter-zone transfer, not part of the requests totals).", "",
        "| From | To | GiB/month | Across zones | $/month |", "|---|---|---:|---:|---:|",
    ]
    for c in colocations:
        lines.append(f"| `{c['source']}` | `{c['destination']}` | {Decimal(c['gib_per_month']):,.0f} | {Decimal(c['cross_zone_share']):.0%} | "
                     f"{_money(c['monthly_cost']['before_usd'])} |")
    lines.append("")
    tiers = _tiers(doc)
    for c in colocations:
        narrowing = _narrowing(c, tiers)
        lines += [f"- **`{c['source']}` → `{c['destination']}`**: {c['reason']}", *([f"  - **Fewer zones:** {narrowing}"] if narrowing else []),
                  "", *_folded_yaml("snippet", c["snippet"])]
    return lines


def _tiers(doc: Mapping[str, Any]) -> dict[str, str]:
    """Workload id -> tier, from the containers and placements of the document."""
    found = {p["workload"]: p["tier"] for p in doc.get("placements") or []}
    found.update({c["workload"]: c["tier"] for c in doc["containers"]})
    return found


def _narrowing(c: Mapping[str, Any], tiers: Mapping[str, str], markdown: bool = True) -> str | None:
    """What the pod affinity of a co-location does to the workload it moves: it prefers the zones
    the other side runs in, so a service in three zones may end up in two (a zone outage then takes
    a larger share of its pods)."""
    moved = c.get("pod_affinity_on")
    if not moved:
        return None
    own, other = (c["source_zones"], c["destination_zones"]) if moved == c["source"] else (c["destination_zones"], c["source_zones"])
    if len(other) >= len(own):
        return None
    production = tiers.get(moved) == "production"
    name = f"`{moved}`" if markdown else moved
    return (f"the pod affinity concentrates {'production service ' if production else ''}{name} in the zones "
            f"{', '.join(sorted(other))} ({len(other)} of its {len(own)}); a zone outage then takes a larger share of its pods"
            + (". Apply it only if that is acceptable, or run the destination in every zone instead." if production else "."))


def _targets_md(doc: Mapping[str, Any]) -> list[str]:
    """Failed targets in view; every target folded under the coverage line."""
    targets = doc.get("targets") or []
    if not targets:
        return []
    lines = []
    failed = [t for t in targets if t["status"] == "failed"]
    if failed:
        lines += ["### Not covered", "", *(f"- `{t['name']}`: {t['detail']}" for t in failed), ""]
    lines += [f"<details><summary>{coverage_line(doc)}</summary>", "", "| Target | Status | Detail |", "|---|---|---|"]
    lines += [f"| `{t['name']}` | {t['status']} | {t['detail'] or ''} |" for t in targets]
    return [*lines, "", "</details>", ""]


def _folded_yaml(summary: str, text: str) -> list[str]:
    """A YAML block folded under a list item (``<details>``), for snippets."""
    return ["  <details><summary>" + summary + "</summary>", "", "  ```yaml", *(f"  {line}" for line in text.rstrip("\n").split("\n")),
            "  ```", "", "  </details>", ""]


def _placement_outcome(p: Mapping[str, Any], code: bool = False) -> str:
    """With ``placement: edit``: where the snippet was written, or why it was not."""
    if p.get("edited_file"):
        return f"; written to `{p['edited_file']}`" if code else f" [written to {p['edited_file']}]"
    if p.get("why_not_edited"):
        return f"; not written: {p['why_not_edited']}" if code else f" [not written: {p['why_not_edited']}]"
    return ""


def _option(o: Mapping[str, Any]) -> str:
    return f"{o['family']} ({o['category']}, {o['capacity_type']}, {human_value('cpu_request_m', o['cpu_request_m'])} CPU)"


def _container_md(c: Mapping[str, Any]) -> list[str]:
    changed = [f"{FIELD_TITLES[k].lower()} {_change(k, c['fields'][k])}" for k in FIELD_KEYS if c["fields"][k]["changed"]]
    delta = format_usd(money.proposed(c).delta, signed=True)
    lines = [f"- **`{c['workload']}`** `{c['container']}`: {', '.join(changed)} ({delta}/month)", f"  - {c['explanation']}"]
    for k in FIELD_KEYS:
        f = c["fields"][k]
        if f["changed"]:
            where = f"{f['source']['file']}:{f['source']['line']}" if f["source"]["file"] else "unknown source"
            lines.append(f"  - {FIELD_TITLES[k].lower()}: {f['reason']} — `{where}`")
    if c["rule_ids"]:
        lines.append(f"  - rules: {', '.join(f'`{r}`' for r in c['rule_ids'])}")
    if c["status"] == "comment-only":
        lines.append(f"  - why not edited: {'; '.join(c['reasons'])}")
    return lines
