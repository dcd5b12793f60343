"""Find the render targets of a repository: plain manifest files, Kustomize roots and Helm charts.

Rules, in order:
- hidden files and directories (``.git``, ``.github``, ``.gitbot.yaml`` ...) and ``exclude`` globs from the config are not read;
  symlinks that resolve outside the repository are never followed;
- a directory with ``Chart.yaml`` is a Helm chart: its files are rendered by Helm, never read as
  plain manifests (subcharts under ``charts/`` belong to their parent);
- a directory with a kustomization file is a Kustomize directory. The ones no other kustomization
  in the repository refers to are the roots that get rendered (unless ``kustomize.targets`` lists
  them explicitly). Every local file a kustomization refers to, and every manifest beside a
  kustomization file, belongs to Kustomize and is not read as a plain file;
- every other ``.yaml`` / ``.yml`` / ``.json`` file is a plain manifest file.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from pathlib import Path, PurePosixPath
from typing import Any, Mapping

from gitbot.config import Config
from gitbot.errors import SourceError
from gitbot.globs import normalise, path_matches, within
from gitbot.model import Skipped, YamlPath
from gitbot.yamldoc import parse_yaml, read_text

KUSTOMIZATION_FILES = ("kustomization.yaml", "kustomization.yml", "Kustomization")
MANIFEST_SUFFIXES = (".yaml", ".yml", ".json")

# kustomization fields that name other kustomizations (directories) or resource files
_RESOURCE_FIELDS = ("resources", "bases", "components")
# fields that name files only
_FILE_LIST_FIELDS = ("patchesStrategicMerge", "crds", "transformers", "generators", "validators")


@dataclass(frozen=True)
class PatchRef:
    """One entry of a kustomization's patches: a file (or inline text) and its optional target."""

    file: str | None  # repo-relative patch file; None for an inline patch
    target: Mapping[str, Any] | None  # the entry's target selector (kind, name, ...), if any
    inline_path: YamlPath | None = None  # for an inline patch: where its text is in the kustomization
    doc: int = 0  # the document of the file that holds the inline patch


@dataclass
class Kustomization:
    dir: str  # repo-relative
    file: str  # repo-relative path of the kustomization file
    children: list[str] = field(default_factory=list)  # kustomization dirs it builds on
    files: list[str] = field(default_factory=list)  # local files it reads
    manifests: list[str] = field(default_factory=list)  # the ones kustomize parses as YAML (resources, patches)
    remote: list[str] = field(default_factory=list)  # remote references it needs
    component: bool = False  # kind: Component: only built as part of a kustomization that uses it
    patches: list[PatchRef] = field(default_factory=list)  # in the order kustomize applies them


@dataclass
class Discovery:
    plain_files: list[str] = field(default_factory=list)
    kustomize_roots: list[str] = field(default_factory=list)
    kustomizations: dict[str, Kustomization] = field(default_factory=dict)
    charts: list[str] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)
    broken: dict[str, str] = field(default_factory=dict)  # kustomization dirs that cannot be read or build on each other in a cycle: why


def discover(repo: Path, config: Config) -> Discovery:
    """Targets in ``repo``; directories of pre-rendered HelmRelease output are left to the loader."""
    if config.helm_rendered:
        config = replace(config, exclude=(*config.exclude, *(f"{d}/**" for d in config.helm_rendered.values())))
    result = Discovery()
    repo = repo.resolve()
    manifest_files: list[str] = []
    kustomize_dirs: dict[str, str] = {}
    for rel_dir, files in _walk(repo, config, result.skipped):
        names = set(files)
        if "Chart.yaml" in names and not _inside_chart(rel_dir, result.charts):
            result.charts.append(rel_dir)
        kfile = next((k for k in KUSTOMIZATION_FILES if k in names), None)
        if kfile is not None:
            kustomize_dirs[rel_dir] = _join(rel_dir, kfile)
        manifest_files.extend(_join(rel_dir, f) for f in files if f.endswith(MANIFEST_SUFFIXES))

    for kdir, kfile in sorted(kustomize_dirs.items()):
        if _inside_chart(kdir, result.charts):
            continue
        try:
            result.kustomizations[kdir] = _read_kustomization(repo, kdir, kfile, kustomize_dirs, config.max_file_bytes, result.skipped)
        except SourceError as exc:
            result.skipped.append(Skipped(exc.path, exc.detail, exc.line))
            result.broken[kdir] = str(exc)
    for cycle in _cycles(result.kustomizations):
        first = result.kustomizations[cycle[0]]
        reason = f"kustomization cycle: {' -> '.join([*cycle, cycle[0]])}; not rendered"
        result.skipped.append(Skipped(first.file, reason))
        result.broken[cycle[0]] = f"{first.file}: {reason}"
        for kdir in cycle:
            del result.kustomizations[kdir]

    referenced = {child for k in result.kustomizations.values() for child in k.children}
    if config.kustomize_targets is not None:
        result.kustomize_roots = [t.rstrip("/") for t in config.kustomize_targets]
    else:
        result.kustomize_roots = sorted(
            d for d, k in result.kustomizations.items() if d not in referenced and not k.component
        )

    owned = {f for k in result.kustomizations.values() for f in k.files}
    owned.update(k.file for k in result.kustomizations.values())
    kdirs = set(kustomize_dirs)
    for path in sorted(manifest_files):
        parent = _parent(path)
        if path in owned or parent in kdirs or _inside_chart(path, result.charts, include_root=True):
            continue
        result.plain_files.append(path)
    return result


def _walk(repo: Path, config: Config, skipped: list[Skipped]) -> list[tuple[str, list[str]]]:
    found: list[tuple[str, list[str]]] = []
    for dirpath, dirnames, filenames in os.walk(repo, followlinks=False):
        rel_dir = PurePosixPath(Path(dirpath).relative_to(repo)).as_posix()
        rel_dir = "" if rel_dir == "." else rel_dir
        kept_dirs = []
        for d in sorted(dirnames):
            rel = _join(rel_dir, d)
            if d.startswith(".") or path_matches(config.exclude, rel):
                continue
            full = Path(dirpath, d)
            if full.is_symlink():
                if not within(repo, full):
                    skipped.append(Skipped(rel, "symlink points outside the repository; not followed"))
                continue  # symlinked directories inside the repo are read through their real path
            kept_dirs.append(d)
        dirnames[:] = kept_dirs
        files = []
        for f in sorted(filenames):
            rel = _join(rel_dir, f)
            if f.startswith(".") or path_matches(config.exclude, rel):
                continue
            full = Path(dirpath, f)
            if full.is_symlink() and not full.exists():
                skipped.append(Skipped(rel, "broken symlink (its target does not exist, or it loops); not read"))
                continue
            if full.is_symlink() and not within(repo, full):
                skipped.append(Skipped(rel, "symlink points outside the repository; not read"))
                continue
            files.append(f)
        found.append((rel_dir, files))
    return found


def _read_kustomization(repo: Path, kdir: str, kfile: str, kustomize_dirs: dict[str, str], max_bytes: int,
                        notes: list[Skipped]) -> Kustomization:
    """The kustomization in ``kfile``; the parser's notes on it (an anchor defined twice) go to ``notes``."""
    text = read_text(repo / kfile, kfile, max_bytes)
    docs = parse_yaml(text, kfile, notes)
    data = docs[0].data if docs else None
    if not isinstance(data, dict):
        raise SourceError(kfile, "kustomization is not a mapping")
    k = Kustomization(dir=kdir, file=kfile, component=data.get("kind") == "Component")

    def add(ref: Any, key: str, dirs_allowed: bool) -> None:
        if not isinstance(ref, str) or not ref:
            return
        if _is_remote(ref):
            k.remote.append(ref)
            return
        rel = None if ref.startswith("/") else normalise(kdir, ref)
        if rel is None:
            raise SourceError(kfile, f"{key} entry {ref!r} points outside the repository; not rendered")
        if not within(repo, repo / rel):
            raise SourceError(kfile, f"{key} entry {ref!r} is a symlink that points outside the repository; not rendered")
        if dirs_allowed and rel in kustomize_dirs:
            k.children.append(rel)
        elif (repo / rel).is_dir():
            if dirs_allowed:
                raise SourceError(kfile, f"{key} entry {ref!r} is a directory without a kustomization file")
        else:
            k.files.append(rel)
            if key not in ("configMapGenerator", "secretGenerator"):
                k.manifests.append(rel)

    for key in (*_RESOURCE_FIELDS, *_FILE_LIST_FIELDS, "patches", "patchesJson6902", "configMapGenerator", "secretGenerator"):
        if data.get(key) is not None and not isinstance(data[key], list):
            raise SourceError(kfile, f"{key} is not a list")
    for key in _RESOURCE_FIELDS:
        for ref in _as_list(data.get(key)):
            add(ref, key, dirs_allowed=True)
    for key in _FILE_LIST_FIELDS:
        for ref in _as_list(data.get(key)):
            add(ref, key, dirs_allowed=False)
    for key in ("patchesStrategicMerge", "patches", "patchesJson6902"):
        for index, item in enumerate(_as_list(data.get(key))):
            if isinstance(item, str):
                inline = "\n" in item
                if not inline:
                    add(item, key, dirs_allowed=False)
                k.patches.append(PatchRef(None if inline else normalise(kdir, item), None, (key, index) if inline else None))
            elif isinstance(item, dict):
                target = item.get("target") if isinstance(item.get("target"), dict) else None
                path = item.get("path")
                if isinstance(path, str):
                    k.patches.append(PatchRef(normalise(kdir, path), target))
                else:
                    k.patches.append(PatchRef(None, target, (key, index, "patch") if isinstance(item.get("patch"), str) else None))
    for key in ("patches", "patchesJson6902", "replacements"):
        for item in _as_list(data.get(key)):
            if isinstance(item, dict):
                add(item.get("path"), key, dirs_allowed=False)
    for key in ("configMapGenerator", "secretGenerator"):
        for item in _as_list(data.get(key)):
            if isinstance(item, dict):
                for ref in _as_list(item.get("files")) + _as_list(item.get("envs")) + _as_list(item.get("env")):
                    if isinstance(ref, str):
                        add(ref.split("=", 1)[-1], key, dirs_allowed=False)
    return k


def _cycles(kustomizations: Mapping[str, Kustomization]) -> list[list[str]]:
    """Each cycle of kustomizations building on each other, once, in the order they refer to each other."""
    cycles: list[list[str]] = []
    done: set[str] = set()
    for start in sorted(kustomizations):
        path: list[str] = []
        on_path: set[str] = set()
        stack: list[tuple[str, int]] = [(start, 0)]
        while stack:
            kdir, child_index = stack.pop()
            if child_index == 0:
                if kdir in done:
                    continue
                path.append(kdir)
                on_path.add(kdir)
            children = kustomizations[kdir].children if kdir in kustomizations else []
            if child_index < len(children):
                stack.append((kdir, child_index + 1))
                child = children[child_index]
                if child in on_path:
                    cycle = path[path.index(child):]
                    if not any(set(cycle) == set(c) for c in cycles):
                        cycles.append(cycle)
                elif child not in done:
                    stack.append((child, 0))
            else:
                path.pop()
                on_path.discard(kdir)
                done.add(kdir)
    return cycles


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def _is_remote(ref: str) -> bool:
    return "://" in ref or ref.startswith(("github.com/", "git@", "gitlab.com/", "bitbucket.org/"))


def _inside_chart(path: str, charts: list[str], include_root: bool = False) -> bool:
    for chart in charts:
        if chart == "" or path.startswith(chart + "/") or (include_root and path == chart):
            return True
    return False


def _join(directory: str, name: str) -> str:
    return f"{directory}/{name}" if directory else name


def _parent(path: str) -> str:
    return path.rsplit("/", 1)[0] if "/" in path else ""
