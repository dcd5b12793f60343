"""Kubernetes resource quantities as exact integers: CPU in millicores, memory in bytes.

The grammar is the one ``k8s.io/apimachinery/pkg/api/resource`` accepts::

    <number><suffix>    number = [+-] digits [. digits] | [+-] . digits
                        suffix = Ki Mi Gi Ti Pi Ei | n u m "" k M G T P E | e<int> E<int>

Parsing goes through ``Decimal`` so ``0.1``, ``1e3`` and ``129e6`` are exact; a value below the
resolution (a fraction of a millicore or of a byte) is rounded up, as the API server does.

Formatting writes a value back in the idiom of the text it replaces: ``250m`` stays millicores,
``0.5`` stays decimal cores, ``512Mi`` stays Mi when the new value is whole Mi, ``1G`` stays
decimal SI, ``129e6`` stays an exponent.
"""

from __future__ import annotations

import math
import re
from decimal import Decimal, InvalidOperation, localcontext

KI, MI, GI, TI, PI, EI = (2**10, 2**20, 2**30, 2**40, 2**50, 2**60)

BINARY_SUFFIXES = {"Ki": KI, "Mi": MI, "Gi": GI, "Ti": TI, "Pi": PI, "Ei": EI}
DECIMAL_SUFFIXES = {
    "n": Decimal("1e-9"),
    "u": Decimal("1e-6"),
    "m": Decimal("1e-3"),
    "": Decimal(1),
    "k": Decimal(10**3),
    "M": Decimal(10**6),
    "G": Decimal(10**9),
    "T": Decimal(10**12),
    "P": Decimal(10**15),
    "E": Decimal(10**18),
}
MAX_VALUE = 2**63 - 1  # the API server stores quantities as int64 (milli-units for CPU)

_QUANTITY = re.compile(
    r"(?P<number>[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+))"  # ASCII digits only, as the API server
    r"(?P<suffix>Ki|Mi|Gi|Ti|Pi|Ei|[eE][+-]?[0-9]+|[numkMGTPE]?)"
)


class QuantityError(ValueError):
    """Not a valid Kubernetes quantity (or not a sensible one for a resource)."""


def parse_quantity(value: object) -> Decimal:
    """The exact value of a quantity in base units (cores, bytes)."""
    if isinstance(value, bool) or value is None:
        raise QuantityError(f"not a quantity: {value!r}")
    if isinstance(value, int):
        return Decimal(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise QuantityError(f"not a finite quantity: {value!r}")
        text = repr(value)
    elif isinstance(value, str):
        text = value.strip()
    else:
        raise QuantityError(f"not a quantity: {value!r}")
    match = _QUANTITY.fullmatch(text)
    if match is None:
        raise QuantityError(f"not a quantity: {text!r}")
    number, suffix = match.group("number"), match.group("suffix")
    try:
        return _exact(number, suffix, text)
    except InvalidOperation:
        raise QuantityError(f"not a quantity: {text!r}") from None


def _exact(number: str, suffix: str, text: str) -> Decimal:
    # enough digits that no product below rounds (the default context keeps 28)
    with localcontext(prec=len(number) + 60):
        base = Decimal(number)
        if suffix in BINARY_SUFFIXES:
            return base * BINARY_SUFFIXES[suffix]
        if suffix[:1] in ("e", "E") and len(suffix) > 1:
            exponent = int(suffix[1:])
            if abs(exponent) > 40:
                raise QuantityError(f"exponent out of range: {text!r}")
            return base.scaleb(exponent)
        return base * DECIMAL_SUFFIXES[suffix]


def _to_int(value: Decimal, scale: int, text: object, unit: str) -> int:
    if value < 0:
        raise QuantityError(f"negative {unit}: {text!r}")
    with localcontext(prec=len(str(value)) + 60):
        scaled = math.ceil(value * scale)
    if scaled > MAX_VALUE:
        raise QuantityError(f"{unit} out of range: {text!r}")
    return scaled


def parse_cpu_m(value: object) -> int:
    """CPU quantity -> millicores (rounded up: ``0.0001`` is 1m, as the API server stores it)."""
    return _to_int(parse_quantity(value), 1000, value, "CPU")


def parse_memory_bytes(value: object) -> int:
    """Memory quantity -> bytes (rounded up: ``1.5k`` is 1500, ``0.1Ki`` is 103)."""
    return _to_int(parse_quantity(value), 1, value, "memory")


def round_up(value: int, step: int) -> int:
    """The smallest multiple of ``step`` that is >= ``value``."""
    if step <= 0:
        raise ValueError("step must be positive")
    return -(-value // step) * step


def _split(like: str | None) -> tuple[str, str] | None:
    if not like:
        return None
    match = _QUANTITY.fullmatch(like.strip())
    return (match.group("number"), match.group("suffix")) if match else None


def format_cpu(millicores: int, like: str | None = None) -> str:
    """Millicores as a quantity in the idiom of ``like`` (the text being replaced), if any."""
    if millicores < 0:
        raise ValueError("negative CPU")
    whole = millicores % 1000 == 0
    parts = _split(like)
    if parts is not None and parts[1] == "m":
        return f"{millicores}m"
    if parts is not None and parts[1] == "" and "." in parts[0]:
        return _decimal_text(Decimal(millicores) / 1000)
    return f"{millicores // 1000}" if whole else f"{millicores}m"


def format_memory(value: int, like: str | None = None) -> str:
    """Bytes as a quantity in the idiom of ``like``: its suffix when the value is a whole multiple."""
    if value < 0:
        raise ValueError("negative memory")
    parts = _split(like)
    suffix = parts[1] if parts is not None else None
    if suffix in BINARY_SUFFIXES:
        return _with_suffix(value, BINARY_SUFFIXES, suffix)
    if suffix in ("k", "M", "G", "T", "P", "E"):
        return _with_suffix(value, {s: int(DECIMAL_SUFFIXES[s]) for s in "kMGTPE"}, suffix)
    if suffix and suffix[0] in "eE":
        exponent = int(suffix[1:])
        if exponent > 0 and value % 10**exponent == 0:
            return f"{value // 10**exponent}{suffix[0]}{exponent}"
        return str(value)
    if parts is not None and suffix == "":
        return str(value)  # the file writes plain bytes
    return _with_suffix(value, BINARY_SUFFIXES, None)


def _with_suffix(value: int, units: dict[str, int], preferred: str | None) -> str:
    if preferred is not None and value % units[preferred] == 0:
        return f"{value // units[preferred]}{preferred}"
    for suffix, unit in sorted(units.items(), key=lambda kv: -kv[1]):
        if value and value % unit == 0:
            return f"{value // unit}{suffix}"
    return str(value)


def memory_unit_family(like: str | None) -> str:
    """``si`` when the file writes decimal memory units (``M``, ``G``, ``129e6``), else ``binary``."""
    parts = _split(like)
    if parts is None:
        return "binary"
    suffix = parts[1]
    if suffix in ("k", "M", "G", "T", "P", "E") or (suffix[:1] in ("e", "E") and len(suffix) > 1):
        return "si"
    return "binary"


def _decimal_text(value: Decimal) -> str:
    text = format(value.normalize(), "f")
    return text


def human_cpu(millicores: int) -> str:
    """Short CPU text for tables and explanations: ``250m``, ``2``, ``1500m``."""
    return f"{millicores // 1000}" if millicores and millicores % 1000 == 0 else f"{millicores}m"


def human_memory(value: int) -> str:
    """Short memory text: exact when whole (``512Mi``, ``2Gi``), else two decimals (``1.5Gi``)."""
    for suffix, unit in (("Ti", TI), ("Gi", GI), ("Mi", MI), ("Ki", KI)):
        if value >= unit:
            if value % unit == 0:
                return f"{value // unit}{suffix}"
            text = f"{value / unit:.2f}".rstrip("0").rstrip(".")
            return f"{text}{suffix}"
    return f"{value}B" if value else "0"
