"""Glob patterns for repository paths and workload ids.

``*`` matches within one path segment, ``?`` one character, ``**`` any number of whole segments
(``apps/**`` matches ``apps`` and everything below it, ``**/prod/*.yaml`` a ``prod`` directory at any depth).
The same syntax matches workload ids such as ``shop/Deployment/legacy-*``.
"""

from __future__ import annotations

import functools
import re
from pathlib import Path


@functools.lru_cache(maxsize=1024)
def compile_glob(pattern: str) -> re.Pattern[str]:
    parts: list[str] = []
    i = 0
    while i < len(pattern):
        if pattern.endswith("/**") and i == len(pattern) - 3:
            parts.append("(?:/.*)?")  # the directory itself too: apps/** covers the target "apps"
            i += 3
        elif pattern.startswith("**/", i):
            parts.append("(?:[^/]*/)*")
            i += 3
        elif pattern.startswith("**", i):
            parts.append(".*")
            i += 2
        elif pattern[i] == "*":
            parts.append("[^/]*")
            i += 1
        elif pattern[i] == "?":
            parts.append("[^/]")
            i += 1
        else:
            parts.append(re.escape(pattern[i]))
            i += 1
    return re.compile("".join(parts) + r"\Z")


def glob_match(pattern: str, text: str) -> bool:
    return compile_glob(pattern).match(text) is not None


def any_match(patterns: tuple[str, ...] | list[str], text: str) -> bool:
    return any(glob_match(p, text) for p in patterns)


def path_matches(patterns: tuple[str, ...] | list[str], path: str) -> bool:
    """True if ``path`` or one of its parent directories matches (``apps/*`` covers ``apps/x/y.yaml``)."""
    if any_match(patterns, path):
        return True
    parent = path
    while "/" in parent:
        parent = parent.rsplit("/", 1)[0]
        if any_match(patterns, parent):
            return True
    return False


def within(root: Path, path: Path) -> bool:
    """Whether ``path``, symlinks resolved, is ``root`` (resolved) or below it."""
    try:
        path.resolve().relative_to(root.resolve())
    except (ValueError, OSError, RuntimeError):  # RuntimeError: a symlink loop
        return False
    return True


def normalise(base_dir: str, ref: str) -> str | None:
    """Join and normalise a relative reference; None if it leaves the repository."""
    parts: list[str] = [p for p in base_dir.split("/") if p]
    for part in ref.split("/"):
        if part in ("", "."):
            continue
        if part == "..":
            if not parts:
                return None
            parts.pop()
        else:
            parts.append(part)
    return "/".join(parts)
