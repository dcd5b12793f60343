"""Rendered targets on disk, keyed by a hash of everything the render reads.

Rendering is the slow part of reading a repository (a ``kubectl kustomize`` process per root, Helm
per release), and between two runs almost every target is unchanged. The key of a render is a
SHA-256 over the renderer (its identity and version), the render's parameters (root, patches,
namespace; chart, release, values) and the content of every file it can read: for a Kustomize root,
each file in the directories of the kustomizations it builds on plus the files they name; for a
chart, every file under the chart directory. Content, not timestamps, so a fresh checkout in CI hits
the cache that an earlier job saved. Roots with remote references are never cached.

Entries are JSON (never pickle: a cache directory restored in CI must not be able to run code),
written atomically; an unreadable or corrupt entry is a miss. A render whose output JSON cannot
represent exactly (timestamps, non-string keys) is not cached.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any, Iterable

FORMAT = "gitbot-render-cache-1"


class RenderCache:
    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.hits = 0
        self.misses = 0
        self._digests: dict[Path, str] = {}
        self._trees: dict[Path, list[Path]] = {}

    def key(self, kind: str, params: Any, files: Iterable[Path]) -> str | None:
        """The entry name for a render, or None when an input cannot be read (no caching then)."""
        h = hashlib.sha256()
        h.update(json.dumps([FORMAT, kind, params], sort_keys=True, default=str).encode())
        for path in sorted(set(files)):
            digest = self.digest(path)
            if digest is None:
                return None
            h.update(f"\0{path}\0{digest}".encode())
        return h.hexdigest()

    def digest(self, path: Path) -> str | None:
        """SHA-256 of one file's bytes, computed once per run however many renders read it."""
        if path not in self._digests:
            try:
                self._digests[path] = hashlib.sha256(path.read_bytes()).hexdigest()
            except OSError:
                return None
        return self._digests[path]

    def get(self, key: str | None) -> Any | None:
        if key is None:
            return None
        try:
            entry = json.loads((self.directory / key[:2] / f"{key}.json").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            self.misses += 1
            return None
        if not isinstance(entry, dict) or entry.get("format") != FORMAT:
            self.misses += 1
            return None
        self.hits += 1
        return entry.get("value")

    def put(self, key: str | None, value: Any) -> None:
        if key is None:
            return
        try:
            text = json.dumps({"format": FORMAT, "value": value}, ensure_ascii=False)
        except (TypeError, ValueError):
            return
        if json.loads(text)["value"] != value:
            return  # JSON would change it (tuples, non-string keys ...)
        folder = self.directory / key[:2]
        try:
            folder.mkdir(parents=True, exist_ok=True)
            handle, tmp = tempfile.mkstemp(prefix=".tmp-", dir=folder)
            with os.fdopen(handle, "w", encoding="utf-8") as out:
                out.write(text)
            os.replace(tmp, folder / f"{key}.json")
        except OSError:
            return  # a full or read-only cache only costs the next run a render


    def tree(self, root: Path) -> list[Path]:
        """``tree_files(root)``, listed once per run."""
        if root not in self._trees:
            self._trees[root] = tree_files(root)
        return self._trees[root]


def tree_files(root: Path) -> list[Path]:
    """Every regular file under ``root`` (a chart directory), symlinks not followed."""
    out = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        out.extend(Path(dirpath, f) for f in sorted(filenames) if Path(dirpath, f).is_file())
    return out


def dir_files(directory: Path) -> list[Path]:
    """The regular files directly in ``directory``."""
    try:
        return sorted(p for p in directory.iterdir() if p.is_file())
    except OSError:
        return []
