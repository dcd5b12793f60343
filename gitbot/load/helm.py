"""Render local Helm charts in-process with helm-python-sdk (Helm v4 SDK, no helm binary).

A chart is rendered once per release configured in ``.gitbot.yaml`` (``helm.releases``), Flux
HelmRelease or Argo CD Application, or once with its own defaults when none is configured. The chart
is a directory of the repository or a pulled archive (``gitbot.load.charts``). Values files are merged in order like ``helm -f a -f
b``: mappings merge key by key, anything else replaces, and ``null`` removes a chart default.
Helm test hooks are not workloads and are left out.
"""

from __future__ import annotations

import functools
import json
from importlib import metadata
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gitbot.errors import SourceError
from gitbot.load.cache import RenderCache
from gitbot.load.objects import kubernetes_objects
from gitbot.yamldoc import load_all, load_yaml_file

TEST_HOOKS = {"test", "test-success", "test-failure"}


@dataclass(frozen=True)
class HelmObject:
    data: dict[str, Any]
    template: str  # repo-relative template file that produced it
    doc_index: int


def render(repo: Path, location: Path, label: str, release: str, namespace: str, values_files: tuple[str, ...], inline: str = "",
           cache: RenderCache | None = None) -> list[HelmObject]:
    """Render the chart at ``location`` (a directory or archive; ``label`` names it in template
    paths) with the release's values files from ``repo`` and its inline values."""
    return render_values(location, label, release, namespace, release_values(repo, values_files, inline), cache)


def release_values(repo: Path, values_files: tuple[str, ...], inline: str = "") -> dict[str, Any]:
    """The values a release passes to Helm: its files merged in order, then inline values (JSON)."""
    values = merged_values(repo, values_files)
    return merge_values(values, json.loads(inline)) if inline else values


def render_values(location: Path, label: str, release: str, namespace: str, values: dict[str, Any],
                  cache: RenderCache | None = None) -> list[HelmObject]:
    """Render with ``values`` given directly (merged over the chart's own values.yaml by Helm);
    with ``cache``, an unchanged chart and the same values are read from it."""
    return render_cached(location, label, release, namespace, values, cache)[0]


def render_cached(location: Path, label: str, release: str, namespace: str, values: dict[str, Any],
                  cache: RenderCache | None = None) -> tuple[list[HelmObject], bool]:
    """``render_values``, and whether the objects came from the render cache."""
    key = None
    if cache is not None:
        files = cache.tree(location) if location.is_dir() else [location]
        key = cache.key("helm", [_renderer(), label, release, namespace, values], files)
        hit = cache.get(key)
        if isinstance(hit, list):
            return [HelmObject(data, template, index) for data, template, index in hit], True
    objects = _render_values(location, label, release, namespace, values)
    if cache is not None:
        cache.put(key, [[o.data, o.template, o.doc_index] for o in objects])
    return objects, False


def chart_values(location: Path, label: str, user: dict[str, Any] | None = None) -> dict[str, Any]:
    """The values the chart at ``location`` renders with: its defaults (and its subcharts') with
    ``user`` merged over them, as Helm coalesces them."""
    helm_python = _sdk(label)
    try:
        with helm_python.Chart.load(str(location)) as chart:
            return chart.merge_values(user or {})
    except helm_python.HelmError as exc:
        raise SourceError(label, f"helm cannot read the chart: {_one_line(str(exc))}") from None


@functools.cache
def _renderer() -> str:
    try:
        return f"helm-python-sdk {metadata.version('helm-python-sdk')}"
    except metadata.PackageNotFoundError:  # pragma: no cover - the dependency is declared
        return "helm-python-sdk"


def _sdk(label: str) -> Any:
    try:
        import helm_python
    except ImportError as exc:  # pragma: no cover - the dependency is declared
        raise SourceError(label, f"helm-python-sdk is not importable: {exc}") from None
    return helm_python


def _render_values(location: Path, label: str, release: str, namespace: str, values: dict[str, Any]) -> list[HelmObject]:
    helm_python = _sdk(label)
    try:
        with helm_python.Chart.load(str(location)) as chart:  # loaded for each render: Helm drops disabled subcharts from it
            manifests = chart.render(values, name=release, namespace=namespace)
            chart_name = chart.name
    except helm_python.HelmError as exc:
        raise SourceError(label, f"helm render failed: {_one_line(str(exc))}") from None

    objects: list[HelmObject] = []
    for key in sorted(manifests):
        if not key.endswith((".yaml", ".yml", ".json")):
            continue  # NOTES.txt and the like
        template = _template_path(label, chart_name, key)
        for index, data in enumerate(load_all(manifests[key], template)):
            for found in kubernetes_objects(index, data):
                hook = ((found.data.get("metadata") or {}).get("annotations") or {}).get("helm.sh/hook", "")
                if TEST_HOOKS.intersection(h.strip() for h in str(hook).split(",")):
                    continue
                objects.append(HelmObject(dict(found.data), template, index))
    return objects


def merged_values(repo: Path, values_files: tuple[str, ...]) -> dict[str, Any]:
    merged: dict[str, Any] = {}
    for rel in values_files:
        path = repo / rel
        if not path.is_file():
            raise SourceError(rel, "values file does not exist")
        docs = load_yaml_file(path, rel).documents
        data = docs[0].data if docs else None
        if data is None:
            continue
        if not isinstance(data, dict):
            raise SourceError(rel, "values file is not a mapping")
        merged = merge_values(merged, data)
    return merged


def merge_values(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merge_values(out[key], value)
        else:
            out[key] = value
    return out


def _template_path(chart_dir: str, chart_name: str, key: str) -> str:
    """``podinfo/templates/x.yaml`` -> ``<chart_dir>/templates/x.yaml``."""
    inner = key.split("/", 1)[1] if key.startswith(chart_name + "/") else key
    return f"{chart_dir}/{inner}" if chart_dir else inner


def _one_line(text: str) -> str:
    return " ".join(text.split())[:400]
