"""Streaming reader and writer for OpenMetrics text files of raw, timestamped samples.

A metrics snapshot is an OpenMetrics exposition where every sample carries its timestamp, the same
file that ``promtool tsdb create-blocks-from openmetrics`` backfills into Prometheus.

Reading (:func:`read_series`) goes line by line, so a large (optionally gzipped) file never sits in
memory as one string. It also accepts Prometheus' older text format (blank lines, ``#`` comments,
no ``# EOF``, a trailing comma in a label set), with one caveat: **timestamps are always read as
OpenMetrics seconds**. Prometheus text format writes integer milliseconds; such a file reads with
timestamps a thousand times too large, and no guess is made. Exemplars are ignored; ``# TYPE``,
``# HELP`` and ``# UNIT`` lines are checked for shape but not kept. Label sets are kept as written
(an empty label value stays a label).

A file that is plainly something else (a saved Prometheus API JSON answer, an HTML page, zstd or
another compression, a ``.gz`` name on something else) is refused before the first line, saying what
it is (:func:`sniff`): its sample lines would only give "bad metric name".

Writing (:func:`write_openmetrics`) emits families in the given order, each family's samples
contiguous, in a form Prometheus' OpenMetrics parser accepts. Numbers are written exactly, so
reading a written file gives back identical arrays.
"""

from __future__ import annotations

import gzip
import math
import re
import zlib
from array import array
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

import numpy as np

_NAME = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*\Z")
_LABEL_NAME = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*\Z")
_LABEL_PAIR = re.compile(r'\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*=\s*"((?:[^"\\\n]|\\.)*)"\s*(,|\Z)')
_ESCAPE = re.compile(r"\\(.)")
_UNESCAPED = {"\\": "\\", '"': '"', "n": "\n"}
# Sample-name suffixes each family type may use (OpenMetrics).
_SUFFIXES = {
    "counter": ("_total", "_created"),
    "gauge": ("",),
    "unknown": ("",),
    "stateset": ("",),
    "info": ("_info",),
    "histogram": ("_bucket", "_count", "_sum", "_created"),
    "gaugehistogram": ("_bucket", "_gcount", "_gsum"),
    "summary": ("", "_count", "_sum", "_created"),
}
_Key = tuple[str, tuple[tuple[str, str], ...]]  # (sample name, sorted labels)
_DESCRIPTORS = {"TYPE": 2, "HELP": 1, "UNIT": 1}  # minimum words after the keyword


class OpenMetricsError(Exception):
    """A malformed metrics file; ``str()`` is ``<path>:<line>: <message>`` when both are known."""

    def __init__(self, message: str, path: Path | str | None = None, line: int | None = None) -> None:
        self.message, self.path, self.line = message, path, line
        where = "" if path is None else f"{path}:" if line is None else f"{path}:{line}:"
        super().__init__(f"{where} {message}" if where else message)


@dataclass(frozen=True)
class Series:
    """One time series: a sample name, its sorted label pairs and its samples in time order."""

    name: str
    labels: tuple[tuple[str, str], ...]
    timestamps: np.ndarray
    values: np.ndarray

    def label(self, key: str, default: str = "") -> str:
        for k, v in self.labels:
            if k == key:
                return v
        return default


@dataclass(frozen=True)
class Family:
    """A metric family as in ``# TYPE``; counter families are named without ``_total``."""

    name: str
    type: str
    help: str | None
    series: list[Series]


class _Builder:
    __slots__ = ("labels", "name", "ts", "vals")

    def __init__(self, name: str, labels: tuple[tuple[str, str], ...]) -> None:
        self.name, self.labels = name, labels
        self.ts, self.vals = array("d"), array("d")

    def add(self, value: str, stamp: str) -> None:
        """One sample, as written."""
        try:
            v, t = float(value), float(stamp)
        except ValueError:
            raise OpenMetricsError(f"bad number in {(value + ' ' + stamp)[:60]!r}") from None
        if not math.isfinite(t):
            raise OpenMetricsError(f"bad timestamp {stamp!r}")
        self.ts.append(t)
        self.vals.append(v)

    def build(self) -> Series:
        ts = np.array(self.ts, dtype=np.float64)
        vals = np.array(self.vals, dtype=np.float64)
        if ts.size > 1 and not bool(np.all(ts[1:] > ts[:-1])):
            order = np.argsort(ts, kind="stable")
            ts, vals = ts[order], vals[order]
            keep = np.append(ts[1:] != ts[:-1], True)  # of equal timestamps, the last one read
            ts, vals = ts[keep], vals[keep]
        return Series(self.name, self.labels, ts, vals)


def read_series(path: Path, names: Iterable[str] | None = None) -> dict[str, list[Series]]:
    """Samples of ``path`` grouped into series, keyed by sample name; only ``names`` when given.

    Series come in the order first seen, each sorted by time (of equal timestamps the last read
    wins). Lines of samples not asked for are checked only for their name and label-set shape.
    """
    sniffed = sniff(path)
    if sniffed.problem is not None:
        raise OpenMetricsError(sniffed.problem if sniffed.gzipped or path.suffix != ".gz"
                               else f"not gzip (it {sniffed.looks}); {sniffed.problem}", path)
    wanted = None if names is None else frozenset(names)
    by_prefix: dict[str, _Builder | None] = {}  # "name{raw labels}" as written -> its series
    by_key: dict[_Key, _Builder] = {}
    lineno = 0
    try:
        seen_eof = False
        for lineno, line in _lines(path):
            if seen_eof:
                if line.strip():
                    raise OpenMetricsError("content after '# EOF'")
                continue
            if not line or line[0] == "#":
                seen_eof = _comment(line)
                continue
            # the common line, "<name>{<labels>} <value> <timestamp>": the last two spaces end the
            # series (a value or timestamp has none); anything else takes the careful path
            head, _, tail = line.rpartition(" ")
            head, _, middle = head.rpartition(" ")
            if head and middle and tail and "\t" not in line and "#" not in line and (
                head[-1] == "}" if "{" in head else " " not in head
            ):
                try:
                    builder = by_prefix[head]
                except KeyError:
                    builder = by_prefix[head] = _new_series(head, wanted, by_key)
                if builder is not None:
                    builder.add(middle, tail)
                continue
            brace = line.find("{")
            if brace != -1 and " " not in line[:brace] and "\t" not in line[:brace]:
                end = _label_end(line, brace)
                prefix, rest = line[: end + 1], line[end + 1 :]
            else:
                prefix, _, rest = line.replace("\t", " ").partition(" ")
            try:
                builder = by_prefix[prefix]
            except KeyError:
                builder = by_prefix[prefix] = _new_series(prefix, wanted, by_key)
            if builder is None:
                continue
            words = rest.split()
            if len(words) < 2 or words[1] == "#":
                raise OpenMetricsError("sample has no timestamp (a snapshot needs one on every sample)" if words else "sample has no value")
            if len(words) > 2 and words[2] != "#":
                raise OpenMetricsError(f"unexpected text after the timestamp: {words[2][:40]!r}")
            builder.add(words[0], words[1])
    except OpenMetricsError as exc:
        raise OpenMetricsError(exc.message, path, exc.line or lineno) from None
    except (EOFError, zlib.error, gzip.BadGzipFile) as exc:
        raise OpenMetricsError(f"corrupt gzip data: {exc}", path, lineno + 1) from None
    result: dict[str, list[Series]] = {}
    for builder in by_key.values():
        result.setdefault(builder.name, []).append(builder.build())
    return result


@dataclass(frozen=True)
class Sniffed:
    """What a metrics file's first bytes look like, before reading it line by line."""

    gzipped: bool
    looks: str  # "starts like JSON", "is empty" ...: for a message
    problem: str | None  # why it is not OpenMetrics text (the sample lines would only say "bad metric name")


GZIP_MAGIC = b"\x1f\x8b"
_SNIFF_BYTES = 4096
_OTHER_COMPRESSION = ((re.compile(rb"\x28\xb5\x2f\xfd"), "zstd"), (re.compile(rb"BZh[1-9]1AY&SY"), "bzip2"),
                      (re.compile(rb"\xfd7zXZ\x00"), "xz"), (re.compile(rb"\x04\x22\x4d\x18"), "lz4"), (re.compile(rb"PK\x03\x04"), "zip"))
_SAMPLE_LINE = re.compile(rb"[a-zA-Z_:][a-zA-Z0-9_:]*(\{.*\})?[ \t]+\S+([ \t]+\S+)?[ \t]*\r?")  # name{labels} value [timestamp]
_JSON = re.compile(rb'\s*(\[|\{\s*("(?:[^"\\]|\\.)*"\s*:|\}))')  # a quoted metric name reads {"name", ...} or {"name"}
_API_STATUS = re.compile(rb'\s*\{\s*"status"\s*:')  # Prometheus writes {"status":"success","data":{"resultType":...
_RESULT_TYPE = re.compile(rb'"resultType"\s*:\s*"(\w+)"')
_MARKUP = re.compile(rb"\s*<(!doctype|html|head|body|\?xml)", re.IGNORECASE)
_SNAPSHOT_HINT = "`gitbot snapshot` records one from Prometheus (or read the server itself with --prometheus-url)"


def sniff(path: Path) -> Sniffed:
    """Look at the first bytes of ``path`` (of its content when gzipped): a saved Prometheus API
    answer, an HTML page or another compression is named as such, not reported as a bad sample line."""
    with open(path, "rb") as raw:
        head = raw.read(_SNIFF_BYTES)
    gzipped = head.startswith(GZIP_MAGIC)
    if gzipped:
        try:
            with gzip.open(path, "rb") as stream:
                head = stream.read(_SNIFF_BYTES)
        except (OSError, EOFError, zlib.error):
            return Sniffed(True, "is corrupt gzip", None)  # the line reader says where
    looks, problem = _looks_like(head)
    return Sniffed(gzipped, looks, problem)


def _looks_like(head: bytes) -> tuple[str, str | None]:
    for magic, name in _OTHER_COMPRESSION:
        if magic.match(head):
            what = "a zip archive" if name == "zip" else f"{name}-compressed"
            return f"starts like {name} data", f"{what}; a metrics file is OpenMetrics text, plain or gzip"
    if not head.strip():
        return "is empty", None
    if _JSON.match(head):
        result_type = _RESULT_TYPE.search(head)
        if result_type is not None or _API_STATUS.match(head):
            kind = f" (resultType {result_type.group(1).decode()})" if result_type is not None else ""
            return "starts like JSON", f"a Prometheus API JSON answer{kind}, not an OpenMetrics snapshot; {_SNAPSHOT_HINT}"
        return "starts like JSON", f"JSON, not an OpenMetrics snapshot (lines of name{{labels}} value timestamp); {_SNAPSHOT_HINT}"
    if _MARKUP.match(head):
        return "starts like HTML", "an HTML page (a login or error page saved instead?), not an OpenMetrics snapshot"
    if b"\x00" in head:
        return "starts like binary data", "binary data, not OpenMetrics text"
    first = head.lstrip().split(b"\n", 1)[0]
    return ("starts like OpenMetrics text" if first.startswith(b"#") or _SAMPLE_LINE.fullmatch(first) else "starts like plain text"), None


def _lines(path: Path) -> Iterator[tuple[int, str]]:
    with open(path, "rb") as raw:
        gzipped = raw.read(2) == GZIP_MAGIC
    lineno = 0
    rest = b""
    with gzip.open(path, "rb") if gzipped else open(path, "rb") as stream:
        while True:  # a megabyte at a time, split and decoded in C, not a readline() call per line
            chunk = stream.read(1 << 20)
            block, newline, rest = (rest + chunk).rpartition(b"\n") if chunk else (rest, b"\n" if rest else b"", b"")
            if not newline:
                if not chunk:
                    return
                rest = block + rest
                continue
            for line in _decode(block, path, lineno).split("\n"):
                lineno += 1
                yield lineno, line.rstrip("\r")
            if not chunk:
                return


def _decode(block: bytes, path: Path, lineno: int) -> str:
    """UTF-8 text of whole lines; an error names its line (``lineno`` lines came before)."""
    try:
        return block.decode("utf-8")
    except UnicodeDecodeError:
        for offset, data in enumerate(block.split(b"\n"), lineno + 1):
            try:
                data.decode("utf-8")
            except UnicodeDecodeError as exc:
                raise OpenMetricsError(f"not UTF-8 text (byte {exc.start + 1} of the line)", path, offset) from None
        raise  # pragma: no cover - some line must fail


def _comment(line: str) -> bool:
    """Check a ``#`` line (or a blank one); True for ``# EOF``."""
    words = line.split()
    if words == ["#", "EOF"]:
        return True
    if len(words) > 1 and words[0] == "#" and words[1] in _DESCRIPTORS:
        if len(words) < 2 + _DESCRIPTORS[words[1]] or (words[1] == "TYPE" and len(words) != 4):
            raise OpenMetricsError(f"malformed '# {words[1]}' line")
        if not _NAME.match(words[2]):
            raise OpenMetricsError(f"bad metric name {words[2]!r} in '# {words[1]}'")
    return False  # other '#' lines are Prometheus text-format comments


def _label_end(line: str, brace: int) -> int:
    """Index of the ``}`` closing the label set that opens at ``brace``."""
    close = line.find("}", brace)
    if close != -1:
        inside = line[brace:close]
        if "\\" not in inside and inside.count('"') % 2 == 0:
            return close
    quoted = escaped = False
    for i in range(brace + 1, len(line)):
        ch = line[i]
        if escaped:
            escaped = False
        elif ch == "\\":
            escaped = quoted
        elif ch == '"':
            quoted = not quoted
        elif ch == "}" and not quoted:
            return i
    raise OpenMetricsError("unterminated label set")


def _new_series(prefix: str, wanted: frozenset[str] | None, by_key: dict[_Key, _Builder]) -> _Builder | None:
    brace = prefix.find("{")
    name = prefix if brace == -1 else prefix[:brace].rstrip()
    if not _NAME.match(name):
        raise OpenMetricsError(f"bad metric name {name[:60]!r}")
    if wanted is not None and name not in wanted:
        return None
    labels = () if brace == -1 else _parse_labels(prefix[brace + 1 : -1])
    key = (name, labels)
    if key not in by_key:
        by_key[key] = _Builder(name, labels)
    return by_key[key]


def _parse_labels(text: str) -> tuple[tuple[str, str], ...]:
    pairs: dict[str, str] = {}
    pos = 0
    while pos < len(text) and text[pos:].strip():
        match = _LABEL_PAIR.match(text, pos)
        if match is None:
            raise OpenMetricsError(f"malformed label set {{{text[:80]}}}")
        key, value = match.group(1), match.group(2)
        if key in pairs:
            raise OpenMetricsError(f"label {key!r} given twice")
        pairs[key] = _ESCAPE.sub(_unescape, value) if "\\" in value else value
        pos = match.end()
        if match.group(3) == "":
            break
    return tuple(sorted(pairs.items()))


def _unescape(match: re.Match[str]) -> str:
    char = match.group(1)
    if char not in _UNESCAPED:
        raise OpenMetricsError(f"invalid escape '\\{char}' in a label value")
    return _UNESCAPED[char]


def write_openmetrics(out: TextIO, families: Iterable[Family]) -> None:
    """Write ``families`` in order as OpenMetrics text, ending with ``# EOF``."""
    seen: set[str] = set()
    for family in families:
        _check_family(family, seen)
        out.write(f"# TYPE {family.name} {family.type}\n")
        if family.help is not None:
            out.write(f"# HELP {family.name} {_escape(family.help)}\n")
        for series in family.series:
            _check_series(family, series)
            labels = ",".join(f'{k}="{_escape(v)}"' for k, v in sorted(series.labels))
            prefix = f"{series.name}{{{labels}}} " if labels else f"{series.name} "
            values = map(format_number, np.asarray(series.values, dtype=np.float64).tolist())
            stamps = map(format_number, np.asarray(series.timestamps, dtype=np.float64).tolist())
            out.write("".join(f"{prefix}{v} {t}\n" for v, t in zip(values, stamps)))
    out.write("# EOF\n")


def format_number(x: float) -> str:
    """Shortest exact text for ``x``: ``12``, ``0.25``, ``1e-05``, ``NaN``, ``+Inf``, ``-Inf``."""
    if math.isnan(x):
        return "NaN"
    if math.isinf(x):
        return "+Inf" if x > 0 else "-Inf"
    if x.is_integer() and abs(x) < 1e15:
        return str(int(x))
    return repr(x)


def _escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _check_family(family: Family, seen: set[str]) -> None:
    if not _NAME.match(family.name):
        raise ValueError(f"invalid metric family name {family.name!r}")
    if family.type not in _SUFFIXES:
        raise ValueError(f"family {family.name}: unknown type {family.type!r}")
    if family.type == "counter" and family.name.endswith("_total"):
        raise ValueError(f"counter family {family.name!r} must be named without the _total suffix")
    if family.name in seen:
        raise ValueError(f"family {family.name!r} written twice (its samples must be contiguous)")
    seen.add(family.name)


def _check_series(family: Family, series: Series) -> None:
    allowed = [family.name + suffix for suffix in _SUFFIXES[family.type]]
    if series.name not in allowed:
        raise ValueError(f"family {family.name} ({family.type}): sample name {series.name!r} is not one of {allowed}")
    keys = [k for k, _ in series.labels]
    if len(set(keys)) != len(keys) or not all(_LABEL_NAME.match(k) and k != "__name__" for k in keys):
        raise ValueError(f"series {series.name}: invalid or repeated label names {keys}")
    ts = np.asarray(series.timestamps, dtype=np.float64)
    if ts.shape != np.shape(series.values) or ts.ndim != 1:
        raise ValueError(f"series {series.name}: timestamps and values differ in shape")
    if not np.all(np.isfinite(ts)) or not np.all(ts[1:] > ts[:-1]):
        raise ValueError(f"series {series.name}: timestamps must be finite and strictly ascending")


def write_file(path: Path, families: Iterable[Family]) -> None:
    """Write ``families`` to ``path`` atomically (temp file + rename); gzip when it ends in ``.gz``,
    with a fixed header mtime so the same families give the same bytes."""
    import io
    import os
    import tempfile

    buffer = io.StringIO()
    write_openmetrics(buffer, families)
    data = buffer.getvalue().encode("utf-8")
    handle, tmp = tempfile.mkstemp(prefix=".gitbot-", dir=path.resolve().parent)
    try:
        with os.fdopen(handle, "wb") as raw:
            if path.suffix == ".gz":
                with gzip.GzipFile(filename="", mode="wb", fileobj=raw, compresslevel=9, mtime=0) as gz:
                    gz.write(data)
            else:
                raw.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def families_of(series: dict[str, list[Series]]) -> list[Family]:
    """Group raw series by sample name into families (``*_total`` samples are counters)."""
    out = []
    for name in sorted(series):
        if not series[name]:
            continue
        if name.endswith("_total"):
            out.append(Family(name[: -len("_total")], "counter", None, series[name]))
        else:
            out.append(Family(name, "gauge", None, series[name]))
    return out
