"""cProfile helpers shared by the repository-scan and Prometheus sections.

``profiled(fn)`` runs ``fn`` under cProfile; ``write_profile`` writes the top functions by cumulative
and by own time (paths shortened to repository- and site-packages-relative ones); ``top_gitbot``
names the gitbot functions with the most cumulative time, as ``file:line(function) seconds``.
"""

from __future__ import annotations

import cProfile
import io
import pstats
import re
import time
from collections.abc import Callable, Container
from pathlib import Path
from typing import TypeVar

ROOT = Path(__file__).resolve().parent.parent
T = TypeVar("T")


def profiled(fn: Callable[[], T]) -> tuple[T, cProfile.Profile, float]:
    """``fn()``'s result, its profile and its wall time (under the profiler)."""
    profiler = cProfile.Profile()
    started = time.perf_counter()
    profiler.enable()
    try:
        result = fn()
    finally:
        profiler.disable()
    return result, profiler, time.perf_counter() - started


def write_profile(profiler: cProfile.Profile, path: Path, title: str, top: int = 25) -> None:
    text = io.StringIO()
    text.write(f"{title}\n\n")
    stats = pstats.Stats(profiler, stream=text)
    stats.sort_stats("cumulative").print_stats(top)
    stats.sort_stats("tottime").print_stats(top)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(_shorten(text.getvalue()), encoding="utf-8")


def top_gitbot(profiler: cProfile.Profile, count: int = 5, skip: Container[str] = ()) -> list[str]:
    """The ``count`` gitbot functions (not those named in ``skip``) with the most cumulative time."""
    rows = sorted(pstats.Stats(profiler).stats.items(), key=lambda item: -item[1][3])  # type: ignore[attr-defined]
    names = []
    for (file, line, function), (_, _, _, cumulative, _) in rows:
        if "/gitbot/" not in file or function in skip or function.startswith("<"):
            continue
        names.append(f"{short(file)}:{line}({function}) {cumulative:.1f}s")
        if len(names) == count:
            break
    return names


def short(file: str) -> str:
    for marker in ("/gitbot/", "/site-packages/", "/lib/python3"):
        if marker in file:
            return file[file.index(marker) + 1:]
    return file


def _shorten(text: str) -> str:
    return re.sub(r"\S*/site-packages/", "", text.replace(str(ROOT) + "/", ""))
