"""What a plan's changes do, most urgent first: the words titles, headlines and commit messages lead with.

A reviewer should hear "fixes 14 OOM kills" before "+$7.97/month": the cost is the price of the
fix, not the point of it. The intent ids (``INTENTS``) are a contract: pull requests carry them
(``Proposal.intents``) and ``labels_by_intent`` keys on them. The phrases add the counts, from the
counted containers (``gitbot.output.money``) so a container defined twice is not counted twice.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from gitbot.output import money
from gitbot.pricing.cost import format_usd

INTENTS = ("fixes-oom", "adds-requests", "raises", "saves")
REQUESTS = {"cpu_request_m": "CPU", "memory_request_bytes": "memory"}
MEMORY = ("memory_request_bytes", "memory_limit_bytes")


def container_intents(c: Mapping[str, Any]) -> tuple[str, ...]:
    """``fixes-oom`` (memory raised after OOM kills), ``adds-requests`` (an unset request gets one),
    ``raises`` (a value that was set goes up), for a container that changes; () for any other."""
    if c["status"] != "change":
        return ()
    fields = c["fields"]
    found: set[str] = set()
    if (c.get("usage") or {}).get("oom_events") and any(_raised(fields[k]) for k in MEMORY):
        found.add("fixes-oom")
    if added_requests(c):
        found.add("adds-requests")
    if any(_raised(f) and f["current"] is not None for f in fields.values()):
        found.add("raises")
    return tuple(i for i in INTENTS if i in found)


def intents_of(document: Mapping[str, Any]) -> tuple[str, ...]:
    """The intents of the containers that change, and ``saves`` when the monthly cost goes down."""
    found = {i for c in document["containers"] for i in container_intents(c)}
    if Decimal(document["summary"]["monthly_cost"]["delta_usd"]) < 0:
        found.add("saves")
    return tuple(i for i in INTENTS if i in found)


def added_requests(c: Mapping[str, Any]) -> list[str]:
    """The resources ("CPU", "memory") whose request was unset and gets a value."""
    return [name for key, name in REQUESTS.items() if c["fields"][key]["changed"] and c["fields"][key]["current"] is None]


def oom_kills(c: Mapping[str, Any]) -> int:
    return int((c.get("usage") or {}).get("oom_events") or 0)


def phrases(document: Mapping[str, Any]) -> list[str]:
    """One phrase per intent, with its count: ``fixes 14 OOM kills``, ``adds missing CPU requests``,
    ``raises resources of 3 containers`` (those not already named), ``saves $28.93/month``."""
    changing = [(c, container_intents(c)) for c in money.counted(document["containers"]) if c["status"] == "change"]
    out = []
    for intent in intents_of(document):
        if intent == "fixes-oom":
            kills = sum(oom_kills(c) for c, found in changing if "fixes-oom" in found)
            out.append(f"fixes {kills} OOM kill{'' if kills == 1 else 's'}")
        elif intent == "adds-requests":
            added = {name for c, _ in changing for name in added_requests(c)}
            out.append(f"adds missing {' and '.join(n for n in REQUESTS.values() if n in added)} requests")
        elif intent == "raises":  # the containers no phrase before named: an OOM fix raises memory anyway
            raised = sum(found == ("raises",) for _, found in changing)
            if raised:
                out.append(f"raises resources of {raised} container{'' if raised == 1 else 's'}")
        else:
            out.append(f"saves {format_usd(-Decimal(document['summary']['monthly_cost']['delta_usd']))}/month")
    return out


def clause(document: Mapping[str, Any]) -> str:
    """The phrases as one clause, most urgent first: ``fixes 14 OOM kills and saves $3.10/month``;
    "" when nothing changes."""
    said = phrases(document)
    if len(said) <= 1:
        return "".join(said)
    return f"{', '.join(said[:-1])} and {said[-1]}"


def net_increase(document: Mapping[str, Any]) -> str:
    """`` (+$7.97/month)`` when the cost goes up (a saving is already a phrase), else ""."""
    delta = Decimal(document["summary"]["monthly_cost"]["delta_usd"])
    return f" ({format_usd(delta, signed=True)}/month)" if delta > 0 else ""


def _raised(f: Mapping[str, Any]) -> bool:
    return bool(f["changed"]) and (f["recommended"] or 0) > (f["current"] or 0)
