"""Which Helm values key feeds each rendered resources field, found by rendering with sentinels.

Every ``resources``-shaped place in the release's effective values (chart ``values.yaml`` merged
with the release's values files) gets a unique sentinel quantity in each of its four fields —
``requests.cpu``, ``limits.memory``, ... — including empty ``resources: {}`` blocks and ones a
chart fills from a preset (``resourcesPreset``). The chart is rendered once more with them; a
container field that renders as sentinel *n* comes from values key *n*. That handles
``{{ .Values.x.resources.requests.cpu }}``, ``toYaml .Values.x.resources``, per-component keys
(``server.resources``) and presets alike, without reading templates.

The edit then goes to the release's own values file (the last one configured), replacing the key
when the file sets it and inserting it when it does not; with no values file configured, to the
chart's ``values.yaml`` unless the chart is vendored inside another chart. A field whose rendered
value is not the sentinel (hard-coded in a template, computed) stays a template field, not editable.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

from gitbot.errors import SourceError
from gitbot.load import helm
from gitbot.load.cache import RenderCache
from gitbot.load.objects import object_name, pod_containers
from gitbot.model import Field, Target, YamlPath
from gitbot.yamldoc import load_yaml_file

SENTINEL_BASE = 987_650_000  # far from any real request: 987650001m, 987650002Mi ...
PRESET_KEYS = ("resourcesPreset",)
ContainerRef = tuple[str, str, str]  # (kind, name, container): unique within one release


@dataclass(frozen=True)
class ValuesKey:
    path: YamlPath  # in the values, e.g. ("server", "resources", "requests", "cpu")
    preset: str | None  # the preset the chart uses while the resources block is empty
    inline: bool = False  # set by the release's inline values (Argo CD Application, Flux HelmRelease), not a file


@dataclass(frozen=True)
class HelmMapping:
    """For one release: which values key each container field renders from, and where to edit it."""

    fields: Mapping[tuple[ContainerRef, Field], ValuesKey]
    edit_file: str | None  # repo-relative values file gitbot edits, None when none is allowed
    why_not: str | None  # why there is no edit file


def map_release(repo: Path, target: Target, cache: RenderCache | None = None) -> HelmMapping:
    """Render ``target`` with sentinels and map container fields to values keys."""
    assert target.release is not None
    chart_values = _chart_values(repo, target.path)
    user = helm.release_values(repo, target.values_files, target.inline_values)
    inline = json.loads(target.inline_values) if target.inline_values else {}
    effective = helm.merge_values(chart_values, user)
    sentinels: dict[str, ValuesKey] = {}
    overrides = _sentinel_overrides(effective, (), sentinels)
    rendered = helm.render_values(repo, target.path, target.release, target.namespace or "default", helm.merge_values(user, overrides), cache)
    fields: dict[tuple[ContainerRef, Field], ValuesKey] = {}
    for obj in rendered:
        for container, spec in pod_containers(obj.data):
            resources = spec.get("resources") or {}
            for f in Field:
                value = (resources.get(f.bound.value) or {}).get(f.resource.value) if isinstance(resources, dict) else None
                key = sentinels.get(str(value)) if value is not None else None
                if key is not None and _matches(key, f):
                    if _has(inline, key.path):
                        key = ValuesKey(key.path, key.preset, inline=True)
                    ref = (str(obj.data.get("kind")), object_name(obj.data), container)
                    fields[(ref, f)] = key
    edit_file, why_not = _edit_file(repo, target)
    return HelmMapping(fields, edit_file, why_not)


def _edit_file(repo: Path, target: Target) -> tuple[str | None, str | None]:
    if target.declared_by is not None:
        return None, f"the values are set in the HelmRelease ({target.origin})"
    if target.values_files:
        return target.values_files[-1], None
    chart = Path(target.path)
    if any((repo / parent / "Chart.yaml").is_file() for parent in chart.parents if parent != chart and str(parent) != "."):
        return None, "a subchart vendored in another chart; configure a values file for the release to edit"
    return f"{target.path}/values.yaml" if target.path else "values.yaml", None


def _chart_values(repo: Path, chart: str) -> dict[str, Any]:
    path = repo / chart / "values.yaml"
    if not path.is_file():
        return {}
    try:
        docs = load_yaml_file(path, f"{chart}/values.yaml").documents
    except SourceError:
        return {}
    data = docs[0].data if docs else None
    return data if isinstance(data, dict) else {}


def _sentinel_overrides(values: Any, path: YamlPath, sentinels: dict[str, ValuesKey]) -> dict[str, Any]:
    """A values overlay with a sentinel in every resources-shaped block below ``path``."""
    out: dict[str, Any] = {}
    if not isinstance(values, dict):
        return out
    for key, value in values.items():
        if not isinstance(key, str):
            continue
        here = (*path, key)
        if key == "resources" and (value is None or isinstance(value, dict)) and _looks_like_resources(value):
            preset = next((str(values[k]) for k in PRESET_KEYS if isinstance(values.get(k), str) and values[k] not in ("", "none")), None)
            block: dict[str, Any] = {}
            for bound in ("requests", "limits"):
                for resource, suffix in (("cpu", "m"), ("memory", "Mi")):
                    text = f"{SENTINEL_BASE + len(sentinels) + 1}{suffix}"
                    sentinels[text] = ValuesKey((*here, bound, resource), preset if not value else None)
                    block.setdefault(bound, {})[resource] = text
            out[key] = block
        elif isinstance(value, dict):
            inner = _sentinel_overrides(value, here, sentinels)
            if inner:
                out[key] = inner
    return out


def _has(values: Any, path: YamlPath) -> bool:
    for key in path:
        if not isinstance(values, dict) or key not in values:
            return False
        values = values[key]
    return True


def _looks_like_resources(value: dict[str, Any] | None) -> bool:
    """Empty, or only requests/limits (plus other resource names, e.g. ephemeral-storage)."""
    if not value:
        return True
    return set(value) <= {"requests", "limits", "claims"} and all(v is None or isinstance(v, dict) for v in value.values())


def _matches(key: ValuesKey, f: Field) -> bool:
    return key.path[-2:] == (f.bound.value, f.resource.value)
