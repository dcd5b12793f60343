"""Shared fixtures: real Prometheus servers (one per set of files, for the whole session) and
fault-injecting proxies. See tests/prometheus_harness.py."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest
from prometheus_harness import (
    DEMO_METRICS,
    FaultProxy,
    PrometheusServer,
    start_prometheus,
    stop_session_servers,
)

__all__ = ["start_prometheus"]  # also importable from prometheus_harness


@pytest.fixture(scope="session", autouse=True)
def _stop_prometheus_servers() -> Iterator[None]:
    """Stop every server start_prometheus() started, at the end of the session."""
    yield
    stop_session_servers()


@pytest.fixture(scope="session")
def prometheus_factory(tmp_path_factory: pytest.TempPathFactory) -> Callable[..., PrometheusServer]:
    """``prometheus_factory(files, **PrometheusServer_kwargs)``: a running server, shared by the
    session (cached by files and arguments); skips when Prometheus is unavailable."""

    def make(files: Sequence[Path | str], **kw: Any) -> PrometheusServer:
        return start_prometheus(tmp_path_factory, files, **kw)

    return make


@pytest.fixture(scope="session")
def demo_prometheus(tmp_path_factory: pytest.TempPathFactory) -> PrometheusServer:
    """A server with fixtures/demo-metrics.om.gz (2026-11-02T00:00Z..2026-11-16T00:00Z)."""
    return start_prometheus(tmp_path_factory, [DEMO_METRICS])


@pytest.fixture
def fault_proxy() -> Iterator[Callable[..., FaultProxy]]:
    """``fault_proxy(upstream)``: a started FaultProxy in front of ``upstream`` (a URL or a
    PrometheusServer), stopped when the test ends."""
    proxies: list[FaultProxy] = []

    def make(upstream: str | PrometheusServer, **kw: Any) -> FaultProxy:
        url = upstream.url if isinstance(upstream, PrometheusServer) else upstream
        proxy = FaultProxy(url, **kw).start()
        proxies.append(proxy)
        return proxy

    yield make
    for proxy in proxies:
        proxy.stop()
