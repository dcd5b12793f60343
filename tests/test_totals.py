"""One set of numbers: every total gitbot shows is the sum of the rows it shows, to the cent.

Random plans (hypothesis) of containers with sub-cent costs (halves included, where rounding
the sum and summing the roundings differ), every status, unset requests, and the same workload
container defined by two targets (it counts once, its ``change`` copy first), go through
``plan_document`` and every output built from it: the JSON summary, the table, the markdown body
and the pull request's title and commit message. The expected totals are computed here from the
document's rounded containers, independently of ``gitbot.output.money``.

Then the demo, and the rest of part 2 and 3 of issue #17 on small hand-made documents: rows that
sum to their totals, an "other containers" row for containers without one, intent-first titles,
the increases and decreases apart, confidence marks, "unset → 155m" and no percentage of $0.
"""

from __future__ import annotations

import re
from decimal import Decimal
from pathlib import Path
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from gitbot.edit.changeset import ChangeSet
from gitbot.model import (
    FIELDS,
    Container,
    ContainerType,
    CurrentValue,
    Field,
    FieldSource,
    ObjectSource,
    SourceKind,
    Status,
    Target,
    TargetKind,
    Workload,
    WorkloadId,
)
from gitbot.output.document import Plan, PlanEntry, plan_document
from gitbot.output.render import plan_markdown, plan_table
from gitbot.pricing.catalog import ResourceRates
from gitbot.pricing.estimate import CostDelta
from gitbot.publish.proposal import build
from gitbot.publish.scope import Scope
from gitbot.strategies.base import FieldRecommendation, Recommendation

PLANS = settings(derandomize=True, deadline=None, max_examples=150)
MONEY = re.compile(r"([−+]?)\$([\d,]+\.\d\d)")
RATES = ResourceRates(Decimal("0.03"), Decimal("0.004"), "test rates")
NO_CHANGES = ChangeSet((), frozenset(), {}, {})
ROOT = Path(__file__).resolve().parents[1]


def usd(text: str) -> Decimal:
    """``−$1,234.56`` -> Decimal("-1234.56")."""
    sign, digits = MONEY.fullmatch(text.strip("*").strip()).groups()  # type: ignore[union-attr]
    value = Decimal(digits.replace(",", ""))
    return -value if sign == "−" else value


def amounts(text: str) -> list[Decimal]:
    return [usd(m.group(0)) for m in MONEY.finditer(text)]


# -- random plans ----------------------------------------------------------------------------------


def field_source() -> FieldSource:
    return FieldSource(SourceKind.PLAIN, "app.yaml", 0, ("spec",), 3, True)


@st.composite
def entries(draw: st.DrawFn) -> PlanEntry:
    workload_name = draw(st.sampled_from(["web", "api", "db"]))
    target = draw(st.sampled_from(["apps/one", "apps/two"]))  # two targets: copies of one workload
    container_name = draw(st.sampled_from(["app", "sidecar"]))
    status = draw(st.sampled_from(list(Status)))
    values = {}
    for f in FIELDS:
        current = draw(st.one_of(st.none(), st.integers(1, 8000)))
        recommended = current if status in (Status.UNCHANGED, Status.SKIPPED) else draw(st.one_of(st.just(current), st.integers(1, 8000)))
        values[f] = (current, recommended)
    container = Container(container_name, ContainerType.APP, 0,
                          {f: CurrentValue(values[f][0], None if values[f][0] is None else str(values[f][0]), field_source()) for f in FIELDS})
    workload = Workload(WorkloadId("shop", "Deployment", workload_name), Target(TargetKind.PLAIN, target, target),
                        ObjectSource(f"{target}/app.yaml", 0, 1, SourceKind.PLAIN), "production", "production", 2, (container,))
    fields = {f: FieldRecommendation(f, values[f][0], values[f][1], (), "p97 of the 7-day forecast") for f in FIELDS}
    rec = Recommendation(workload, container, status, fields, "samples", ("a reason",) if status in (Status.SKIPPED, Status.COMMENT_ONLY) else ())
    # micro-dollars: sub-cent amounts, with exact half cents often enough to matter
    before = Decimal(draw(st.integers(0, 50_000_000) | st.integers(0, 20_000).map(lambda c: c * 10_000 + 5_000))) / 1_000_000
    after = Decimal(draw(st.integers(0, 50_000_000) | st.integers(0, 20_000).map(lambda c: c * 10_000 + 5_000))) / 1_000_000
    if status in (Status.UNCHANGED, Status.SKIPPED):
        after = before
    cost = CostDelta(RATES, Decimal(2), Decimal(2), "spec.replicas", before, after)
    return PlanEntry(rec, status, rec.reasons, cost)


def plan_of(items: list[PlanEntry], warnings: tuple[str, ...] = ()) -> Plan:
    return Plan("repo", None, None, "test", (), tuple(items), NO_CHANGES, (), warnings, False)


def expected_totals(doc: dict[str, Any]) -> tuple[Decimal, Decimal, Decimal]:
    """Before, after and comment-only delta, from the rounded containers: one per workload
    container, its change copy first, then comment-only, else the first."""
    chosen: dict[tuple[str, str], dict[str, Any]] = {}
    for c in doc["containers"]:
        key = (c["workload"], c["container"])
        rank = {"change": 0, "comment-only": 1}.get(c["status"], 2)
        if key not in chosen or rank < {"change": 0, "comment-only": 1}.get(chosen[key]["status"], 2):
            chosen[key] = c
    before = sum((Decimal(c["cost"]["before_usd"]) for c in chosen.values()), Decimal(0))
    after = sum((Decimal(c["cost"]["after_usd" if c["status"] == "change" else "before_usd"]) for c in chosen.values()), Decimal(0))
    suggested = sum((Decimal(c["cost"]["delta_usd"]) for c in chosen.values() if c["status"] == "comment-only"), Decimal(0))
    return before, after, suggested


def markdown_tables(text: str) -> list[list[list[str]]]:
    """Every table in ``text`` whose last row is a **Total**: its rows as lists of cells."""
    tables, current = [], []
    for line in text.split("\n") + [""]:
        if line.startswith("|"):
            current.append([cell.strip() for cell in line.strip("|").split("|")])
        else:
            if current and current[-1][0] == "**Total**":
                tables.append(current)
            current = []
    return tables


def check_markdown_tables(text: str) -> list[list[list[str]]]:
    """In every table with a Total row, each money column of the Total is the sum of the rows."""
    tables = markdown_tables(text)
    for table in tables:
        body, total = table[2:-1], table[-1]
        for i, cell in enumerate(total):
            if MONEY.fullmatch(cell.strip("*")):
                assert usd(cell) == sum((usd(row[i]) for row in body), Decimal(0)), (table, i)
    return tables


@PLANS
@given(items=st.lists(entries(), max_size=12))
def test_every_total_is_the_sum_of_its_rows(items: list[PlanEntry]) -> None:
    doc = plan_document(plan_of(items))
    before, after, suggested = expected_totals(doc)

    # JSON: each row's delta is its rounded after - rounded before; the summary sums the rows
    for c in doc["containers"]:
        assert Decimal(c["cost"]["delta_usd"]) == Decimal(c["cost"]["after_usd"]) - Decimal(c["cost"]["before_usd"])
    cost = doc["summary"]["monthly_cost"]
    cents = [*(cost[k] for k in ("before_usd", "after_usd", "delta_usd")), doc["summary"]["comment_only_delta_usd"],
             *(c["cost"][k] for c in doc["containers"] for k in ("before_usd", "after_usd", "delta_usd"))]
    assert all(re.fullmatch(r"-?[0-9]+\.[0-9]{2}", text) for text in cents), cents  # the schema's usd: always two decimals
    assert (Decimal(cost["before_usd"]), Decimal(cost["after_usd"]), Decimal(cost["delta_usd"])) == (before, after, after - before)
    assert Decimal(doc["summary"]["comment_only_delta_usd"]) == suggested

    # table: the $/MONTH cells of the changes add up to the summary line's delta; comment-only's to theirs
    table = plan_table(doc).split("\n")
    rows = [line for line in table if re.match(r"shop/Deployment/\S+\s+\S+\s+(change|comment-only|unchanged|skipped)\s", line)]
    assert len(rows) == len(doc["containers"])
    shown = {"change": Decimal(0), "comment-only": Decimal(0)}
    for line in rows:
        status = line.split()[2]
        cell = line.rsplit("  ", 1)[-1].strip()
        if MONEY.fullmatch(cell):
            shown[status] += usd(cell)
    summary = next(line for line in table if line.startswith("Monthly cost of requests: "))
    numbers = amounts(summary.split(" · ")[0])
    assert numbers[:3] == [before, after, after - before]
    assert sum(numbers[3:], Decimal(0)) == after - before == shown["change"]  # the increases and decreases split it
    assert (amounts(summary.split(" · ")[2]) or [Decimal(0)])[0] == suggested == shown["comment-only"]

    # markdown: every table's Total is the sum of its rows, and the overview's Total is the plan's
    markdown = plan_markdown(doc)
    tables = check_markdown_tables(markdown)
    if doc["summary"]["by_status"]["change"]:
        overview = next(t for t in tables if t[0][0] == "Monthly cost of requests")
        assert [usd(cell) for cell in overview[-1][2:]] == [before, after, after - before]
        assert int(overview[-1][1].strip("*")) == len({(c["workload"], c["container"]) for c in doc["containers"]})

    # pull request: the title and the commit message say the same amounts
    proposal = build(Scope("all", "the repository"), doc, NO_CHANGES)
    title_amounts = amounts(proposal.title)
    if after < before:
        assert title_amounts == [before - after] and "saves" in proposal.title
    elif after > before and doc["summary"]["by_status"]["change"]:
        assert title_amounts == [after - before]
    else:
        assert title_amounts == []
    message = proposal.commit_message.split("\n")
    split, totals = amounts(message[2]), amounts(message[3])
    assert sum(split, Decimal(0)) == after - before
    assert totals == [before, after, after - before]
    headline = proposal.body.split("\n")[1]
    assert amounts(headline) == (title_amounts if doc["summary"]["by_status"]["change"] else [])


# -- the demo ---------------------------------------------------------------------------------------


def demo() -> dict[str, Any]:
    from gitbot.pipeline import PlanRequest, plan

    _, doc = plan(PlanRequest(repo=ROOT / "fixtures" / "demo-repo", metrics_file=ROOT / "fixtures" / "demo-metrics.om.gz"))
    return doc


def test_the_demo_shows_one_set_of_numbers_with_the_risk_first() -> None:
    doc = demo()
    markdown = plan_markdown(doc)
    check_markdown_tables(markdown)
    assert markdown.startswith("## gitbot: fixes 14 OOM kills, adds missing CPU requests, raises resources of 3 containers "
                               "and saves $66.79/month\n")
    assert doc["summary"]["monthly_cost"] == {"before_usd": "367.83", "after_usd": "301.04", "delta_usd": "-66.79", "delta_pct": "-18.2"}
    # a row's Previous, New and Diff agree (legacy-admin's Diff was −$28.93 next to $57.85 → $28.93)
    assert "| `shop/Deployment/legacy-admin` | `admin` | ● high: 100% of 14d, forecast | $57.85 | $28.93 | −$28.92 |" in markdown
    assert "| other containers (skipped) | 2 | $6.27 | $6.27 | $0.00 |" in markdown
    # increases first, most urgent first, with what each one is for
    assert markdown.index("### Increases") < markdown.index("### Decreases")
    # (the resizer's memory request stays at the 256Mi it was killed at: p99 253Mi takes no margin under its limit)
    assert ("| `shop/Deployment/image-resizer` | `resizer` | fixes 14 OOM kills; raises cpu req, mem lim | "
            "● high: 100% of 14d, forecast | $10.65 | $18.41 | +$7.76 |") in markdown
    assert "| `shop/CronJob/nightly-report` | `report` | raises cpu req | ○ low: 4% of 13d, percentiles | $1.61 | $1.79 | +$0.18 |" in markdown
    # a missing request: unset, then its value and the money; no percentage of a $0 base anywhere
    assert "- **`shop/Deployment/cart`** `cart`: cpu req unset → 155m, mem req 256Mi → 160Mi, mem lim 512Mi → 256Mi (+$6.50/month)" in markdown
    assert "%)" not in markdown.split("### Increases")[0]
    # the skipped and exempt containers, with their reasons
    assert ("### Skipped and exempt containers\n\n- `shop/DaemonSet/node-agent` `setup`: not enough data: 6 samples over 1h "
            "(needs 288 over 72h)\n- `shop/DaemonSet/node-agent` `fluent-bit`: exempt in config: sized by the logging team together "
            "with the vendor (ticket OPS-1432)\n") in markdown


def test_scope_titles_name_the_intent_first() -> None:
    from gitbot.pipeline import PlanRequest, PullRequestRun, proposals

    _, found = proposals(PlanRequest(repo=ROOT / "fixtures" / "demo-repo", metrics_file=ROOT / "fixtures" / "demo-metrics.om.gz"),
                         PullRequestRun(scope="directory", dry_run=True))
    titles = {p.scope.slug: p.title for p in found}
    assert titles["apps-cart"] == "gitbot: adds missing CPU requests in apps/cart (+$6.50/month)"
    assert titles["apps-image-resizer"] == "gitbot: fixes 14 OOM kills in apps/image-resizer (+$7.76/month)"
    assert titles["apps-legacy-admin"] == "gitbot: saves $28.92/month in apps/legacy-admin"
    cart = next(p for p in found if p.scope.slug == "apps-cart")
    assert cart.intents == ("adds-requests",)
    assert cart.commit_message.split("\n")[:4] == [
        "Adds missing CPU requests in apps/cart (+$6.50/month)", "",
        "1 container(s) in 1 file(s): 1 increase(s), +$6.50; 0 decrease(s), $0.00.",
        "Monthly cost of requests: $1.53 → $8.03 (+$6.50).",  # no +425%: the CPU request was priced at $0
    ]
    resizer = next(p for p in found if p.scope.slug == "apps-image-resizer")
    assert resizer.intents == ("fixes-oom", "raises")
    assert resizer.body.split("\n")[1] == "## gitbot: fixes 14 OOM kills (+$7.76/month)"


# -- small documents ---------------------------------------------------------------------------------


def test_warnings_and_many_skipped_containers_are_folded_in_the_body() -> None:
    skipped = [entry_of(f"w{i}", Status.SKIPPED, "0.10", "0.10", reasons=(f"exempt in config: reason {i}",)) for i in range(7)]
    doc = plan_document(plan_of([entry_of("web", Status.CHANGE, "10.004", "5.005"), *skipped], warnings=("Thanos: partial response",)))
    markdown = plan_markdown(doc)
    assert ("### Skipped and exempt containers\n\n<details><summary>7 containers left as they are</summary>\n\n"
            "- `shop/Deployment/w0` `app`: exempt in config: reason 0\n") in markdown
    assert "### Warnings\n\n- Thanos: partial response\n" in markdown
    assert "| other containers (skipped) | 7 | $0.70 | $0.70 | $0.00 |" in markdown
    assert "| **Total** | **8** | **$10.70** | **$5.71** | **−$4.99** |" in markdown  # 10.00 → 5.01 (rounded once), plus 0.70
    check_markdown_tables(markdown)


def entry_of(name: str, status: Status, before: str, after: str, reasons: tuple[str, ...] = (),
             current: int | None = 100, recommended: int | None = 50) -> PlanEntry:
    values = {f: (current, recommended if status is Status.CHANGE and f is Field.CPU_REQUEST else current) for f in FIELDS}
    container = Container("app", ContainerType.APP, 0, {f: CurrentValue(values[f][0], None, field_source()) for f in FIELDS})
    workload = Workload(WorkloadId("shop", "Deployment", name), Target(TargetKind.PLAIN, "apps", "apps"),
                        ObjectSource("apps/app.yaml", 0, 1, SourceKind.PLAIN), "production", "production", 1, (container,))
    fields = {f: FieldRecommendation(f, values[f][0], values[f][1], (), "p97 12m") for f in FIELDS}
    rec = Recommendation(workload, container, status, fields, "samples", reasons)
    return PlanEntry(rec, status, reasons, CostDelta(RATES, Decimal(1), Decimal(1), "spec.replicas", Decimal(before), Decimal(after)))


def test_an_added_request_shows_unset_and_no_percentage() -> None:
    doc = plan_document(plan_of([entry_of("cart", Status.CHANGE, "1.53", "8.17", current=None, recommended=155)]))
    assert doc["summary"]["monthly_cost"]["delta_pct"] == "434.0"  # the JSON keeps it; no output shows it
    table = plan_table(doc)
    assert "unset → 155m" in table and "%" not in table
    markdown = plan_markdown(doc)
    assert markdown.startswith("## gitbot: adds missing CPU requests (+$6.64/month)\n")
    assert "Requests cost $1.53/month today and $8.17/month with this change (+$6.64). " in markdown
    assert "| `shop/Deployment/cart` | `app` | adds a CPU request | ○ low: no usage | $1.53 | $8.17 | +$6.64 |" in markdown
