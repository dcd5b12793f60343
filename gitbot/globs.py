"""Glob patterns for repository paths and workload ids.

``*`` matches within one path segment, ``?`` one character, ``**`` any number of whole segments
(``apps/**`` matches ``apps`` and everything below it, ``**/prod/*.yaml`` a ``prod`` directory at any depth).
The same syntax matches workload ids such as ``shop/Deployment/legacy-*``.
"""

from __future__ import annotations

import functools
import re


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
