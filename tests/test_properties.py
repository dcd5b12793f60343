"""Property-based tests (hypothesis) for the two places where gitbot must be exact.

1. Quantities (``gitbot/quantity.py``): every valid quantity string parses to the exact ceiling that
   an independent ``fractions.Fraction`` computation gives, formatting then parsing gives back the
   same integer in every idiom, and anything invalid raises ``QuantityError`` (never another error).
2. Splices (``gitbot/edit/splice.py``): Deployment-like documents in many writing styles (indent
   step, sequence indentation, quoting, comments, flow mappings, nulls, anchors, CRLF, several
   documents) get new values through ``replace_scalar``/``insert_fields``, planned the way
   ``changeset`` plans them; the new text must parse to the old data with exactly the intended
   values changed, remove nothing but the old value, keep every comment and keep its line endings;
   edits through an anchor or alias must be refused with ``CannotEdit``.

The expected data is computed from the generated model, never by asking gitbot. The bugs that
the properties found (mended since) are kept as regression tests at the end of the file.
"""

from __future__ import annotations

import copy
import functools
import math
import re
from dataclasses import dataclass, replace
from fractions import Fraction
from typing import Any, Callable

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from gitbot.edit.splice import CannotEdit, Splice, apply_splices, insert_fields, replace_scalar
from gitbot.quantity import (
    MAX_VALUE,
    QuantityError,
    format_cpu,
    format_memory,
    parse_cpu_m,
    parse_memory_bytes,
    round_up,
)
from gitbot.yamldoc import YamlDocument, parse_yaml

# derandomize: the same examples on every run (CI is deterministic); the budgets keep the whole
# file under about 20 seconds on one core.
FAST = settings(derandomize=True, deadline=None, max_examples=200)  # quantities: cheap examples
SLOW = settings(derandomize=True, deadline=None, max_examples=200)  # whole YAML files: ~20 ms each
SOME = settings(derandomize=True, deadline=None, max_examples=100)  # variations of the YAML property
FEW = settings(derandomize=True, deadline=None, max_examples=40)  # the regression tests below

# ================================================================================================
# 1. Quantities
# ================================================================================================

BINARY = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "Pi": 2**50, "Ei": 2**60}
DECIMAL = {
    "n": Fraction(1, 10**9),
    "u": Fraction(1, 10**6),
    "m": Fraction(1, 10**3),
    "": Fraction(1),
    "k": Fraction(10**3),
    "M": Fraction(10**6),
    "G": Fraction(10**9),
    "T": Fraction(10**12),
    "P": Fraction(10**15),
    "E": Fraction(10**18),
}
ASCII_QUANTITY = re.compile(r"[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)(Ki|Mi|Gi|Ti|Pi|Ei|[eE][+-]?[0-9]+|[numkMGTPE]?)")


@dataclass(frozen=True)
class QuantityText:
    """A quantity written as sign, digits, optional fraction and suffix, with its exact value."""

    sign: str  # "", "+" or "-"
    whole: str  # integer digits, may be empty when ``fraction`` is not
    fraction: str | None  # digits after the point; None for no point at all
    suffix: str  # "", "m", "Ki", "e6", "E-3", ...
    padding: str = ""  # ASCII whitespace around the text (gitbot strips it)

    @property
    def text(self) -> str:
        point = "" if self.fraction is None else "." + self.fraction
        return f"{self.padding}{self.sign}{self.whole}{point}{self.suffix}{self.padding}"

    @property
    def exact(self) -> Fraction:
        """The value in base units (cores, bytes), computed with fractions only."""
        digits = self.whole + (self.fraction or "")
        magnitude = Fraction(int(digits or "0"), 10 ** len(self.fraction or ""))
        if self.suffix in BINARY:
            magnitude *= BINARY[self.suffix]
        elif self.suffix[:1] in ("e", "E") and len(self.suffix) > 1:
            magnitude *= Fraction(10) ** int(self.suffix[1:])
        else:
            magnitude *= DECIMAL[self.suffix]
        return -magnitude if self.sign == "-" else magnitude


def exponent_suffixes(low: int = -40, high: int = 40) -> st.SearchStrategy[str]:
    """``e6``, ``E+3``, ``e-09``: an exponent suffix with its exponent in ``[low, high]``."""
    return st.builds(
        lambda letter, sign, exponent, zeros: f"{letter}{'-' if exponent < 0 else sign}{'0' * zeros}{abs(exponent)}",
        st.sampled_from("eE"),
        st.sampled_from(["", "+"]),
        st.integers(low, high),
        st.integers(0, 1),
    )


def quantity_texts(max_whole: int = 15, max_fraction: int = 9, signs: str = "+") -> st.SearchStrategy[QuantityText]:
    """Valid quantity strings in every suffix family. The digit counts are bounded so that the
    value has at most 24 significant digits (see ``test_parse_keeps_more_than_28_digits``)."""

    @st.composite
    def build(draw: st.DrawFn) -> QuantityText:
        whole = draw(st.text("0123456789", max_size=max_whole))
        has_point = draw(st.booleans()) or not whole
        fraction = draw(st.text("0123456789", min_size=0 if whole else 1, max_size=max_fraction)) if has_point else None
        suffix = draw(st.one_of(st.sampled_from(sorted(DECIMAL) + sorted(BINARY)), exponent_suffixes()))
        sign = draw(st.sampled_from(["", *signs]))
        padding = draw(st.sampled_from(["", "", " ", "\t"]))
        return QuantityText(sign, whole, fraction, suffix, padding)

    return build()


def expected_or_error(exact: Fraction, scale: int) -> int | None:
    """What gitbot must return for an exact value: the ceiling at its resolution, None to refuse."""
    if exact < 0:
        return None
    scaled = math.ceil(exact * scale)
    return None if scaled > MAX_VALUE else scaled


def assert_parses_like(parse: Callable[[object], int], value: object, exact: Fraction, scale: int) -> None:
    want = expected_or_error(exact, scale)
    if want is None:
        with pytest.raises(QuantityError):
            parse(value)
    else:
        assert parse(value) == want


@FAST
@given(q=quantity_texts(signs="+-"))
@example(q=QuantityText("", "0", "0001", ""))  # below 1m rounds up
@example(q=QuantityText("-", "0", None, ""))  # minus zero is zero
@example(q=QuantityText("", "9223372036854775", "807", ""))  # exactly MAX_VALUE millicores
@example(q=QuantityText("", "9223372036854775", "8071", ""))  # one step above
@example(q=QuantityText("", "1", None, "e30"))  # absurdly large
def test_parse_cpu_is_the_exact_ceiling_in_millicores(q: QuantityText) -> None:
    assert_parses_like(parse_cpu_m, q.text, q.exact, 1000)


@FAST
@given(q=quantity_texts(signs="+-"))
@example(q=QuantityText("", "0", "1", "Ki"))  # 102.4 -> 103
@example(q=QuantityText("", "7", "999999999", "Ei"))  # a large in-range binary value
@example(q=QuantityText("", "8", None, "Ei"))  # 2**63: one above the limit
@example(q=QuantityText("", "129", None, "e6"))
def test_parse_memory_is_the_exact_ceiling_in_bytes(q: QuantityText) -> None:
    assert_parses_like(parse_memory_bytes, q.text, q.exact, 1)


@FAST
@given(value=st.one_of(st.integers(-(2**70), 2**70), st.floats(allow_nan=False, allow_infinity=False)))
def test_numbers_from_yaml_parse_like_their_text(value: int | float) -> None:
    """YAML hands over ints and floats (``cpu: 2``, ``cpu: 0.5``); a float means its shortest repr."""
    exact = Fraction(value) if isinstance(value, int) else Fraction(repr(value))
    written = re.search(r"e([-+]?[0-9]+)$", repr(value))
    if written is not None and abs(int(written.group(1))) > 40:  # refused by design, like "1e-50"
        for parse in (parse_cpu_m, parse_memory_bytes):
            with pytest.raises(QuantityError):
                parse(value)
        return
    assert_parses_like(parse_cpu_m, value, exact, 1000)
    assert_parses_like(parse_memory_bytes, value, exact, 1)


def invalid_quantities() -> st.SearchStrategy[object]:
    """Things that are not a (sensible) quantity: the parsers must raise ``QuantityError``."""
    number = st.from_regex(r"\A[0-9]{1,4}(\.[0-9]{1,3})?\Z")
    unknown_suffix = st.sampled_from(["K", "KB", "kb", "mi", "gi", "Mb", "b", "B", "i", "ki", "MM", "e", "E+", "e1.5", " m", "%", "Kii"])
    return st.one_of(
        st.sampled_from(["", " ", "\t\n", ".", "+", "-", "m", "Mi", "e3", "1.2.3", "1..", "--1", "+-1", "1-", "0x10", "1_000", "1,5", "1 Mi", "1e", "Infinity"]),
        st.sampled_from(["nan", "NaN", "inf", "-inf", "+inf", "Inf", "∞"]),
        st.builds(lambda n, s: f"{n}{s}", number, unknown_suffix),
        st.builds(lambda n, s: f"{n}{s}", number, exponent_suffixes(41, 10**6) | exponent_suffixes(-(10**6), -41)),
        st.builds(lambda n, s: f"-{n}{s}", st.integers(1, 10**6), st.sampled_from(["", "m", "Ki", "Gi", "e2"])),  # negative
        st.sampled_from(["1e30", "1e40", "9" * 40, "10E", "10000Pi", "9Ei", "1e19"]),  # beyond int64 even as bytes
        st.sampled_from([None, True, False, [], {}, b"1", object(), float("nan"), float("inf"), float("-inf"), 1e300, -1, -0.5]),
    )


@FAST
@given(value=invalid_quantities())
def test_invalid_quantities_raise_quantity_error(value: object) -> None:
    for parse in (parse_cpu_m, parse_memory_bytes):
        with pytest.raises(QuantityError):
            parse(value)


@FAST
@given(text=st.text(max_size=12) | st.from_regex(r"\A\s*[+-]?[0-9.]{0,6}[a-zA-Z+-]{0,3}[0-9]{0,3}\s*\Z"))
def test_any_text_is_a_value_or_a_quantity_error(text: str) -> None:
    """No input makes the parsers fail with anything but ``QuantityError``; a value is never negative."""
    for parse in (parse_cpu_m, parse_memory_bytes):
        try:
            result = parse(text)
        except QuantityError:
            continue
        assert isinstance(result, int) and 0 <= result <= MAX_VALUE



@FEW
@given(digit=st.characters(categories=["Nd"]).filter(lambda c: not c.isascii()), suffix=st.sampled_from(["", "m", "Mi"]))
@example(digit="\u0661", suffix="m")  # ARABIC-INDIC DIGIT ONE
def test_only_ascii_digits_are_quantities(digit: str, suffix: str) -> None:
    with pytest.raises(QuantityError):
        parse_memory_bytes(f"{digit}{suffix}")



@FEW
@given(extra=st.integers(29, 40))
@example(extra=29)
def test_parse_keeps_more_than_28_digits(extra: int) -> None:
    """``1.000...01`` cores (``extra`` digits after the point) is just above 1000m: the ceiling is 1001m."""
    text = "1." + "0" * (extra - 1) + "1"
    assert parse_cpu_m(text) == 1001


def cpu_likes() -> st.SearchStrategy[str | None]:
    """The text a CPU value replaces (its idiom), or None for a new field."""
    return st.none() | st.sampled_from(["250m", "0.5", "1", "2", "1.", ".5", "+0.25", "1e3", "1k", "100000u", " 500m "]) | quantity_texts().map(lambda q: q.text)


def memory_likes() -> st.SearchStrategy[str | None]:
    """The text a memory value replaces, or None for a new field."""
    return st.none() | st.sampled_from(["512Mi", "1Gi", "64Ki", "1.5Gi", "1G", "123M", "1k", "129e6", "129E6", "1e-3", "1e0", "268435456", "500m"]) | quantity_texts().map(lambda q: q.text)


def values_near_units() -> st.SearchStrategy[int]:
    """Integers in [0, MAX_VALUE], often whole multiples of a unit (so every suffix branch is taken)."""
    units = [1, 1000, 10**6, 10**9, 10**12, *BINARY.values(), 10**6 * 129]
    multiple = st.builds(lambda unit, k: min(unit * k, MAX_VALUE), st.sampled_from(units), st.integers(0, 10**6))
    return st.one_of(st.integers(0, MAX_VALUE), st.integers(0, 10**7), multiple, st.just(MAX_VALUE))


@FAST
@given(millicores=values_near_units(), like=cpu_likes())
def test_format_cpu_round_trips(millicores: int, like: str | None) -> None:
    text = format_cpu(millicores, like)
    assert ASCII_QUANTITY.fullmatch(text), text
    assert parse_cpu_m(text) == millicores
    if like is not None and like.strip().endswith("m") and ASCII_QUANTITY.fullmatch(like.strip()):
        assert text == f"{millicores}m"  # millicores stay millicores
    if like is None:
        assert text == (str(millicores // 1000) if millicores % 1000 == 0 else f"{millicores}m")


@FAST
@given(size=values_near_units(), like=memory_likes())
def test_format_memory_round_trips(size: int, like: str | None) -> None:
    text = format_memory(size, like)
    assert ASCII_QUANTITY.fullmatch(text), text
    assert parse_memory_bytes(text) == size
    suffix = ASCII_QUANTITY.fullmatch(like.strip()).group(3) if like and ASCII_QUANTITY.fullmatch(like.strip()) else None
    if suffix in BINARY and size % BINARY[suffix] == 0:
        assert text == f"{size // BINARY[suffix]}{suffix}"  # 512Mi stays Mi when whole
    if suffix in ("k", "M", "G", "T", "P", "E") and size % int(DECIMAL[suffix]) == 0:
        assert text == f"{size // int(DECIMAL[suffix])}{suffix}"


@FAST
@given(value=st.integers(0, 10**20), step=st.integers(1, 10**12))
def test_round_up_is_the_smallest_multiple_not_below(value: int, step: int) -> None:
    result = round_up(value, step)
    assert result % step == 0 and value <= result < value + step


# ================================================================================================
# 2. Splices
# ================================================================================================

FIELDS: tuple[tuple[str, str], ...] = (("requests", "cpu"), ("requests", "memory"), ("limits", "cpu"), ("limits", "memory"))
CONTAINERS = ("spec", "template", "spec", "containers")
GITBOT_ORDER = (("requests", "cpu"), ("limits", "cpu"), ("requests", "memory"), ("limits", "memory"))  # model.FIELDS
CANONICAL = {"requests": 0, "limits": 1, "cpu": 0, "memory": 1}
SCRIPT_LINES = ("echo one", "echo two")


def plain_value(text: str) -> Any:
    """What a plain (unquoted) scalar means in YAML 1.2, for the texts these tests write."""
    if text in ("~", "null", ""):
        return None
    if re.fullmatch(r"[-+]?[0-9]+", text):
        return int(text)
    if re.fullmatch(r"[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?", text):
        return float(text)
    return text


@dataclass(frozen=True)
class Leaf:
    """One ``cpu:``/``memory:`` value as written."""

    text: str | None  # a quantity; None for a null (written as ``null_text``)
    quote: str = ""  # "", "'" or '"'
    null_text: str = "~"  # "~", "null" (or "" for ``cpu:`` with nothing, only in a regression test below)
    comment: bool = False  # a trailing ``# note``
    anchor: str | None = None  # written ``&anchor value``
    alias: str | None = None  # written ``*alias``; the other fields then copy the anchored leaf

    @property
    def data(self) -> Any:
        if self.text is None:
            return None
        return self.text if self.quote else plain_value(self.text)

    @property
    def source(self) -> str:
        """The characters gitbot must replace (inside the quotes)."""
        return self.null_text if self.text is None else self.text


@dataclass(frozen=True)
class Section:
    """``requests:`` or ``limits:``."""

    form: str  # "block", "flow", "empty" (``{}``) or "null"
    leaves: tuple[tuple[str, Leaf], ...] = ()
    json_keys: bool = False  # flow only: ``{"cpu": ...}``
    comment: bool = False  # a trailing comment on the key's line
    comment_before: int | None = None  # block only: a comment line before leaf #i
    null_text: str = ""  # null: "", "~" or "null"
    multiline: bool = False  # flow only: the closing brace on its own line (a regression test below)

    @property
    def data(self) -> Any:
        if self.form == "null":
            return None
        return {key: leaf.data for key, leaf in self.leaves}


@dataclass(frozen=True)
class Resources:
    """A container's ``resources:``."""

    form: str  # "block", "empty", "null" or "flow" (the last only in a regression test below)
    sections: tuple[tuple[str, Section], ...] = ()
    comment: bool = False
    null_text: str = ""
    anchor: str | None = None

    @property
    def data(self) -> Any:
        if self.form == "null":
            return None
        return {name: section.data for name, section in self.sections}


@dataclass(frozen=True)
class Container:
    name: str
    keys: tuple[str, ...]  # the order of its keys: name, image, resources, ports, script
    resources: Resources | None  # None: no ``resources`` key
    resources_alias: str | None = None  # ``resources: *alias`` (``resources`` is then the anchored one)


@dataclass(frozen=True)
class Style:
    """How the whole file is written."""

    step: int  # 2 or 4
    indented_sequences: bool  # ``containers:\n  - name`` rather than ``containers:\n- name``
    dash_gap: int  # spaces after ``-``
    line_end: str  # "\n" or "\r\n"
    final_newline: bool
    leading_marker: bool  # ``---`` before the first document


@dataclass(frozen=True)
class Change:
    section: str
    key: str
    text: str  # the new value's text


@dataclass(frozen=True)
class Case:
    docs: tuple[tuple[Container, ...], ...]
    style: Style
    doc: int  # the document edited
    container: int  # the container edited
    changes: tuple[Change, ...]


# -- strategies --------------------------------------------------------------------------------


@functools.cache  # building strategies is slow: build each one once
def cpu_texts() -> st.SearchStrategy[str]:
    """CPU quantities as people write them: ``250m``, ``2``, ``0.5``."""
    return st.one_of(
        st.integers(1, 64000).map(lambda m: f"{m}m"),
        st.integers(0, 64).map(str),
        st.builds(lambda a, b: f"{a}.{b}", st.integers(0, 9), st.integers(1, 999)),
    )


@functools.cache
def memory_texts() -> st.SearchStrategy[str]:
    """Memory quantities: ``512Mi``, ``1G``, ``268435456``, ``129e6``."""
    return st.one_of(
        st.builds(lambda n, s: f"{n}{s}", st.integers(1, 4096), st.sampled_from(["Ki", "Mi", "Gi", "k", "M", "G"])),
        st.integers(1, 2**40).map(str),
        st.builds(lambda n, e: f"{n}e{e}", st.integers(1, 999), st.integers(1, 9)),
    )


@functools.cache
def leaves(key: str, allow_empty_null: bool = False) -> st.SearchStrategy[Leaf]:
    """A value for ``key`` (cpu or memory) in any quoting, sometimes a null, sometimes commented."""
    texts = cpu_texts() if key == "cpu" else memory_texts()
    nulls = ["~", "null", ""] if allow_empty_null else ["~", "null"]
    quantity = st.builds(Leaf, text=texts, quote=st.sampled_from(["", "'", '"']), comment=st.booleans())
    null = st.builds(Leaf, text=st.none(), null_text=st.sampled_from(nulls), comment=st.booleans())
    return st.one_of(quantity, quantity, quantity, null)


@functools.cache
@st.composite
def sections(draw: st.DrawFn, forms: tuple[str, ...] = ("block", "block", "flow", "empty", "null"), empty_null_leaves: bool = False) -> Section:
    """``requests``/``limits`` with a random subset of cpu/memory in a random order."""
    form = draw(st.sampled_from(forms))
    if form in ("empty", "null"):
        return Section(form, comment=draw(st.booleans()), null_text=draw(st.sampled_from(["", "~", "null"])))
    keys = draw(st.permutations(["cpu", "memory"]))[: draw(st.integers(1, 2))]
    entries = tuple((key, draw(leaves(key, empty_null_leaves))) for key in keys)
    if form == "flow":
        return Section("flow", entries, json_keys=draw(st.booleans()), comment=draw(st.booleans()))
    before = draw(st.none() | st.integers(0, len(entries) - 1))
    return Section("block", entries, comment=draw(st.booleans()), comment_before=before)


@functools.cache
@st.composite
def resources(draw: st.DrawFn, flow: bool = False) -> Resources:
    """``resources:`` as a block (with 1-2 sections), ``{}``, a null, or (``flow``) a flow mapping."""
    form = "flow" if flow else draw(st.sampled_from(["block", "block", "block", "empty", "null"]))
    if form in ("empty", "null"):
        return Resources(form, comment=draw(st.booleans()), null_text=draw(st.sampled_from(["", "~", "null"])))
    names = draw(st.permutations(["requests", "limits"]))[: draw(st.integers(1, 2))]
    section_forms = ("flow",) if flow else ("block", "block", "flow", "empty", "null")
    return Resources(form, tuple((name, draw(sections(section_forms))) for name in names), comment=draw(st.booleans()))


@functools.cache
@st.composite
def documents(draw: st.DrawFn, anchors: bool = True, flow: bool = False) -> tuple[Container, ...]:
    """The containers of one Deployment. With ``anchors``, some ``resources`` and leaves are
    anchored and reused by later containers (aliases never end a mapping: see the regression test below)."""
    count = draw(st.integers(1, 3))
    out: list[Container] = []
    anchored_resources: list[tuple[str, Resources]] = []
    anchored_leaves: dict[str, list[tuple[str, Leaf]]] = {"cpu": [], "memory": []}
    for i in range(count):
        keys = ["name", "image", *draw(st.lists(st.sampled_from(["ports", "script"]), unique=True, max_size=2))]
        has_resources = draw(st.booleans()) or draw(st.booleans())
        if has_resources:
            keys.insert(draw(st.integers(0, len(keys))), "resources")
        if not has_resources:
            out.append(Container(f"c{i}", tuple(keys), None))
            continue
        if anchors and anchored_resources and draw(st.integers(0, 3)) == 0:
            name, target = anchored_resources[draw(st.integers(0, len(anchored_resources) - 1))]
            out.append(Container(f"c{i}", tuple(keys), target, resources_alias=name))
            continue
        res = draw(resources(flow))
        if anchors:
            res = _with_leaf_anchors(draw, res, anchored_leaves, f"{i}")
            if res.form != "null" and draw(st.integers(0, 3)) == 0:
                res = replace(res, anchor=f"res{i}")
                anchored_resources.append((f"res{i}", res))
        out.append(Container(f"c{i}", tuple(keys), res))
    return tuple(out)


def _with_leaf_anchors(draw: st.DrawFn, res: Resources, pool: dict[str, list[tuple[str, Leaf]]], tag: str) -> Resources:
    """Anchor some leaves (``&q``) and, where a leaf is not last in its mapping, replace it by an
    alias of an earlier anchored leaf (``*q``)."""
    new_sections = []
    for s_index, (name, section) in enumerate(res.sections):
        entries = list(section.leaves)
        for index, (key, leaf) in enumerate(entries):
            if pool[key] and index < len(entries) - 1 and draw(st.integers(0, 3)) == 0:
                anchor_name, target = pool[key][draw(st.integers(0, len(pool[key]) - 1))]
                entries[index] = (key, replace(target, anchor=None, alias=anchor_name, comment=leaf.comment))
            elif draw(st.integers(0, 4)) == 0:
                anchor_name = f"q{tag}x{s_index}x{index}"
                entries[index] = (key, replace(leaf, anchor=anchor_name))
                pool[key].append((anchor_name, entries[index][1]))
        new_sections.append((name, replace(section, leaves=tuple(entries))))
    return replace(res, sections=tuple(new_sections))


@functools.cache
def styles() -> st.SearchStrategy[Style]:
    return st.builds(
        Style,
        step=st.sampled_from([2, 4]),
        indented_sequences=st.booleans(),
        dash_gap=st.sampled_from([1, 1, 3]),
        line_end=st.sampled_from(["\n", "\r\n"]),
        final_newline=st.booleans(),
        leading_marker=st.booleans(),
    )


@st.composite
def cases(
    draw: st.DrawFn,
    anchors: bool = True,
    flow: bool = False,
    docs: st.SearchStrategy[tuple[Container, ...]] | None = None,
    eof_block_scalar: bool = False,
) -> Case:
    """A file of 1-2 documents and 1-4 new values for one container. Unless ``eof_block_scalar``,
    a file that ends with a block scalar ends with a newline (see the regression test below)."""
    doc_strategy = docs if docs is not None else documents(anchors, flow)
    all_docs = tuple(draw(st.lists(doc_strategy, min_size=1, max_size=2)))
    doc = draw(st.integers(0, len(all_docs) - 1))
    container = draw(st.integers(0, len(all_docs[doc]) - 1))
    chosen = draw(st.lists(st.sampled_from(FIELDS), min_size=1, max_size=4, unique=True))
    changes = tuple(Change(s, k, draw(cpu_texts() if k == "cpu" else memory_texts())) for s, k in chosen)
    style = draw(styles())
    if not eof_block_scalar and all_docs[-1][-1].keys[-1] == "script":
        style = replace(style, final_newline=True)
    return Case(all_docs, style, doc, container, changes)


# -- rendering the model as text, and its data ---------------------------------------------------


class Writer:
    """Lines of the file being written; every comment gets a unique number."""

    def __init__(self) -> None:
        self.lines: list[str] = []
        self.notes = 0

    def note(self, wanted: bool) -> str:
        if not wanted:
            return ""
        self.notes += 1
        return f"  # note-{self.notes}"


def _leaf_text(leaf: Leaf) -> str:
    if leaf.alias is not None:
        return f"*{leaf.alias}"
    anchor = f"&{leaf.anchor} " if leaf.anchor else ""
    if leaf.text is None:
        return f"{anchor}{leaf.null_text}".rstrip()
    return f"{anchor}{leaf.quote}{leaf.text}{leaf.quote}"


def _entry(key: str, value: str) -> str:
    """``key: value``, or ``key:`` for an empty value."""
    return f"{key}: {value}" if value else f"{key}:"


def _flow_section(section: Section) -> str:
    q = '"' if section.json_keys else ""
    inner = ", ".join(_entry(f"{q}{key}{q}", _leaf_text(leaf)) for key, leaf in section.leaves)
    return "{" + inner + ("\n}" if section.multiline else "}")


def _write_section(w: Writer, name: str, section: Section, column: int, step: int) -> None:
    pad = " " * column
    if section.form == "null":
        w.lines.append(pad + _entry(name, section.null_text) + w.note(section.comment))
    elif section.form == "empty":
        w.lines.append(f"{pad}{name}: {{}}" + w.note(section.comment))
    elif section.form == "flow":
        flow = _flow_section(section).replace("\n", "\n" + pad + " " * step)
        w.lines.extend((f"{pad}{name}: {flow}" + w.note(section.comment)).split("\n"))
    else:
        w.lines.append(f"{pad}{name}:" + w.note(section.comment))
        for index, (key, leaf) in enumerate(section.leaves):
            if section.comment_before == index:
                w.lines.append(" " * (column + step) + w.note(True).strip())
            w.lines.append(" " * (column + step) + _entry(key, _leaf_text(leaf)) + w.note(leaf.comment))


def _write_resources(w: Writer, container: Container, column: int, step: int) -> None:
    res = container.resources
    assert res is not None
    pad = " " * column
    if container.resources_alias is not None:
        w.lines.append(f"{pad}resources: *{container.resources_alias}")
        return
    anchor = f" &{res.anchor}" if res.anchor else ""
    if res.form == "null":
        w.lines.append(pad + _entry("resources", res.null_text) + w.note(res.comment))
    elif res.form == "empty":
        w.lines.append(f"{pad}resources:{anchor} {{}}" + w.note(res.comment))
    elif res.form == "flow":
        inner = ", ".join(f"{name}: " + (_flow_section(s) if s.form == "flow" else "{}") for name, s in res.sections)
        w.lines.append(f"{pad}resources:{anchor} {{{inner}}}" + w.note(res.comment))
    else:
        w.lines.append(f"{pad}resources:{anchor}" + w.note(res.comment))
        for name, section in res.sections:
            _write_section(w, name, section, column + step, step)


def _write_container(w: Writer, container: Container, column: int, style: Style) -> None:
    """The container mapping at ``column``; its first line starts with the sequence dash."""
    first = len(w.lines)
    pad, step = " " * column, style.step
    for key in container.keys:
        if key == "resources":
            _write_resources(w, container, column, step)
        elif key == "name":
            w.lines.append(f"{pad}name: {container.name}")
        elif key == "image":
            w.lines.append(f"{pad}image: nginx:1.25" + w.note(True))
        elif key == "ports":
            w.lines.append(f"{pad}ports:")
            w.lines.append(pad + " " * (step if style.indented_sequences else 0) + "- containerPort: 8080")
        elif key == "script":
            w.lines.append(f"{pad}script: |")
            w.lines.extend(pad + " " * step + line for line in SCRIPT_LINES)
    dash = " " * (column - style.dash_gap - 1) + "-" + " " * style.dash_gap
    w.lines[first] = dash + w.lines[first][column:]


def render(case: Case) -> str:
    style, s = case.style, " " * case.style.step
    w = Writer()
    for index, containers in enumerate(case.docs):
        if index or style.leading_marker:
            w.lines.append("---")
        w.lines += ["apiVersion: apps/v1", "kind: Deployment", "metadata:", f"{s}name: web-{index}" + w.note(True)]
        w.lines += ["spec:", f"{s}replicas: 2", f"{s}template:", f"{s}{s}spec:", f"{s}{s}{s}containers:"]
        seq_column = 3 * style.step + (style.step if style.indented_sequences else 0)
        for container in containers:
            _write_container(w, container, seq_column + 1 + style.dash_gap, style)
    text = style.line_end.join(w.lines)
    return text + style.line_end if style.final_newline else text


def model_data(case: Case) -> list[Any]:
    """The data every document of ``render(case)`` means, computed from the model."""
    out = []
    for index, containers in enumerate(case.docs):
        items = []
        for c_index, container in enumerate(containers):
            item: dict[str, Any] = {}
            for key in container.keys:
                if key == "resources":
                    assert container.resources is not None
                    item[key] = container.resources.data
                elif key == "name":
                    item[key] = container.name
                elif key == "image":
                    item[key] = "nginx:1.25"
                elif key == "ports":
                    item[key] = [{"containerPort": 8080}]
                elif key == "script":
                    at_end = (index, c_index, key) == (len(case.docs) - 1, len(containers) - 1, container.keys[-1])
                    item[key] = "\n".join(SCRIPT_LINES) + ("" if at_end and not case.style.final_newline else "\n")
            items.append(item)
        out.append({
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": f"web-{index}"},
            "spec": {"replicas": 2, "template": {"spec": {"containers": items}}},
        })
    return out


# -- planning the edit the way changeset does it ------------------------------------------------


@dataclass
class Op:
    """One call of the splice API: a replacement or an insertion of a tree under ``anchor``."""

    kind: str  # "replace" or "insert"
    path: tuple[Any, ...]  # the scalar (replace) or the anchor mapping (insert)
    shared: bool  # reached through an anchor or alias: gitbot must refuse
    text: str = ""  # replace: the new value
    old: str = ""  # replace: the characters that must be replaced
    tree: dict[str, Any] | None = None  # insert: keys -> texts or sub-trees
    changes: list[tuple[tuple[str, ...], Any]] | None = None  # (path below the container, expected data)


def plan(case: Case) -> list[Op]:
    """The splice calls for ``case.changes``: a replacement for each value that is written, one
    insertion per deepest existing mapping for the rest (in gitbot's field order)."""
    container = case.docs[case.doc][case.container]
    base = CONTAINERS + (case.container,)
    res = container.resources
    shared_res = res is not None and (container.resources_alias is not None or res.anchor is not None)
    ops: list[Op] = []
    inserts: dict[tuple[Any, ...], Op] = {}
    for change in sorted(case.changes, key=lambda c: GITBOT_ORDER.index((c.section, c.key))):
        section = dict(res.sections).get(change.section) if res is not None and res.form in ("block", "flow") else None
        leaf = dict(section.leaves).get(change.key) if section is not None and section.form in ("block", "flow") else None
        target = ("resources", change.section, change.key)
        if leaf is not None:
            ops.append(Op(
                "replace", base + target, shared_res or leaf.anchor is not None or leaf.alias is not None,
                text=change.text, old=leaf.source,
                changes=[(target, change.text if leaf.quote else plain_value(change.text))],
            ))
            continue
        depth = 0 if res is None else 1 if section is None else 2
        anchor = base + target[:depth]
        quoted = section is not None and section.form == "flow" and section.json_keys  # {"cpu": "1"}: strings
        op = inserts.setdefault(anchor, Op("insert", anchor, shared_res and depth > 0, tree={}, changes=[]))
        assert op.tree is not None and op.changes is not None
        node = op.tree
        for key in target[depth:-1]:
            node = node.setdefault(key, {})
        node[change.key] = change.text
        op.changes.append((target, change.text if quoted else plain_value(change.text)))
    return ops + list(inserts.values())


def call(op: Op, text: str, doc: YamlDocument) -> Splice:
    if op.kind == "replace":
        return replace_scalar(text, doc, op.path, op.text)
    assert op.tree is not None
    return insert_fields(text, doc, op.path, copy.deepcopy(op.tree))


def expected_after(case: Case, ops: list[Op]) -> list[Any]:
    data = model_data(case)
    container = data[case.doc]["spec"]["template"]["spec"]["containers"][case.container]
    for op in ops:
        assert op.changes is not None
        for path, value in op.changes:
            node = container
            for key in path[:-1]:
                if not isinstance(node.get(key), dict):
                    node[key] = {}
                node = node[key]
            node[path[-1]] = value
    return data


def _mapping(data: list[Any], case: Case, path: tuple[Any, ...]) -> Any:
    node: Any = data[case.doc]
    for key in path:
        node = node[key]
    return node


def _splice(text: str, splice: Splice) -> str:
    return text[: splice.start] + splice.text + text[splice.end:]


def _check_removed(op: Op, text: str, splice: Splice) -> None:
    """A splice removes nothing but the old value (or an empty ``{}``/null it replaces)."""
    removed = text[splice.start:splice.end]
    if op.kind == "replace":
        assert removed == op.old, f"replaced {removed!r}, not the value {op.old!r}"
    else:
        assert removed.strip() in ("", "{}", "~", "null"), f"an insertion removed {removed!r}"


def check_edit(case: Case, together: bool = False) -> None:
    """The whole property: refuse what is shared, else re-parse to exactly the intended change.

    By default each splice is computed on the text the previous one produced (the API's own
    contract). With ``together``, all splices are computed on the original text and applied at
    once by ``apply_splices``, as ``changeset._splice_file`` does."""
    text = render(case)
    parsed = parse_yaml(text, "t.yaml")
    before = [d.data for d in parsed]
    assert before == model_data(case), "the test's own model and renderer disagree"

    done: list[Op] = []
    splices: list[Splice] = []
    after = text
    for op in plan(case):
        current = after if not together else text
        doc = parse_yaml(current, "t.yaml")[case.doc] if not together else parsed[case.doc]
        if op.shared:
            with pytest.raises(CannotEdit):
                call(op, current, doc)
            continue
        splice = call(op, current, doc)
        _check_removed(op, current, splice)
        done.append(op)
        if together:
            splices.append(splice)
        else:
            after = _splice(after, splice)
    if together:
        after = apply_splices(text, splices)

    new_data = [d.data for d in parse_yaml(after, "t.yaml")]
    assert new_data == expected_after(case, done)
    # comments survive, once each and in order
    assert re.findall(r"# note-\d+", after) == re.findall(r"# note-\d+", text)
    # line ends stay what they were
    if case.style.line_end == "\r\n":
        assert after.count("\n") == after.count("\r\n") and after.count("\r") == after.count("\r\n")
    else:
        assert "\r" not in after
    assert after.endswith(case.style.line_end) == text.endswith(case.style.line_end)
    # new keys go where a person would put them: requests before limits, cpu before memory
    for op in done:
        if op.kind == "insert":
            known = [k for k in _mapping(new_data, case, op.path) if k in CANONICAL]
            old_known = [k for k in (_mapping(before, case, op.path) or {}) if k in CANONICAL]
            if old_known == sorted(old_known, key=CANONICAL.__getitem__):
                assert known == sorted(known, key=CANONICAL.__getitem__), known


@SLOW
@given(case=cases())
def test_splices_reparse_to_exactly_the_intended_change(case: Case) -> None:
    check_edit(case)


@SOME
@given(case=cases(anchors=False))
def test_splices_without_anchors_are_never_refused(case: Case) -> None:
    """Without anchors every edit goes through (``check_edit`` fails on an unexpected refusal)."""
    assert not any(op.shared for op in plan(case))
    check_edit(case)


@SOME
@given(case=cases(), anchor=st.sampled_from(["resources", "leaf"]))
def test_edits_through_an_anchor_are_refused(case: Case, anchor: str) -> None:
    """Anchor the edited container's resources (or its first leaf): every call on it is refused."""
    docs = [list(d) for d in case.docs]
    container = docs[case.doc][case.container]
    res = container.resources
    if res is None or res.form == "null" or container.resources_alias is not None:
        res = Resources("block", (("requests", Section("block", (("cpu", Leaf("100m")),))),))
        container = replace(container, keys=(*container.keys, "resources") if "resources" not in container.keys else container.keys)
    if anchor == "resources":
        res = replace(res, anchor=res.anchor or "pinned")
    elif res.form == "block":
        name, section = res.sections[0]
        if section.form in ("block", "flow"):
            key, leaf = section.leaves[0]
            leaves = ((key, replace(leaf, anchor=leaf.anchor or "pinned", alias=None)), *section.leaves[1:])
            res = replace(res, sections=((name, replace(section, leaves=leaves)), *res.sections[1:]))
    docs[case.doc][case.container] = replace(container, resources=res, resources_alias=None)
    edited = replace(case, docs=tuple(tuple(d) for d in docs))
    if anchor == "resources":
        assert all(op.shared for op in plan(edited))
    check_edit(edited)


# -- regression tests for what the properties above found ------------------------------------------


def _single(containers: tuple[Container, ...], *changes: Change, final_newline: bool = True) -> Case:
    """A one-document, LF, 2-space case editing the first container."""
    return Case((containers,), Style(2, True, 1, "\n", final_newline, False), 0, 0, tuple(changes))


def _requests_cpu(resources_form: str = "flow") -> Resources:
    """``resources: {requests: {cpu: 1}}`` (or the block form of the outer mapping)."""
    return Resources(resources_form, (("requests", Section("flow", (("cpu", Leaf("1")),))),))


def _multiline_flow(case: Case) -> Case:
    """Write every flow section of the file with its closing brace on the next line."""

    def fix(c: Container) -> Container:
        if c.resources is None or c.resources.form != "block" or c.resources_alias:
            return c
        sections = tuple((n, replace(s, multiline=s.form == "flow")) for n, s in c.resources.sections)
        return replace(c, resources=replace(c.resources, sections=sections))

    return replace(case, docs=tuple(tuple(fix(c) for c in d) for d in case.docs))



@FEW
@given(case=cases(anchors=False, flow=True))
@example(case=_single((Container("c0", ("name", "resources"), _requests_cpu()),), Change("limits", "memory", "1Gi")))
def test_insert_into_a_flow_mapping_whose_last_value_is_a_flow_mapping(case: Case) -> None:
    """``resources: {requests: {cpu: 1}}`` + limits -> ``{requests: {cpu: 1, limits: {...}}}``."""
    check_edit(case)



@FEW
@given(case=cases(anchors=False).map(_multiline_flow))
@example(case=_multiline_flow(_single((Container("c0", ("name", "resources"), _requests_cpu("block")),), Change("limits", "memory", "1Gi"))))
def test_insert_after_a_multiline_flow_mapping(case: Case) -> None:
    """``requests: {cpu: 1\\n  }`` as the last entry: the new ``limits`` lands before the ``}``."""
    check_edit(case)



@FEW
@given(case=cases(anchors=False, docs=sections(("block",), empty_null_leaves=True).map(
    lambda s: (Container("c0", ("name", "resources"), Resources("block", (("requests", s),))),)
)))
@example(case=_single(
    (Container("c0", ("name", "resources"), Resources("block", (("requests", Section("block", (("cpu", Leaf(None, null_text="")),))),))),),
    Change("requests", "cpu", "250m"),
))
def test_set_a_field_written_with_an_empty_value(case: Case) -> None:
    """``cpu:`` (an empty null) set to 250m becomes ``cpu:250m``: ``requests`` turns into a string."""
    check_edit(case)



@FEW
@given(block=st.booleans())
@example(block=True)
def test_insert_after_a_mapping_that_ends_with_an_alias(block: bool) -> None:
    """``a: {cpu: &c 1}`` / ``b: {cpu: *c}``: the alias's marks are the anchor's, so an insertion
    after it would land in a's mapping; it is refused instead."""
    anchored = Leaf("1", anchor="c")
    first = Container("c0", ("name", "resources"), Resources("block", (("requests", Section("block" if block else "flow", (("cpu", anchored),))),)))
    alias = replace(anchored, anchor=None, alias="c")
    second = Container("c1", ("name", "resources"), Resources("block", (("requests", Section("block" if block else "flow", (("cpu", alias),))),)))
    case = replace(_single((first, second), Change("requests", "memory", "64Mi")), container=1)
    text = render(case)
    (op,) = plan(case)
    with pytest.raises(CannotEdit, match="ends with an alias"):
        call(op, text, parse_yaml(text, "t.yaml")[case.doc])



@FEW
@given(case=cases(anchors=False, eof_block_scalar=True).filter(lambda c: not c.style.final_newline))
@example(case=_single((Container("c0", ("name", "script"), None),), Change("requests", "cpu", "1"), final_newline=False))
def test_insert_after_a_block_scalar_at_the_end_of_the_file(case: Case) -> None:
    """``script: |\n  echo two`` (no newline at EOF) + resources: a newline before the new keys would
    join the scalar's value (``echo two\n``), so such an insertion is refused; any other is exact."""
    text = render(case)
    try:
        call(plan(case)[0], text, parse_yaml(text, "t.yaml")[case.doc])
    except CannotEdit as exc:
        assert "block scalar at the end of the file" in str(exc)
        return
    check_edit(case)



@FEW
@given(case=cases(anchors=False))
@example(case=_single(
    (Container("c0", ("name", "resources", "image"), Resources("block", (("requests", Section("block", (("cpu", Leaf("100m")),))),))),),
    Change("limits", "cpu", "1"), Change("requests", "memory", "64Mi"),
))
def test_splices_computed_together_compose(case: Case) -> None:
    """``requests: {cpu}`` + a cpu limit + a memory request: the new ``limits`` block and the new
    ``memory`` line both insert after ``cpu: 100m``; sorted stably in field order, ``limits`` is
    written first, so ``memory`` lands under ``limits``."""
    check_edit(case, together=True)
