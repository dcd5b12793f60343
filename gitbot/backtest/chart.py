"""One PNG per trace for the backtest report: usage over time with each strategy's requests and limits.

Two panels (CPU in cores, memory in GiB) over days since the trace's first sample: the usage as a
thin grey line, the end of training as a dashed vertical line, and for each strategy its request
(solid) and limit (dotted) over the windows it was scored on (one step per re-fit). matplotlib is an
optional dependency (``pip install 'gitbot[charts]'``); it is imported only when charts are asked for.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Sequence

import numpy as np

from gitbot.backtest.run import Result
from gitbot.backtest.trace import Trace
from gitbot.errors import InputError

WIDTH_INCHES, HEIGHT_INCHES, DPI = 14, 9, 100
GIB = 2**30
COLORS = {"current": "#7f7f7f", "krr-simple": "#d62728", "vpa-like": "#ff7f0e", "gitbot": "#1f77b4", "gitbot-first-run": "#17becf",
          "oracle": "#2ca02c"}


def write_charts(traces: Sequence[Trace], results: Sequence[Result], directory: Path) -> list[Path]:
    """Write ``<trace>.png`` for each trace into ``directory`` (created); returns the paths written."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        from matplotlib import pyplot
    except ImportError:
        raise InputError("--charts needs matplotlib: pip install 'gitbot[charts]'") from None
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InputError(f"--charts {directory}: cannot create the directory: {exc.strerror or exc}") from None
    written = []
    for trace in traces:
        mine = [r for r in results if r.trace == trace.name]
        if not mine:
            continue
        figure, (cpu_axis, memory_axis) = pyplot.subplots(2, 1, sharex=True, figsize=(WIDTH_INCHES, HEIGHT_INCHES), dpi=DPI)
        start = int(trace.timestamps[0])
        days = (trace.timestamps - start) / 86400
        if trace.has_cpu:
            cpu_axis.plot(days, trace.cpu_m / 1000, color="#bbbbbb", linewidth=0.6, label="usage")
        memory = np.where(trace.memory_known, trace.memory_bytes, np.nan) / GIB
        memory_axis.plot(days, memory, color="#bbbbbb", linewidth=0.6, label="usage")
        split = (mine[0].windows[0][0] - start) / 86400 if mine[0].windows else None
        for r in mine:
            color = COLORS.get(r.strategy)
            for axis, request, limit, scale in (
                (cpu_axis, "cpu_request_m", "cpu_limit_m", 1000), (memory_axis, "memory_request_bytes", "memory_limit_bytes", GIB),
            ):
                _steps(axis, r, request, scale, start, color, "-", r.strategy)
                _steps(axis, r, limit, scale, start, color, ":", None)
        for axis, unit in ((cpu_axis, "cores"), (memory_axis, "GiB")):
            if split is not None:
                axis.axvline(split, color="black", linestyle="--", linewidth=0.8)
            axis.set_ylabel(unit)
            axis.grid(alpha=0.3)
        cpu_axis.set_title(f"{trace.name}: usage, requests (solid) and limits (dotted); training ends at the dashed line")
        cpu_axis.legend(loc="upper left", fontsize="small", ncol=3)
        memory_axis.set_xlabel("days since the first sample")
        path = directory / f"{_safe(trace.name)}.png"
        try:
            figure.savefig(path, metadata={"Software": None})
        except OSError as exc:
            raise InputError(f"--charts {path}: cannot write: {exc.strerror or exc}") from None
        finally:
            pyplot.close(figure)
        written.append(path)
    return written


def _steps(axis: object, r: Result, field: str, scale: int, start: int, color: str | None, style: str, label: str | None) -> None:
    xs: list[float] = []
    ys: list[float] = []
    for begin, end, sizing in r.windows:
        value = getattr(sizing, field)
        if value is None:
            continue
        xs += [(begin - start) / 86400, (end - start) / 86400]
        ys += [value / scale, value / scale]
    if xs:
        axis.plot(xs, ys, color=color, linestyle=style, linewidth=1.4, label=label)  # type: ignore[attr-defined]


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", name) or "trace"
