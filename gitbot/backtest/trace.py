"""Usage traces for backtests, in gitbot's units: millicores and bytes per sample.

Bitbrains GWA-T-12 (one VM per file, ``;\\t``-separated, 5-minute samples). The header says
``Timestamp [ms]`` but the values are Unix seconds. CPU in MHz becomes millicores through the VM's
clock: ``usage_MHz / (capacity_MHz / cores) * 1000``. Memory in KB becomes bytes (×1024); a memory
sample of exactly 0 is a missing sample (vm78 has them in about half its rows), not an idle VM.
The VM's provisioned cores and memory (which change over the month) are what it was "sized" with:
the ``current`` baseline takes them as they stood at the end of the training window.
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

    def __len__(self) -> int:
        return int(self.timestamps.size)

    def window(self, start: int, end: int) -> Trace:
        """Samples with ``start <= t < end``."""
        keep = (self.timestamps >= start) & (self.timestamps < end)
        return Trace(self.name, self.timestamps[keep], self.cpu_m[keep], self.memory_bytes[keep], self.memory_known[keep],
                     self.cpu_capacity_m[keep], self.memory_capacity_bytes[keep], self.step_seconds)


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
