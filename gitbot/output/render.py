"""Renderers: functions of the JSON plan document (never of the internal records).

- ``table``: aligned text for a terminal;
- ``markdown``: a pull-request body with the cost headline and table;
- ``diff``: the unified diff of the edits;
- ``json``: the document itself.
"""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any, Callable, Mapping

from gitbot.pricing.cost import format_usd
from gitbot.quantity import human_cpu, human_memory

FORMATS = ("table", "json", "markdown", "diff")
FIELD_KEYS = ("cpu_request_m", "cpu_limit_m", "memory_request_bytes", "memory_limit_bytes")
FIELD_TITLES = {"cpu_request_m": "CPU REQ", "cpu_limit_m": "CPU LIM", "memory_request_bytes": "MEM REQ", "memory_limit_bytes": "MEM LIM"}
STATUS_ORDER = {"change": 0, "comment-only": 1, "unchanged": 2, "skipped": 3}


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
    before = human_value(key, field["current"])
    if not field["changed"]:
        return before
    return f"{before} → {human_value(key, field['recommended'])}"


def _sorted(containers: list[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    return sorted(containers, key=lambda c: (STATUS_ORDER[c["status"]], Decimal(c["cost"]["delta_usd"]), c["workload"], c["container"]))


def _money(text: str, signed: bool = False) -> str:
    return format_usd(Decimal(text), signed=signed)


def plan_table(doc: Mapping[str, Any]) -> str:
    headers = ["WORKLOAD", "CONTAINER", "STATUS", *FIELD_TITLES.values(), "$/MONTH"]
    rows = []
    for c in _sorted(list(doc["containers"])):
        delta = Decimal(c["cost"]["delta_usd"])
        money = _money(c["cost"]["delta_usd"], signed=True) if c["status"] in ("change", "comment-only") and delta else ""
        rows.append([c["workload"], c["container"], c["status"], *(_change(k, c["fields"][k]) for k in FIELD_KEYS), money])
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
        lines += ["", f"Placement ({'' if edited else 'comment-only; '}the affinity snippets are in --format markdown/json):"]
        for p in placements:
            cost = p["monthly_cost"]
            lines.append(
                f"  {p['workload']}: {_option(p['current'])} → {_option(p['suggested'])}, pods "
                f"{_money(cost['before_usd'])} → {_money(cost['after_usd'])}/month ({_money(cost['delta_usd'], signed=True)})"
                f"{_placement_outcome(p)}"
            )
    colocations = doc.get("colocations") or []
    if colocations:
        lines += ["", "Co-location (comment-only; the snippets are in --format markdown/json):"]
        for c in colocations:
            lines.append(f"  {c['source']} → {c['destination']}: {Decimal(c['gib_per_month']):,.0f} GiB/month, "
                         f"{Decimal(c['cross_zone_share']):.0%} across zones, up to {_money(c['monthly_cost']['delta_usd'], signed=True)}/month")
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
    s = doc["summary"]
    cost = s["monthly_cost"]
    pct = f", {_pct(cost['delta_pct'])}" if cost["delta_pct"] is not None and Decimal(cost["delta_usd"]) else ""
    counts = s["by_status"]
    return (
        f"Monthly cost of requests: {_money(cost['before_usd'])} → {_money(cost['after_usd'])} "
        f"({_money(cost['delta_usd'], signed=True)}{pct}) · {counts['change']} changes in {s['files_changed']} files · "
        f"{counts['comment-only']} comment-only · {counts['unchanged']} unchanged · {counts['skipped']} skipped"
    )


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
    cost = doc["summary"]["monthly_cost"]
    delta = Decimal(cost["delta_usd"])
    pct = f" ({_pct(cost['delta_pct'])})" if cost["delta_pct"] is not None else ""
    if delta < 0:
        return f"monthly cost will decrease by {format_usd(-delta)}{pct}"
    if delta > 0:
        return f"monthly cost will increase by {format_usd(delta)}{pct}"
    return "monthly cost will not change"


def plan_markdown(doc: Mapping[str, Any]) -> str:
    s = doc["summary"]
    cost = s["monthly_cost"]
    changes = [c for c in doc["containers"] if c["status"] == "change"]
    comments = [c for c in doc["containers"] if c["status"] == "comment-only"]
    lines = [f"## gitbot: {headline(doc)}", ""]
    if doc["usage_source"]:
        u = doc["usage_source"]
        lines += [f"Usage: {u['source']}, {u['window_start']} → {u['window_end']} ({u['step_seconds'] // 60}-minute steps).", ""]
        lines += _unmatched_md(u)
    lines += [
        f"Requests cost {_money(cost['before_usd'])}/month today and {_money(cost['after_usd'])}/month with this change. "
        f"{s['by_status']['change']} containers change in {s['files_changed']} files; "
        f"{s['by_status']['comment-only']} more are suggestions gitbot could not edit; "
        f"{s['by_status']['unchanged']} are right-sized; {s['by_status']['skipped']} were skipped.",
        "",
    ]
    if changes:
        lines += ["| Workload | Previous | New | Diff |", "|---|---:|---:|---:|"]
        for workload, before, after in _per_workload(changes):
            lines.append(f"| `{workload}` | {format_usd(before)} | {format_usd(after)} | {format_usd(after - before, signed=True)} |")
        lines += [f"| **Total** | **{_money(cost['before_usd'])}** | **{_money(cost['after_usd'])}** | **{_money(cost['delta_usd'], signed=True)}** |", ""]
        lines += ["### Changes", ""]
        for c in changes:
            lines += _container_md(c)
        lines.append("")
    if comments:
        lines += ["### Suggestions gitbot could not edit", ""]
        for c in comments:
            lines += _container_md(c)
            lines += [f"  - why not edited: {'; '.join(c['reasons'])}", ""]
    placements = doc.get("placements") or []
    if placements:
        lines += [
            "### Placement suggestions" + ("" if any(p.get("status") == "change" for p in placements) else " (comment-only)"), "",
            "Node families that fit the pods' new CPU:memory shape for less, CPU rescaled by per-core speed. "
            "Costs are the pods' share of the node (the larger of CPU and memory), without node overhead.", "",
            "| Workload | Now | Suggested | Previous | New | Diff |", "|---|---|---|---:|---:|---:|",
        ]
        for p in placements:
            cost = p["monthly_cost"]
            lines.append(f"| `{p['workload']}` | {_option(p['current'])} | {_option(p['suggested'])} | {_money(cost['before_usd'])} | "
                         f"{_money(cost['after_usd'])} | {_money(cost['delta_usd'], signed=True)} |")
        lines.append("")
        for p in placements:
            lines += [f"- **`{p['workload']}`**: {p['reason']}{_placement_outcome(p, code=True)}", "",
                      *_folded_yaml("pod spec snippet", p["snippet"])]
    colocations = doc.get("colocations") or []
    if colocations:
        lines += [
            "### Co-location suggestions (comment-only)", "",
            "Service-mesh traffic between these workloads crosses zones, which the cloud bills per GiB. "
            "The share assumes zone-blind load balancing; keeping requests in-zone saves up to the cost shown.", "",
            "| From | To | GiB/month | Across zones | $/month |", "|---|---|---:|---:|---:|",
        ]
        for c in colocations:
            lines.append(f"| `{c['source']}` | `{c['destination']}` | {Decimal(c['gib_per_month']):,.0f} | {Decimal(c['cross_zone_share']):.0%} | "
                         f"{_money(c['monthly_cost']['before_usd'])} |")
        lines.append("")
        for c in colocations:
            lines += [f"- **`{c['source']}` → `{c['destination']}`**: {c['reason']}", "", *_folded_yaml("snippet", c["snippet"])]
    if doc["edits"]:
        diff = plan_diff(doc)
        lines += ["<details><summary>Diff</summary>", "", "```diff", diff.rstrip("\n"), "```", "", "</details>", ""]
    lines += _targets_md(doc)
    return "\n".join(lines)


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


def _per_workload(containers: list[Mapping[str, Any]]) -> list[tuple[str, Decimal, Decimal]]:
    totals: dict[str, list[Decimal]] = {}
    for c in containers:
        t = totals.setdefault(c["workload"], [Decimal(0), Decimal(0)])
        t[0] += Decimal(c["cost"]["before_usd"])
        t[1] += Decimal(c["cost"]["after_usd"])
    return sorted(((w, b, a) for w, (b, a) in totals.items()), key=lambda x: (x[2] - x[1], x[0]))


def _container_md(c: Mapping[str, Any]) -> list[str]:
    changed = [f"{FIELD_TITLES[k].lower()} {_change(k, c['fields'][k])}" for k in FIELD_KEYS if c["fields"][k]["changed"]]
    money = _money(c["cost"]["delta_usd"], signed=True)
    lines = [f"- **`{c['workload']}`** `{c['container']}`: {', '.join(changed)} ({money}/month)", f"  - {c['explanation']}"]
    for k in FIELD_KEYS:
        f = c["fields"][k]
        if f["changed"]:
            where = f"{f['source']['file']}:{f['source']['line']}" if f["source"]["file"] else "unknown source"
            lines.append(f"  - {FIELD_TITLES[k].lower()}: {f['reason']} — `{where}`")
    if c["rule_ids"]:
        lines.append(f"  - rules: {', '.join(f'`{r}`' for r in c['rule_ids'])}")
    return lines
