"""Usage traces for backtests, in gitbot's units: millicores and bytes per sample.

Bitbrains GWA-T-12 (one VM per file, ``;\\t``-separated, 5-minute samples). The header says
``Timestamp [ms]`` but the values are Unix seconds. CPU in MHz becomes millicores through the VM's
clock: ``usage_MHz / (capacity_MHz / cores) * 1000``. Memory in KB becomes bytes (×1024); a memory
sample of exactly 0 is a missing sample (vm78 has them in about half its rows), not an idle VM.
The VM's provisioned cores and memory (which change over the month) are what it was "sized" with:
the ``current`` baseline takes them as they stood at the end of the training window.

Alibaba GenAI serving (cluster-trace-v2026-GenAI, ``container_id,timestamp,cpu_util_percent,
mem_util_percent,...``): one trace per container, ~57-second samples over 23 hours, memory only
(the CPU column is empty). ``mem_util_percent`` is a percentage of a denominator the trace does not
document, so it is read as a share of ``memory_capacity`` (the caller's choice, 16 GiB by default)
and that capacity is what the container "currently" has. Slack and OOM scores do not depend on it;
costs scale with it.

The Alibaba GPU v2023 pod and node lists hold requests without usage: ``NotATrace``.
"""

from __future__ import annotations

import gzip
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import numpy as np

from gitbot.errors import InputError

BITBRAINS_COLUMNS = ("Timestamp [ms]", "CPU cores", "CPU capacity provisioned [MHZ]", "CPU usage [MHZ]", "CPU usage [%]",
                     "Memory capacity provisioned [KB]", "Memory usage [KB]")


GENAI_COLUMNS = ("container_id", "timestamp", "cpu_util_percent", "mem_util_percent")
DEFAULT_PERCENT_CAPACITY = 16 * 2**30
NOT_USAGE = {  # header start -> what the file is
    "name,cpu_milli,memory_mib": "an Alibaba GPU v2023 pod list (requests, no usage)",
    "sn,cpu_milli,memory_mib": "an Alibaba GPU v2023 node list (capacities, no usage)",
    "vm,file,shape,samples": "a summary of Bitbrains traces, not a trace",
}


class NotATrace(Exception):
    """A readable file that holds no usage over time; the message says what it is."""


@dataclass(frozen=True, eq=False)
class Trace:
    name: str
    timestamps: np.ndarray  # int64 Unix seconds, ascending
    cpu_m: np.ndarray  # float64 millicores used in each sample
    memory_bytes: np.ndarray  # float64 bytes used in each sample (0 where unknown)
    memory_known: np.ndarray  # bool: the sample has a memory value
    cpu_capacity_m: np.ndarray  # int64: what each sample was provisioned with
    memory_capacity_bytes: np.ndarray  # int64
    step_seconds: int
    has_cpu: bool = True  # False: the trace records memory only (cpu_m is all zeros)
    source: str = "bitbrains"  # the trace family, for per-family summaries

    def __len__(self) -> int:
        return int(self.timestamps.size)

    def window(self, start: int, end: int) -> Trace:
        """Samples with ``start <= t < end``."""
        keep = (self.timestamps >= start) & (self.timestamps < end)
        return Trace(self.name, self.timestamps[keep], self.cpu_m[keep], self.memory_bytes[keep], self.memory_known[keep],
                     self.cpu_capacity_m[keep], self.memory_capacity_bytes[keep], self.step_seconds, self.has_cpu, self.source)


    def on_grid(self) -> tuple[np.ndarray, np.ndarray]:
        """CPU and memory on a regular grid of ``step_seconds`` from the first sample, NaN where no
        sample landed (samples are placed on the nearest step; a later one on the same step wins)."""
        if not len(self):
            return np.zeros(0), np.zeros(0)
        index = np.rint((self.timestamps - self.timestamps[0]) / self.step_seconds).astype(np.int64)
        cpu = np.full(int(index[-1]) + 1, np.nan)
        memory = cpu.copy()
        if self.has_cpu:
            cpu[index] = self.cpu_m
        memory[index[self.memory_known]] = self.memory_bytes[self.memory_known]
        return cpu, memory


def read_traces(path: Path, memory_capacity: int = DEFAULT_PERCENT_CAPACITY) -> list[Trace]:
    """The traces in one file, by its header. Raises NotATrace for known files without usage, and
    InputError for anything unreadable."""
    with _open(path) as handle:
        try:
            header = handle.readline()
        except (UnicodeDecodeError, OSError) as exc:
            raise InputError(f"{path}: cannot read: {exc}") from None
    if header.startswith(BITBRAINS_COLUMNS[0]):
        return [read_bitbrains(path)]
    if tuple(h.strip() for h in header.split(",")[:4]) == GENAI_COLUMNS:
        return read_alibaba_genai(path, memory_capacity)
    for start, what in NOT_USAGE.items():
        if header.startswith(start):
            raise NotATrace(f"{path}: {what}; nothing to replay")
    raise InputError(f"{path}:1: not a known trace format (Bitbrains GWA-T-12 or Alibaba GenAI pod memory)")


def read_alibaba_genai(path: Path, memory_capacity: int = DEFAULT_PERCENT_CAPACITY) -> list[Trace]:
    """One trace per container of an Alibaba GenAI ``pod_mem_gpu`` file (memory percent of ``memory_capacity``)."""
    rows: dict[str, list[tuple[int, float]]] = {}
    with _open(path) as handle:
        handle.readline()
        for number, line in enumerate(handle, start=2):
            cells = line.rstrip("\n").split(",")
            if len(cells) < 4 or not cells[0]:
                if line.strip():
                    raise InputError(f"{path}:{number}: expected container_id,timestamp,cpu,mem, got {line.strip()[:80]!r}")
                continue
            try:
                when, percent = int(cells[1]), float(cells[3])
            except ValueError:
                raise InputError(f"{path}:{number}: not a number in {line.strip()[:80]!r}") from None
            if not 0 <= percent <= 1000 or not np.isfinite(percent):
                raise InputError(f"{path}:{number}: memory {percent}% is out of range")
            rows.setdefault(cells[0], []).append((when, percent))
    traces = []
    for container, samples in sorted(rows.items()):
        samples.sort()
        timestamps = np.array([t for t, _ in samples], dtype=np.int64)
        if timestamps.size < 2:
            raise InputError(f"{path}: container {container}: fewer than 2 samples")
        memory = np.array([m for _, m in samples]) / 100.0 * memory_capacity
        size = timestamps.size
        traces.append(Trace(
            name=f"genai-{container}", timestamps=timestamps, cpu_m=np.zeros(size), memory_bytes=memory,
            memory_known=np.ones(size, dtype=bool), cpu_capacity_m=np.zeros(size, dtype=np.int64),
            memory_capacity_bytes=np.full(size, memory_capacity, dtype=np.int64),
            step_seconds=max(int(np.median(np.diff(timestamps))), 1), has_cpu=False, source="alibaba-genai",
        ))
    if not traces:
        raise InputError(f"{path}: no samples")
    return traces


def read_bitbrains(path: Path) -> Trace:
    """One Bitbrains GWA-T-12 VM file (``.csv`` or ``.csv.gz``). Raises InputError naming file:line."""
    rows: list[tuple[float, ...]] = []
    with _open(path) as handle:
        header = [h.strip() for h in handle.readline().split(";")]
        if tuple(header[: len(BITBRAINS_COLUMNS)]) != BITBRAINS_COLUMNS:
            raise InputError(f"{path}:1: not a Bitbrains GWA-T-12 file (expected the columns {', '.join(BITBRAINS_COLUMNS[:3])}, ...)")
        for number, line in enumerate(handle, start=2):
            if not line.strip():
                continue
            cells = line.split(";")
            try:
                values = tuple(float(c) for c in cells[:7])
            except ValueError:
                raise InputError(f"{path}:{number}: not a number in {line.strip()[:80]!r}") from None
            if len(values) < 7 or not all(np.isfinite(values)):
                raise InputError(f"{path}:{number}: expected 7 finite numbers, got {line.strip()[:80]!r}")
            rows.append(values)
    if len(rows) < 2:
        raise InputError(f"{path}: fewer than 2 samples")
    data = np.array(rows, dtype=np.float64)
    order = np.argsort(data[:, 0], kind="stable")
    data = data[order]
    timestamps = data[:, 0].astype(np.int64)
    cores, capacity_mhz, usage_mhz = data[:, 1], data[:, 2], data[:, 3]
    if np.any(cores <= 0) or np.any(capacity_mhz <= 0):
        raise InputError(f"{path}: CPU cores and provisioned MHz must be positive")
    cpu_m = usage_mhz / (capacity_mhz / cores) * 1000.0
    memory = data[:, 6] * 1024.0
    known = memory > 0
    step = int(np.median(np.diff(timestamps)))
    return Trace(
        name=path.name.removesuffix(".gz").removesuffix(".csv"),
        timestamps=timestamps,
        cpu_m=cpu_m,
        memory_bytes=np.where(known, memory, 0.0),
        memory_known=known,
        cpu_capacity_m=np.rint(cores * 1000).astype(np.int64),
        memory_capacity_bytes=np.rint(data[:, 5] * 1024).astype(np.int64),
        step_seconds=max(step, 1),
    )


def _open(path: Path) -> IO[str]:
    try:
        if path.suffix == ".gz":
            return gzip.open(path, "rt", encoding="utf-8")
        return open(path, encoding="utf-8")
    except OSError as exc:
        raise InputError(f"{path}: cannot read: {exc.strerror or exc}") from None
