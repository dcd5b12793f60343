"""Monthly cost of resource requests, and how money is rounded and shown.

Amounts stay unrounded Decimals through the arithmetic; ``usd`` rounds each container's monthly cost
before and after to cents once, in the JSON plan, and every delta and total is a sum of those cents
(``gitbot.output.money``). Rounding is ROUND_HALF_UP (0.125 -> 0.13, -0.125 -> -0.13: half away from
zero), the rule people expect on an invoice, rather than banker's rounding.
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

from gitbot.pricing.catalog import ResourceRates

HOURS_PER_MONTH = Decimal(730)
BYTES_PER_GIB = Decimal(2**30)
CENT = Decimal("0.01")
TENTH = Decimal("0.1")
MINUS = "\u2212"


def monthly_cost(cpu_m: int | None, memory_bytes: int | None, replicas: Decimal, rates: ResourceRates) -> Decimal:
    """USD per month for ``replicas`` pods requesting ``cpu_m`` millicores and ``memory_bytes``; None counts as 0."""
    cpu = Decimal(cpu_m or 0) / 1000 * rates.cpu_vcpu_hour
    memory = Decimal(memory_bytes or 0) / BYTES_PER_GIB * rates.memory_gib_hour
    return (cpu + memory) * HOURS_PER_MONTH * replicas


def usd(amount: Decimal) -> Decimal:
    """Round to cents, half away from zero (ROUND_HALF_UP)."""
    return amount.quantize(CENT, rounding=ROUND_HALF_UP)


def format_usd(amount: Decimal, signed: bool = False) -> str:
    """ "$1,234.56"; negative "−$4.00" (U+2212); with ``signed`` positive gets "+"; zero is always "$0.00"."""
    cents = usd(amount)
    text = f"${abs(cents):,.2f}"
    if cents < 0:
        return MINUS + text
    if cents > 0 and signed:
        return "+" + text
    return text


def percent_change(before: Decimal, after: Decimal) -> Decimal | None:
    """(after - before) / before in percent, to 0.1 (ROUND_HALF_UP); None when ``before`` is 0. The
    outputs leave it out when part of ``before`` is an unset request priced at $0
    (``gitbot.output.render.shown_pct``)."""
    if before == 0:
        return None
    return ((after - before) / before * 100).quantize(TENTH, rounding=ROUND_HALF_UP)
