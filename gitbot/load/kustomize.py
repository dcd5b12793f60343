"""Render Kustomize roots with ``kubectl kustomize`` and keep each object's origin file.

The user's files are never touched: a throwaway wrapper kustomization in a temporary directory
points at the root and turns on ``buildMetadata: [originAnnotations, transformerAnnotations]``.
kustomize then annotates each object with the file it came from and the kustomization files whose
transformers (patches, namespace, prefixes ...) changed it. gitbot reads and removes those
annotations, so the object data is exactly what a plain ``kubectl kustomize ROOT`` produces.
The load restrictor is off, as in Flux's kustomize-controller, so roots that read files from
sibling directories render as they do in the cluster.
"""

from __future__ import annotations

import functools
import json
import os
import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, Sequence

from gitbot.errors import SourceError
from gitbot.load.objects import kubernetes_objects
from gitbot.yamldoc import load_all

ORIGIN = "config.kubernetes.io/origin"
TRANSFORMATIONS = "alpha.config.kubernetes.io/transformations"
TIMEOUT_SECONDS = 300


@dataclass(frozen=True)
class KustomizeObject:
    data: dict[str, Any]
    origin_file: str | None  # repo-relative file the object was read from; None if generated or remote
    transformed_by: tuple[str, ...]  # repo-relative kustomization files whose transformers changed it
    generated_by: str | None  # kustomization file of a generator, for generated objects


def render(
    repo: Path, root: str, patches: Sequence[Mapping[str, Any]] = (), patches_from: str | None = None, namespace: str | None = None
) -> list[KustomizeObject]:
    """Build ``root`` (a repo-relative directory). Raises SourceError with kustomize's message.

    ``patches`` and ``namespace`` are applied on top, as a Flux Kustomization's ``spec.patches`` and
    ``spec.targetNamespace`` are; objects the patches change name ``patches_from`` (the file that
    declares them) in ``transformed_by``."""
    command = _kustomize_command()
    repo = repo.resolve()
    with tempfile.TemporaryDirectory(prefix="gitbot-kustomize-") as tmp:
        wrapper = Path(tmp, "wrapper")
        wrapper.mkdir()
        relative = os.path.relpath(repo / root, wrapper)
        extra = f"patches: {json.dumps([dict(p) for p in patches])}\n" if patches else ""
        extra += f"namespace: {json.dumps(namespace)}\n" if namespace else ""
        (wrapper / "kustomization.yaml").write_text(
            "apiVersion: kustomize.config.k8s.io/v1beta1\n"
            "kind: Kustomization\n"
            f"resources:\n  - {json.dumps(relative)}\n"
            f"{extra}"
            "buildMetadata: [originAnnotations, transformerAnnotations]\n",
            encoding="utf-8",
        )
        try:
            proc = subprocess.run(
                [*command, str(wrapper), "--load-restrictor=LoadRestrictionsNone"],
                capture_output=True,
                text=True,
                timeout=TIMEOUT_SECONDS,
                env=_clean_env(),
            )
        except subprocess.TimeoutExpired:
            raise SourceError(root, f"kustomize build timed out after {TIMEOUT_SECONDS}s") from None
        if proc.returncode != 0:
            raise SourceError(root, f"kustomize build failed: {_error_text(proc.stderr, wrapper, repo)}")
        docs = load_all(proc.stdout, f"{root} (kustomize output)")
        objects: list[KustomizeObject] = []
        for index, data in enumerate(docs):
            for found in kubernetes_objects(index, data):
                objects.append(_read_annotations(dict(found.data), wrapper, repo, patches_from))
        return objects


def _read_annotations(data: dict[str, Any], wrapper: Path, repo: Path, patches_from: str | None = None) -> KustomizeObject:
    metadata = dict(data.get("metadata") or {})
    annotations = dict(metadata.get("annotations") or {})
    origin = _parse_small_yaml(annotations.pop(ORIGIN, None))
    transformations = _parse_small_yaml(annotations.pop(TRANSFORMATIONS, None))
    if annotations:
        metadata["annotations"] = annotations
    else:
        metadata.pop("annotations", None)
    data["metadata"] = metadata

    origin_file = generated_by = None
    if isinstance(origin, dict):
        if isinstance(origin.get("path"), str) and not origin.get("repo"):
            origin_file = _repo_relative(wrapper, origin["path"], repo)
        elif isinstance(origin.get("configuredIn"), str):
            generated_by = _repo_relative(wrapper, origin["configuredIn"], repo)
    transformed: list[str] = []
    for item in transformations if isinstance(transformations, list) else []:
        if isinstance(item, dict) and isinstance(item.get("configuredIn"), str):
            configured_by = item.get("configuredBy") or {}
            if isinstance(configured_by, dict) and configured_by.get("kind") in (
                "PatchTransformer",
                "PatchStrategicMergeTransformer",
                "PatchJson6902Transformer",
                "ReplacementTransformer",
            ):
                rel = _repo_relative(wrapper, item["configuredIn"], repo)
                if rel is None and Path(os.path.normpath(wrapper / item["configuredIn"])) == wrapper / "kustomization.yaml":
                    rel = patches_from  # the wrapper's own patches: those of a Flux Kustomization
                if rel is not None and rel not in transformed:
                    transformed.append(rel)
    return KustomizeObject(data, origin_file, tuple(transformed), generated_by)


def _parse_small_yaml(text: Any) -> Any:
    if not isinstance(text, str):
        return None
    try:
        docs = load_all(text, "annotation")
    except SourceError:
        return None
    return docs[0] if docs else None


def _repo_relative(wrapper: Path, path: str, repo: Path) -> str | None:
    full = Path(os.path.normpath(wrapper / path))
    try:
        return full.relative_to(repo).as_posix()
    except ValueError:
        return None


@functools.cache
def renderer() -> str:
    """Which kustomize renders (the binary's path, size and mtime): part of a render cache key."""
    command = _kustomize_command()
    path = shutil.which(command[0]) or command[0]
    try:
        st = os.stat(path)
    except OSError:
        return " ".join(command)
    return f"{' '.join(command)} {path} {st.st_size} {st.st_mtime_ns}"


def _kustomize_command() -> list[str]:
    if shutil.which("kubectl"):
        return ["kubectl", "kustomize"]
    if shutil.which("kustomize"):
        return ["kustomize", "build"]
    raise SourceError("kustomize", "neither kubectl nor kustomize is on PATH; cannot render Kustomize roots")


def _clean_env() -> dict[str, str]:
    """The environment without variables that would point kustomize's git at another repository."""
    return {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}


def _error_text(stderr: str, wrapper: Path, repo: Path) -> str:
    """kustomize's error without the klog prefix and with paths relative to the repository."""
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    at = next((i for i, line in enumerate(lines) if "err=" in line), None)
    text = lines[at] if at is not None else lines[-1] if lines else "no error output"
    match = re.search(r'err="(.*)"\s*$', text)
    if match:
        text = match.group(1)
    elif at is not None and text.endswith("err=<"):  # klog's multi-line form: err=< ... >
        block = []
        for line in lines[at + 1:]:
            if line == ">":
                break
            block.append(line)
        text = " ".join(block) or text
    nested = text.rfind("accumulation err='")
    if nested != -1:  # kustomize wraps the error once per base it went through: the innermost says what is wrong
        text = text[nested + len("accumulation err='"):]
    relative = os.path.relpath(repo, wrapper)  # how the wrapper names the repository
    text = text.replace(f"{relative}/", "").replace(relative, ".")
    text = text.replace(f"{repo}/", "").replace(str(repo), ".").replace(str(wrapper), "<wrapper>")
    return text if len(text) <= 400 else text[:399] + "…"
