"""The Prometheus test harness against a real server: exact numbers from the demo fixture, the
snapshot splitter, server options, and every FaultProxy fault."""

from __future__ import annotations

import gzip
import http.client
import json
import math
import shutil
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import prometheus_harness as ph
import pytest
import requests
from prometheus_harness import (
    DEMO_END,
    DEMO_METRICS,
    DEMO_START,
    FaultProxy,
    PrometheusServer,
)

from gitbot.metrics.openmetrics import Series, read_series

MEMORY = "container_memory_working_set_bytes"
LOOKBACK = 300  # Prometheus' default lookback delta


@pytest.fixture(scope="module")
def demo_series() -> dict[str, list[Series]]:
    return read_series(DEMO_METRICS)


def selector(series: Series) -> str:
    """An exact PromQL selector for one series (JSON string escaping is PromQL's for these)."""
    return series.name + "{" + ",".join(f"{k}={json.dumps(v)}" for k, v in series.labels) + "}"


def get_json(url: str, params: dict[str, Any] | None = None, *, timeout: float = 30, headers: dict[str, str] | None = None) -> tuple[int, Any]:
    """GET (or, with data, POST) and return (status, parsed body), also for HTTP errors."""
    if params:
        url += "?" + urllib.parse.urlencode(params)
    request = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, json.load(response)
    except urllib.error.HTTPError as exc:
        return exc.code, json.load(exc)


# -- the demo fixture in a real Prometheus --------------------------------------------------------


def test_demo_server_serves_the_whole_fixture(demo_prometheus: PrometheusServer, demo_series: dict[str, list[Series]]) -> None:
    server = demo_prometheus
    all_series = [s for group in demo_series.values() for s in group]
    assert server.samples == sum(s.timestamps.size for s in all_series)
    assert server.oldest_timestamp == min(s.timestamps[0] for s in all_series)
    assert server.newest_timestamp == max(s.timestamps[-1] for s in all_series)
    assert server.oldest_timestamp is not None and server.newest_timestamp is not None
    assert DEMO_START < server.oldest_timestamp < server.newest_timestamp < DEMO_END
    assert server.blocks == 14 * 12  # promtool 2.42: one block per 2 h
    # Every series is there (the series API has no lookback: it lists all series in the range).
    listed = server.api("series", {"match[]": '{__name__=~".+"}', "start": DEMO_START, "end": DEMO_END})
    assert len(listed) == len(all_series)
    names = {item["__name__"] for item in listed}
    assert names == set(demo_series)
    print(f"demo backfill {server.timings['backfill']:.1f} s, start {server.timings['start']:.2f} s, "
          f"{server.samples} samples in {server.blocks} blocks")


def test_demo_container_count_at_the_end(demo_prometheus: PrometheusServer, demo_series: dict[str, list[Series]]) -> None:
    # At the end, an instant selector sees series with a sample in [end - 5m, end] (closed on the
    # left in Prometheus 2.x). The newest sample is 283 s before the end, so this is not empty.
    expected = {
        (s.label("namespace"), s.label("pod"), s.label("container"))
        for s in demo_series[MEMORY]
        if s.label("container") != "" and ((s.timestamps >= DEMO_END - LOOKBACK) & (s.timestamps <= DEMO_END)).any()
    }
    expr = f'count(count by (namespace, pod, container) ({MEMORY}{{container!=""}}))'
    assert expected and demo_prometheus.scalar(expr, DEMO_END) == len(expected)
    # A minute earlier than 5 minutes after the newest sample still sees it; a minute later, nothing.
    newest = demo_prometheus.newest_timestamp
    assert newest is not None
    assert demo_prometheus.scalar(expr, newest + LOOKBACK - 60) == len(expected)
    assert demo_prometheus.query(expr, newest + LOOKBACK + 60) == []


def test_demo_raw_samples_of_one_series(demo_prometheus: PrometheusServer, demo_series: dict[str, list[Series]]) -> None:
    series = max((s for s in demo_series[MEMORY] if s.label("container")), key=lambda s: s.timestamps.size)
    ts, vals = series.timestamps, series.values
    at = float(ts[ts.size // 2])  # on a sample, with a sample exactly one day earlier
    assert at - 86400 in ts
    sel = selector(series)
    closed = int(((ts >= at - 86400) & (ts <= at)).sum())  # Prometheus 2.x range: [t - 1d, t]
    assert demo_prometheus.scalar(f"count_over_time({sel}[1d])", at) == closed
    assert demo_prometheus.scalar(f"count_over_time({sel}[1d])", at + 0.5) == closed - 1
    assert demo_prometheus.scalar(f"count_over_time({sel}[30d])", DEMO_END) == ts.size
    window = (ts >= at - 86400) & (ts <= at)
    assert demo_prometheus.scalar(f"max_over_time({sel}[1d])", at) == vals[window].max()
    assert demo_prometheus.scalar(f"sum_over_time({sel}[1d])", at) == pytest.approx(math.fsum(vals[window]), rel=1e-12)
    # A range query returns the raw value at every step that lands on a sample.
    result = demo_prometheus.query_range(sel, ts[10], ts[20], ts[1] - ts[0])
    assert len(result) == 1
    got = np.array([float(v) for _, v in result[0]["values"]])
    np.testing.assert_array_equal(got, vals[10:21])


# -- the splitter and server options on a small handmade snapshot ---------------------------------

T0 = 1_700_000_000.0  # 2023-11-14T22:13:20Z: 30 h of minutely samples cross several 6 h slices
MINUTES = 30 * 60
ROOM = 'a "quoted" } # room\\'


def handmade(tmp: Path) -> list[Path]:
    """A gzipped snapshot with HELP/UNIT lines, exemplars and awkward label values, plus a second,
    plain one covering part of the same time."""
    lines = [
        "# HELP temp_celsius A temperature.",
        "# TYPE temp_celsius gauge",
        "# UNIT temp_celsius celsius",
    ]
    room = ROOM.replace("\\", "\\\\").replace('"', '\\"')
    for i in range(MINUTES):
        lines.append(f'temp_celsius{{room="{room}"}} {20 + (i % 7) * 0.5} {T0 + 60 * i:.0f}')
    lines.append("# TYPE jobs counter")
    for i in range(MINUTES):
        exemplar = f' # {{trace_id="t{i}"}} 1 {T0 + 60 * i - 1:.0f}' if i % 100 == 0 else ""
        lines.append(f"jobs_total {i} {T0 + 60 * i:.0f}{exemplar}")
    lines.append("# EOF")
    first = tmp / "handmade.om.gz"
    with gzip.open(first, "wt", encoding="utf-8") as out:
        out.write("\n".join(lines) + "\n")
    second = tmp / "extra.om"
    extra = ["# TYPE extra gauge", *(f"extra 1 {T0 + 60 * i:.0f}" for i in range(0, MINUTES, 10)), "# EOF"]
    second.write_text("\n".join(extra) + "\n", encoding="utf-8")
    return [first, second]


@pytest.fixture(scope="module")
def handmade_files(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    return handmade(tmp_path_factory.mktemp("handmade"))


def test_split_openmetrics(tmp_path: Path, handmade_files: list[Path]) -> None:
    result = ph.split_openmetrics(handmade_files[0], tmp_path / "slices", 6 * 3600_000)
    assert result.samples == 2 * MINUTES and result.oldest == T0 and result.newest == T0 + 60 * (MINUTES - 1)
    assert len(result.files) == 6  # 30 h starting 22:13 touch six 6 h slices
    total = 0
    for path in result.files:
        text = path.read_text(encoding="utf-8")
        assert text.endswith("# EOF\n") and text.startswith("# HELP temp_celsius")
        assert text.count("# TYPE jobs counter") == 1
        total += sum(1 for line in text.splitlines() if not line.startswith("#"))
    assert total == 2 * MINUTES
    with pytest.raises(ph.BackfillError, match=r"bad\.om:2: sample without a timestamp"):
        (tmp_path / "bad.om").write_text("# TYPE x gauge\nx 1\n# EOF\n")
        ph.split_openmetrics(tmp_path / "bad.om", tmp_path / "bad", 7200_000)


def test_handmade_backfill(prometheus_factory: Callable[..., PrometheusServer], handmade_files: list[Path]) -> None:
    server = prometheus_factory(handmade_files)
    last = T0 + 60 * (MINUTES - 1)
    assert server.newest_timestamp == last and server.samples == 2 * MINUTES + MINUTES // 10
    room = json.dumps(ROOM)
    assert server.scalar(f"count_over_time(temp_celsius{{room={room}}}[2d])", last) == MINUTES
    assert server.scalar("count_over_time(jobs_total[2d])", last) == MINUTES
    assert server.scalar("count_over_time(extra[2d])", last) == MINUTES // 10
    assert server.scalar("jobs_total", last) == MINUTES - 1
    assert server.scalar("scalar(jobs_total) * 2", last) == 2 * (MINUTES - 1)  # a scalar result
    assert server.scalar("increase(jobs_total[1h])", last) == 60  # 61 samples in [t - 1h, t]: no extrapolation
    # Default lookback: 5 minutes.
    assert server.scalar("jobs_total", last + 290) == MINUTES - 1
    assert server.query("jobs_total", last + 310) == []


def test_server_options(prometheus_factory: Callable[..., PrometheusServer], handmade_files: list[Path]) -> None:
    server = prometheus_factory(handmade_files, lookback_delta="1m", query_max_samples=1000)
    assert prometheus_factory(handmade_files, lookback_delta="1m", query_max_samples=1000) is server  # cached
    last = T0 + 60 * (MINUTES - 1)
    assert server.scalar("jobs_total", last + 59) == MINUTES - 1
    assert server.query("jobs_total", last + 61) == []
    assert server.scalar("count_over_time(jobs_total[900m])", last) == 901  # under the 1000-sample limit
    with pytest.raises(ph.PrometheusQueryError) as caught:
        server.query("count_over_time(jobs_total[2d])", last)
    assert caught.value.status == 422 and caught.value.error_type == "execution"
    assert "too many samples" in caught.value.error


def test_restart_keeps_data_without_backfilling(tmp_path: Path, handmade_files: list[Path]) -> None:
    if ph.ensure_prometheus() is None:
        ph.skip_or_fail(ph.unavailable_reason())
    with PrometheusServer(handmade_files[1:], tmp_path / "p") as server:
        first_url, backfill = server.url, server.timings["backfill"]
        assert server.scalar("count_over_time(extra[2d])") == MINUTES // 10
        server.stop()
        assert not server.running
        with pytest.raises(OSError):
            urllib.request.urlopen(f"{first_url}/-/ready", timeout=2)
        server.start()
        assert server.running and server.timings["backfill"] == backfill
        assert server.scalar("count_over_time(extra[2d])") == MINUTES // 10
        assert "no scrape jobs" in server.config_path.read_text()
        assert server.log_path.read_text().count("Server is ready to receive web requests") == 2
    assert not server.running


def test_ensure_prometheus_is_cached_and_respects_no_apt(monkeypatch: pytest.MonkeyPatch) -> None:
    first = ph.ensure_prometheus()
    assert ph.ensure_prometheus() is first
    monkeypatch.setattr(ph.PROMETHEUS, "_ensured", [])
    monkeypatch.setattr(ph.PROMETHEUS, "_reason", ph.unavailable_reason())
    monkeypatch.setattr(shutil, "which", lambda name: None)
    monkeypatch.setenv("GITBOT_NO_APT", "1")
    monkeypatch.setattr(ph.subprocess, "run", lambda *a, **k: pytest.fail(f"ran {a}"))
    assert ph.ensure_prometheus() is None
    assert "GITBOT_NO_APT=1" in ph.unavailable_reason()
    monkeypatch.undo()
    assert ph.ensure_prometheus() is first and (first is None) == bool(ph.unavailable_reason())


def test_parse_duration() -> None:
    assert ph.parse_duration("1h30m") == 5400 and ph.parse_duration("250ms") == 0.25 and ph.parse_duration("2w") == 14 * 86400
    assert ph.compatible_block_ms("24h") == 18 * 3600_000 and ph.compatible_block_ms(None) == 2 * 3600_000
    with pytest.raises(ValueError):
        ph.parse_duration("5 minutes")


# -- FaultProxy ------------------------------------------------------------------------------------


def test_proxy_forwards_and_records_exactly(demo_prometheus: PrometheusServer, fault_proxy: Callable[..., FaultProxy]) -> None:
    proxy = fault_proxy(demo_prometheus)
    instant = {"query": f"count({MEMORY})", "time": str(DEMO_END)}
    assert get_json(f"{proxy.url}/api/v1/query", instant) == get_json(f"{demo_prometheus.url}/api/v1/query", instant)
    form = {"query": "sum(rate(container_cpu_usage_seconds_total[10m]))", "start": "1794700800", "end": "1794787200", "step": "3600"}
    via_proxy = requests.post(f"{proxy.url}/api/v1/query_range", data=form, timeout=30)
    direct = requests.post(f"{demo_prometheus.url}/api/v1/query_range", data=form, timeout=30)
    assert via_proxy.status_code == 200 and via_proxy.json() == direct.json()
    assert len(via_proxy.json()["data"]["result"][0]["values"]) == 25
    with urllib.request.urlopen(f"{proxy.url}/-/ready", timeout=10) as response:
        assert response.status == 200
    recorded = proxy.requests
    assert [(r.method, r.path, r.query, r.fault) for r in recorded] == [
        ("GET", "/api/v1/query", f"count({MEMORY})", None),
        ("POST", "/api/v1/query_range", form["query"], None),
        ("GET", "/-/ready", None, None),
    ]
    assert recorded[0].params == {k: [v] for k, v in instant.items()}
    assert recorded[1].params == {k: [v] for k, v in form.items()}
    assert recorded[1].headers["content-type"] == "application/x-www-form-urlencoded"
    assert recorded[1].body == urllib.parse.urlencode(form).encode()
    assert recorded[0].time <= recorded[1].time <= recorded[2].time
    assert proxy.queries() == [instant["query"], form["query"]]
    assert proxy.queries("/api/v1/query_range") == [form["query"]]
    proxy.clear()
    assert proxy.requests == []


def test_proxy_forwards_authorization(demo_prometheus: PrometheusServer, fault_proxy: Callable[..., FaultProxy]) -> None:
    from prometheus_api_client import PrometheusConnect

    inner = fault_proxy(demo_prometheus)
    outer = fault_proxy(inner.url)  # what reaches `inner` is what `outer` forwarded
    client = PrometheusConnect(url=outer.url, headers={"Authorization": "Bearer s3cret-token"}, disable_ssl=True)
    result = client.custom_query(f"count({MEMORY})", params={"time": DEMO_END})
    assert result and float(result[0]["value"][1]) > 0
    requests.post(f"{outer.url}/api/v1/query", data={"query": "vector(1)", "time": DEMO_END},
                  headers={"Authorization": "Basic dTpw"}, timeout=30).raise_for_status()
    for proxy in (outer, inner):
        first, second = proxy.requests
        assert first.headers["Authorization"] == "Bearer s3cret-token" and first.query == f"count({MEMORY})"
        assert second.headers["authorization"] == "Basic dTpw" and second.query == "vector(1)"
        assert second.method == "POST" and second.param("time") == str(DEMO_END)


def test_status_faults(demo_prometheus: PrometheusServer, fault_proxy: Callable[..., FaultProxy]) -> None:
    proxy = fault_proxy(demo_prometheus)
    memory: dict[str, Any] = {"query": f"max({MEMORY})", "time": DEMO_END}
    cpu: dict[str, Any] = {"query": "count(container_cpu_usage_seconds_total)", "time": DEMO_END}
    fault = ph.status(500, match=MEMORY, times=1)
    with proxy.fault(fault):
        assert get_json(f"{proxy.url}/api/v1/query", memory) == (
            500, {"status": "error", "errorType": "internal", "error": "injected HTTP 500"})
        assert get_json(f"{proxy.url}/api/v1/query", cpu)[0] == 200  # no match
        code, body = get_json(f"{proxy.url}/api/v1/query", memory)  # only the first one failed
        assert code == 200 and body["status"] == "success"
        assert fault.hits == 1
    assert [r.fault for r in proxy.requests] == ["status", None, None]
    proxy.set_fault(ph.status(503, error="too busy", headers={"Retry-After": "1"}))
    response = requests.get(f"{proxy.url}/api/v1/query_range", params={**cpu, "start": 0, "end": 1, "step": 1}, timeout=10)
    assert response.status_code == 503 and response.headers["Retry-After"] == "1"
    assert response.json() == {"status": "error", "errorType": "unavailable", "error": "too busy"}
    assert get_json(f"{proxy.url}/api/v1/labels")[0] == 200  # other paths are never faulted
    proxy.set_fault(ph.status(422))
    assert get_json(f"{proxy.url}/api/v1/query", cpu)[1]["errorType"] == "execution"
    proxy.set_fault(None)
    assert get_json(f"{proxy.url}/api/v1/query", cpu)[0] == 200


def test_delay_fault(demo_prometheus: PrometheusServer, fault_proxy: Callable[..., FaultProxy]) -> None:
    proxy = fault_proxy(demo_prometheus)
    params = {"query": "vector(1)", "time": DEMO_END}
    with proxy.fault(ph.delay(2.0)):
        began = time.monotonic()
        with pytest.raises(TimeoutError):
            urllib.request.urlopen(f"{proxy.url}/api/v1/query?{urllib.parse.urlencode(params)}", timeout=0.3)
        assert time.monotonic() - began < 1.5
    with proxy.fault(ph.delay(0.3)):
        began = time.monotonic()
        assert get_json(f"{proxy.url}/api/v1/query", params, timeout=10)[0] == 200
        assert time.monotonic() - began >= 0.3
    assert get_json(f"{proxy.url}/api/v1/query", params, timeout=10)[0] == 200


def test_drop_connection_fault(demo_prometheus: PrometheusServer, fault_proxy: Callable[..., FaultProxy]) -> None:
    proxy = fault_proxy(demo_prometheus)
    params: dict[str, Any] = {"query": "vector(1)", "time": DEMO_END}
    with proxy.fault(ph.drop_connection(times=1)):
        with pytest.raises(requests.ConnectionError):
            requests.get(f"{proxy.url}/api/v1/query", params=params, timeout=10)
        assert requests.get(f"{proxy.url}/api/v1/query", params=params, timeout=10).status_code == 200
    with proxy.fault(ph.drop_connection(reset=True)):
        connection = http.client.HTTPConnection("127.0.0.1", int(proxy.url.rsplit(":", 1)[1]), timeout=10)
        with pytest.raises((http.client.RemoteDisconnected, ConnectionResetError)):
            connection.request("GET", "/api/v1/query?query=vector(1)")
            connection.getresponse()
        connection.close()
    assert [r.fault for r in proxy.requests] == ["drop", None, "drop"]


def test_warnings_and_transform_faults(demo_prometheus: PrometheusServer, fault_proxy: Callable[..., FaultProxy]) -> None:
    proxy = fault_proxy(demo_prometheus)
    params: dict[str, Any] = {"query": f"max by (namespace) ({MEMORY})", "time": DEMO_END}
    _, direct = get_json(f"{demo_prometheus.url}/api/v1/query", params)
    assert len(direct["data"]["result"]) > 2
    with proxy.fault(ph.warnings(["partial response: store unavailable"])):
        # requests asks for gzip; Prometheus would compress, the proxy must still rewrite the JSON.
        body = requests.get(f"{proxy.url}/api/v1/query", params=params, timeout=30).json()
    assert body == {**direct, "warnings": ["partial response: store unavailable"]}

    def half_nan(document: dict[str, Any]) -> None:
        result = document["data"]["result"]
        del result[len(result) // 2 :]
        for item in result:
            item["value"][1] = "NaN"

    with proxy.fault(ph.transform(half_nan, match="max by")):
        _, body = get_json(f"{proxy.url}/api/v1/query", params)
        _, untouched = get_json(f"{proxy.url}/api/v1/query", {**params, "query": f"min by (namespace) ({MEMORY})"})
    assert len(body["data"]["result"]) == len(direct["data"]["result"]) // 2
    assert {item["value"][1] for item in body["data"]["result"]} == {"NaN"}
    assert untouched["status"] == "success" and "NaN" not in {i["value"][1] for i in untouched["data"]["result"]}
    with proxy.fault(ph.transform(lambda doc: {**doc, "data": {"resultType": "vector", "result": []}})):
        assert get_json(f"{proxy.url}/api/v1/query", params)[1]["data"]["result"] == []
    with proxy.fault(ph.transform(lambda doc: 1 / 0)):
        code, body = get_json(f"{proxy.url}/api/v1/query", params)
    assert code == 500 and "ZeroDivisionError" in body["error"]


def test_proxy_reports_a_dead_upstream(fault_proxy: Callable[..., FaultProxy]) -> None:
    proxy = fault_proxy(f"http://127.0.0.1:{ph.free_port()}")
    code, body = get_json(f"{proxy.url}/api/v1/query", {"query": "up"})
    assert code == 502 and body["status"] == "error"
