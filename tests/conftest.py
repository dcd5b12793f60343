"""Shared fixtures: real Prometheus servers (one per set of files, for the whole session) and
fault-injecting proxies (see tests/prometheus_harness.py); HTTP chart repositories, OCI registries
and the session's "chart world" of real charts (see tests/chart_servers.py)."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack, closing
from pathlib import Path
from typing import Any

import pytest
from chart_servers import ChartRepoServer, ChartWorld, OciRegistry, require_registry, start_chart_world
from prometheus_harness import (
    DEMO_METRICS,
    FaultProxy,
    PrometheusServer,
    start_prometheus,
    stop_session_servers,
)

__all__ = ["start_prometheus"]  # also importable from prometheus_harness


@pytest.fixture(scope="session", autouse=True)
def _private_caches(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """The CLI's default chart cache (``$XDG_CACHE_HOME/gitbot``) in a directory of this session, and
    no render cache unless a test asks for one: tests never read what an earlier run (or test) left,
    so two runs of one plan report their targets alike, and nothing is written into the user's cache."""
    wanted = {"XDG_CACHE_HOME": str(tmp_path_factory.mktemp("xdg-cache")), "GITBOT_RENDER_CACHE": "off"}
    saved = {name: os.environ.get(name) for name in wanted}
    os.environ.update(wanted)
    yield
    for name, value in saved.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value


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


@pytest.fixture(scope="session")
def chart_world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ChartWorld]:
    """The real charts (podinfo, bitnami common/redis/nginx, bjw-s common/app-template) in one
    HTTP chart server and one OCI registry, for the whole session; ``chart_world.mirrors`` maps
    their upstream URLs to local ones. Skips (fails under GITBOT_REQUIRE_REGISTRY=1) without
    docker-registry. Tests share it: publish nothing into it, and clear_requests() before
    asserting on request logs."""
    world = start_chart_world(tmp_path_factory.mktemp("chart-world"))
    yield world
    world.close()


@pytest.fixture
def chart_world_factory(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Callable[..., ChartWorld]]:
    """``chart_world_factory(username=None, password=None)``: a chart world of this test's own
    (under a second to build), to change, break or shut down (e.g. to test an offline cache), with
    both servers behind those credentials when given; closed when the test ends."""
    with ExitStack() as made:
        yield lambda **kw: made.enter_context(closing(start_chart_world(tmp_path_factory.mktemp("chart-world"), **kw)))


@pytest.fixture
def chart_repo_factory(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Callable[..., ChartRepoServer]]:
    """``chart_repo_factory(username=None, password=None)``: an empty, running ChartRepoServer of
    this test's own, closed when the test ends."""
    with ExitStack() as made:
        yield lambda **kw: made.enter_context(closing(ChartRepoServer(tmp_path_factory.mktemp("chart-repo"), **kw)))


@pytest.fixture
def oci_registry_factory(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Callable[..., OciRegistry]]:
    """``oci_registry_factory(username=None, password=None)``: an empty, started OciRegistry of
    this test's own, closed when the test ends. Skips (fails under GITBOT_REQUIRE_REGISTRY=1)
    without docker-registry."""
    with ExitStack() as made:
        def make(**kw: Any) -> OciRegistry:
            require_registry()
            return made.enter_context(closing(OciRegistry(tmp_path_factory.mktemp("oci-registry"), **kw))).start()

        yield make
