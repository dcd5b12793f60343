"""OpenMetrics snapshot files: parsing edge cases, errors with line numbers, exact round trips, promtool."""

from __future__ import annotations

import gzip
import io
import math
import os
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from gitbot.metrics.openmetrics import (
    Family,
    OpenMetricsError,
    Series,
    format_number,
    read_series,
    write_openmetrics,
)

needs_promtool = pytest.mark.skipif(
    shutil.which("promtool") is None and os.environ.get("GITBOT_REQUIRE_PROMETHEUS") != "1", reason="promtool not installed"
)


def write(tmp_path: Path, text: str, name: str = "m.om") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def one(result: dict[str, list[Series]], name: str) -> Series:
    assert len(result[name]) == 1
    return result[name][0]


def test_openmetrics_file_with_metadata_labels_and_escapes(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "# TYPE cpu counter\n"
        "# HELP cpu Total CPU.\n"
        "# UNIT cpu seconds\n"
        'cpu_total{pod="a",namespace="x"} 1 100\n'
        'cpu_total{namespace="x",pod="a"} 2.5 160.5\n'
        'cpu_total{pod="q\\"uote\\\\back\\nline}{",namespace="x"} 1e3 100\n'
        "# TYPE up gauge\n"
        "up 1 100\n"
        "up{} -2 200\n"
        "# EOF\n",
    )
    result = read_series(path)
    assert list(result) == ["cpu_total", "up"]
    plain, odd = result["cpu_total"]
    assert plain.labels == (("namespace", "x"), ("pod", "a"))  # label order does not split a series
    assert plain.timestamps.tolist() == [100.0, 160.5] and plain.values.tolist() == [1.0, 2.5]
    assert plain.timestamps.dtype == np.float64 and plain.values.dtype == np.float64
    assert odd.label("pod") == 'q"uote\\back\nline}{' and odd.values.tolist() == [1000.0]
    assert odd.label("missing", "dflt") == "dflt"
    up = one(result, "up")
    assert up.labels == () and up.values.tolist() == [1.0, -2.0]


def test_special_values_and_exemplars(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "a +Inf 1\na -Inf 2\na NaN 3\na 1.5e-3 4\n"
        'b_total{x="1"} 7 10 # {trace_id="abc def"} 1 9.5\n'
        "# EOF\n",
    )
    result = read_series(path)
    values = one(result, "a").values
    assert values[0] == math.inf and values[1] == -math.inf and math.isnan(values[2]) and values[3] == 0.0015
    assert one(result, "b_total").values.tolist() == [7.0]


def test_prometheus_text_format_without_eof(tmp_path: Path) -> None:
    # Comments, blank lines, a trailing comma and tabs are all Prometheus text format; timestamps
    # are taken as seconds whatever their size (no guessing of milliseconds).
    path = write(tmp_path, '# a comment\n\nm{a="1",} 3 1700000000000\nm\t4\t1700000060000\n')
    result = read_series(path)
    assert [s.labels for s in result["m"]] == [(("a", "1"),), ()]
    assert result["m"][0].timestamps.tolist() == [1.7e12]


def test_gzip_detected_by_magic_bytes(tmp_path: Path) -> None:
    path = tmp_path / "snapshot.txt"  # no .gz suffix
    path.write_bytes(gzip.compress(b"m 1 10\nm 2 20\n# EOF\n"))
    assert one(read_series(path), "m").values.tolist() == [1.0, 2.0]


def test_samples_sorted_and_duplicates_keep_last(tmp_path: Path) -> None:
    path = write(tmp_path, "m 3 30\nm 1 10\nm 2 20\nm 9 10\n# EOF\n")
    s = one(read_series(path), "m")
    assert s.timestamps.tolist() == [10.0, 20.0, 30.0] and s.values.tolist() == [9.0, 2.0, 3.0]


def test_names_filter(tmp_path: Path) -> None:
    path = write(tmp_path, 'a{x="1"} 1 1\nb 2 1\nc_total 3 1\n# EOF\n')
    assert set(read_series(path, ["a", "c_total", "zzz"])) == {"a", "c_total"}
    assert read_series(path, []) == {}


@pytest.mark.parametrize(
    ("text", "line", "message"),
    [
        ("m 1 1\nm 2\n", 2, "no timestamp"),
        ("m 1 1\n\nm\n", 3, "no value"),
        ("m{a=\"1\" 1 1\n", 1, "unterminated label set"),
        ("m{a=1} 1 1\n", 1, "malformed label set"),
        ('m{a="1",a="2"} 1 1\n', 1, "given twice"),
        ('m{a="\\t"} 1 1\n', 1, "invalid escape"),
        ("m abc 1\n", 1, "bad number"),
        ("m 1 NaN\n", 1, "bad timestamp"),
        ("m 1 2 3\n", 1, "unexpected text"),
        ("9m 1 2\n", 1, "bad metric name"),
        ("# TYPE m\n", 1, "malformed '# TYPE'"),
        ("m 1 2\n# EOF\nm 2 3\n", 3, "after '# EOF'"),
    ],
)
def test_malformed_lines(tmp_path: Path, text: str, line: int, message: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(OpenMetricsError) as info:
        read_series(path)
    assert str(info.value).startswith(f"{path}:{line}: ")
    assert message in str(info.value) and "\n" not in str(info.value)


def test_not_utf8(tmp_path: Path) -> None:
    path = tmp_path / "bad.om"
    path.write_bytes(b"m 1 1\nm{a=\"\xff\"} 1 2\n")
    with pytest.raises(OpenMetricsError, match=r"bad\.om:2: not UTF-8"):
        read_series(path)


def test_truncated_gzip(tmp_path: Path) -> None:
    path = tmp_path / "cut.om.gz"
    path.write_bytes(gzip.compress(b"m 1 1\n" * 1000)[:-20])
    with pytest.raises(OpenMetricsError, match="corrupt gzip"):
        read_series(path)


def test_format_number() -> None:
    cases = {12.0: "12", -3.0: "-3", 0.25: "0.25", 1e-05: "1e-05", 1e20: "1e+20", math.inf: "+Inf", -math.inf: "-Inf", math.nan: "NaN"}
    for value, text in cases.items():
        assert format_number(value) == text


def sample_families() -> list[Family]:
    rng = np.random.default_rng(7)
    ts = 1_794_787_200.0 + np.cumsum(rng.integers(1, 400, 50)).astype(float)
    ts[3] += 0.125  # a fractional timestamp
    counter = np.cumsum(rng.random(50) * 3)
    counter[20:] -= counter[19]  # a reset
    gauge = rng.normal(size=50) * 1e9
    gauge[:4] = [math.nan, math.inf, -math.inf, 1e-300]
    return [
        Family(
            "container_cpu_usage_seconds",
            "counter",
            'CPU "used"\\ seconds\nin total',
            [
                Series("container_cpu_usage_seconds_total", (("container", "app"), ("pod", 'we"ird\\na\nme')), ts, counter),
                Series("container_cpu_usage_seconds_total", (("container", "side"), ("pod", "p")), ts[:5], counter[:5]),
            ],
        ),
        Family("container_memory_working_set_bytes", "gauge", None, [Series("container_memory_working_set_bytes", (("pod", ""),), ts, gauge)]),
        Family("up", "unknown", None, [Series("up", (), ts[:3], np.ones(3))]),
    ]


def test_write_layout() -> None:
    out = io.StringIO()
    family = Family("c", "counter", "help", [Series("c_total", (("b", "2"), ("a", "1")), np.array([1.0, 2.5]), np.array([0.5, 3.0]))])
    write_openmetrics(out, [family, Family("g", "gauge", None, [Series("g", (), np.array([7.0]), np.array([-1.0]))])])
    assert out.getvalue() == (
        "# TYPE c counter\n# HELP c help\n"
        'c_total{a="1",b="2"} 0.5 1\nc_total{a="1",b="2"} 3 2.5\n'
        "# TYPE g gauge\ng -1 7\n# EOF\n"
    )


def test_round_trip_is_exact(tmp_path: Path) -> None:
    families = sample_families()
    path = tmp_path / "round.om"
    with open(path, "w", encoding="utf-8") as out:
        write_openmetrics(out, families)
    result = read_series(path)
    for family in families:
        for written, read in zip(family.series, result[family.series[0].name], strict=True):
            assert read.name == written.name and read.labels == tuple(sorted(written.labels))
            np.testing.assert_array_equal(read.timestamps, written.timestamps)
            np.testing.assert_array_equal(read.values, written.values)  # NaN == NaN here


@pytest.mark.parametrize(
    ("family", "message"),
    [
        (Family("x_total", "counter", None, []), "without the _total suffix"),
        (Family("x", "counter", None, [Series("x", (), np.array([1.0]), np.array([1.0]))]), "sample name"),
        (Family("x", "gauge", None, [Series("x_total", (), np.array([1.0]), np.array([1.0]))]), "sample name"),
        (Family("x", "bogus", None, []), "unknown type"),
        (Family("x-y", "gauge", None, []), "invalid metric family name"),
        (Family("x", "gauge", None, [Series("x", (("a-b", "1"),), np.array([1.0]), np.array([1.0]))]), "label names"),
        (Family("x", "gauge", None, [Series("x", (), np.array([2.0, 1.0]), np.array([1.0, 1.0]))]), "ascending"),
        (Family("x", "gauge", None, [Series("x", (), np.array([1.0]), np.array([1.0, 2.0]))]), "shape"),
    ],
)
def test_write_rejects_invalid(family: Family, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        write_openmetrics(io.StringIO(), [family])


def test_write_rejects_split_family() -> None:
    g = Family("g", "gauge", None, [])
    with pytest.raises(ValueError, match="written twice"):
        write_openmetrics(io.StringIO(), [g, Family("h", "gauge", None, []), g])


@needs_promtool
def test_promtool_accepts_written_file(tmp_path: Path) -> None:
    path = tmp_path / "snap.om"
    with open(path, "w", encoding="utf-8") as out:
        write_openmetrics(out, sample_families())
    done = subprocess.run(
        ["promtool", "tsdb", "create-blocks-from", "openmetrics", str(path), str(tmp_path / "data")],
        capture_output=True, text=True, timeout=120, check=False,
    )
    assert done.returncode == 0, done.stderr + done.stdout
