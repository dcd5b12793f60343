"""Which Helm values key feeds each rendered resources field, found by rendering with sentinels.

Every ``resources``-shaped place in the release's effective values (the chart's and its subcharts'
defaults coalesced with the release's values, as Helm does) gets a unique sentinel quantity in each of its four fields —
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
from typing import Any, Iterable, Mapping

from gitbot.load import helm
from gitbot.load.cache import RenderCache
from gitbot.load.objects import object_name, pod_containers
from gitbot.model import Field, Resource, Target, YamlPath
from gitbot.quantity import QuantityError, parse_cpu_m, parse_memory_bytes

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


def map_release(repo: Path, target: Target, location: Path, cache: RenderCache | None = None) -> HelmMapping:
    """Render ``target`` (its chart prepared at ``location``) with sentinels and map container fields to values keys."""
    assert target.release is not None
    user = helm.release_values(repo, target.values_files, target.inline_values)
    inline = json.loads(target.inline_values) if target.inline_values else {}
    effective = helm.chart_values(location, target.path, user)
    sentinels: dict[str, ValuesKey] = {}
    overrides = _sentinel_overrides(effective, (), sentinels)
    rendered = helm.render_values(location, target.path, target.release, target.namespace or "default", helm.merge_values(user, overrides), cache)
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
    if target.values_files:
        return target.values_files[-1], None
    if target.declared_kind == "HelmRelease":
        return None, f"the values are set in the HelmRelease ({target.origin})"
    if target.chart is not None:
        return None, f"the chart is pulled from {target.path}; set the value in {target.origin or 'the release'}"
    chart = Path(target.path)
    if any((repo / parent / "Chart.yaml").is_file() for parent in chart.parents if parent != chart and str(parent) != "."):
        return None, "a subchart vendored in another chart; configure a values file for the release to edit"
    return f"{target.path}/values.yaml" if target.path else "values.yaml", None


def match_rendered(values: Any, objects: Iterable[Mapping[str, Any]]) -> dict[tuple[ContainerRef, Field], ValuesKey]:
    """For ``helm template`` output whose chart gitbot cannot render: the values key each container
    field comes from, found by value. A container maps to a ``resources`` block of ``values`` when
    the block sets exactly the four numbers the container renders with (unset ones included) and no
    other block does; then all four fields map there (an unset one is inserted in that block)."""
    blocks: list[tuple[YamlPath, dict[Field, int | None]]] = []
    _resources_blocks(values, (), blocks)
    out: dict[tuple[ContainerRef, Field], ValuesKey] = {}
    for data in objects:
        for container, spec in pod_containers(data):
            rendered = _numbers(spec.get("resources"))
            if rendered is None or not any(v is not None for v in rendered.values()):
                continue
            matches = [path for path, numbers in blocks if numbers == rendered]
            if len(matches) != 1:
                continue
            ref = (str(data.get("kind")), object_name(data), container)
            for f in Field:
                out[(ref, f)] = ValuesKey((*matches[0], f.bound.value, f.resource.value), None)
    return out


def _resources_blocks(values: Any, path: YamlPath, out: list[tuple[YamlPath, dict[Field, int | None]]]) -> None:
    if not isinstance(values, dict):
        return
    for key, value in values.items():
        if not isinstance(key, str):
            continue
        if key == "resources" and isinstance(value, dict) and value and _looks_like_resources(value):
            numbers = _numbers(value)
            if numbers is not None and any(v is not None for v in numbers.values()):
                out.append(((*path, key), numbers))
        elif isinstance(value, dict):
            _resources_blocks(value, (*path, key), out)


def _numbers(resources: Any) -> dict[Field, int | None] | None:
    """The four fields of a resources block as exact numbers; None when one is not a quantity."""
    if not isinstance(resources, dict):
        return None
    out: dict[Field, int | None] = {}
    for f in Field:
        bound = resources.get(f.bound.value)
        value = bound.get(f.resource.value) if isinstance(bound, dict) else None
        try:
            out[f] = None if value is None else (parse_cpu_m(value) if f.resource is Resource.CPU else parse_memory_bytes(value))
        except QuantityError:
            return None
    return out


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
