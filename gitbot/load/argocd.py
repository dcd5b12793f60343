"""Argo CD Applications that deploy a Helm chart from this repository become Helm releases.

An Application whose ``spec.source`` (or one of ``spec.sources``) has a ``path`` naming a chart
directory in the repository is rendered as that release: ``helm.releaseName`` (else the
Application's name), ``spec.destination.namespace`` and ``helm.valueFiles`` (relative to the chart).
Values written inline in the Application (``helm.values``, ``helm.valuesObject``,
``helm.parameters``) are applied too, but not edited: fields they set are comment-only. A
``path`` that is a Kustomize directory is rendered as a Kustomize root anyway; remote sources and
``$ref`` value files cannot be followed and are reported. An ApplicationSet's list generator is
expanded into its Applications (placeholders filled in); values in its shared template are not
edited, and other generators are reported.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Iterable, Iterator, Mapping

from gitbot.config import HelmRelease
from gitbot.errors import SourceError
from gitbot.load.discover import normalise
from gitbot.load.objects import object_name
from gitbot.model import RenderedObject, YamlPath
from gitbot.yamldoc import parse_yaml

APPLICATION_API = "argoproj.io/"


@dataclass(frozen=True)
class ArgoRelease:
    release: HelmRelease
    application: str  # "file: name", for messages
    inline_values: Mapping[str, Any]  # helm.values / valuesObject / parameters, applied after the files
    obj: RenderedObject | None = None  # the Application
    values_object_path: YamlPath | None = None  # where helm.valuesObject is in the Application, when it is a mapping
    not_editable_values: Mapping[str, Any] = field(default_factory=dict)  # what helm.values (text) and parameters set


@dataclass(frozen=True)
class Followed:
    releases: tuple[ArgoRelease, ...]
    followed: frozenset[tuple[str, str]]  # (file, name) of Applications/ApplicationSets rendered or reported here
    problems: tuple[tuple[str, int | None, str], ...]  # (file, line, reason)


def follow(objects: Iterable[RenderedObject], charts: Iterable[str]) -> Followed:
    chart_dirs = set(charts)
    releases: list[ArgoRelease] = []
    followed: set[tuple[str, str]] = set()
    problems: list[tuple[str, int | None, str]] = []
    for obj, generated in _applications(objects, problems, followed):
        spec = obj.data.get("spec") or {}
        sources = [spec["source"]] if isinstance(spec.get("source"), dict) else list(spec.get("sources") or [])
        name = object_name(obj.data)
        namespace = (spec.get("destination") or {}).get("namespace")
        for index, source in enumerate(sources):
            if not isinstance(source, dict):
                continue
            path = str(source.get("path") or "").strip("/").removeprefix("./")
            if normalise("", path) is None or str(source.get("path") or "").startswith("/"):
                problems.append((obj.source.file, obj.source.line, f"Application {name}: source path {source.get('path')!r} is outside the repository; not followed"))
                followed.add((obj.source.file, name))
                continue
            if path not in chart_dirs:
                continue
            helm = source.get("helm") or {}
            files: list[str] = []
            for vf in helm.get("valueFiles") or []:
                if not isinstance(vf, str) or vf.startswith("$"):
                    problems.append((obj.source.file, obj.source.line, f"Application {name}: value file {vf!r} is in another source; not read"))
                    continue
                joined = normalise(path, vf)
                if joined is None:
                    problems.append((obj.source.file, obj.source.line, f"Application {name}: value file {vf!r} is outside the repository; not read"))
                    continue
                files.append(joined)
            release = HelmRelease(path, str(helm.get("releaseName") or name), namespace if isinstance(namespace, str) else None, tuple(files))
            where = f"{obj.source.file}: {name}"
            source_path: YamlPath = ("spec", "source") if isinstance(spec.get("source"), dict) else ("spec", "sources", index)
            values_object = helm.get("valuesObject")
            editable_object = isinstance(values_object, dict) and not generated  # an ApplicationSet's template is shared
            releases.append(ArgoRelease(
                release, where, _inline(helm, where), obj,
                source_path + ("helm", "valuesObject") if editable_object else None,
                _inline({"parameters": helm.get("parameters")}, where) if editable_object else {},
            ))
            followed.add((obj.source.file, name if not generated else str((obj.data.get("metadata") or {}).get("labels", {}).get(GENERATED_FROM, name))))
    return Followed(tuple(releases), frozenset(followed), tuple(problems))


GENERATED_FROM = "gitbot/applicationset"
_PLACEHOLDER = re.compile(r"\{\{\s*\.?([A-Za-z0-9_.-]+)\s*\}\}")


def _applications(
    objects: Iterable[RenderedObject], problems: list[tuple[str, int | None, str]], reported: set[tuple[str, str]]
) -> Iterator[tuple[RenderedObject, bool]]:
    """Applications, and those an ApplicationSet's list generator makes (True: generated).
    An ApplicationSet with a generator gitbot cannot expand is reported once, here."""
    for obj in objects:
        if not str(obj.data.get("apiVersion", "")).startswith(APPLICATION_API):
            continue
        if obj.kind == "Application":
            yield obj, False
        elif obj.kind == "ApplicationSet":
            before = len(problems)
            yield from ((app, True) for app in _generate(obj, problems))
            if len(problems) > before:
                reported.add((obj.source.file, object_name(obj.data)))


def _generate(obj: RenderedObject, problems: list[tuple[str, int | None, str]]) -> list[RenderedObject]:
    """One Application per element of the ApplicationSet's list generators, placeholders filled in
    (``{{name}}``, ``{{.name}}``, ``{{values.x}}``); other generators need a cluster or a git host."""
    spec = obj.data.get("spec") or {}
    template = spec.get("template")
    name = object_name(obj.data)
    out: list[RenderedObject] = []
    for generator in spec.get("generators") or []:
        kind = next(iter(generator), "?") if isinstance(generator, dict) and generator else "?"
        if kind != "list":
            problems.append((obj.source.file, obj.source.line, f"ApplicationSet {name}: the {kind} generator is not followed (only list); point gitbot at the source paths"))
            continue
        elements = (generator.get("list") or {}).get("elements") or []
        for element in elements if isinstance(template, dict) else []:
            if not isinstance(element, dict):
                continue
            data = _fill(template, element)
            if not isinstance(data, dict):
                continue
            meta = dict(data.get("metadata") or {})
            meta["labels"] = {**(meta.get("labels") or {}), GENERATED_FROM: name}
            app = {"apiVersion": obj.data.get("apiVersion"), "kind": "Application", **data, "metadata": meta}
            out.append(RenderedObject(obj.target, app, obj.source, obj.patched_by))
    return out


def _fill(value: Any, element: Mapping[str, Any]) -> Any:
    if isinstance(value, str):
        def lookup(match: re.Match[str]) -> str:
            found: Any = element
            for part in match.group(1).split("."):
                found = found.get(part) if isinstance(found, dict) else None
            return match.group(0) if found is None or isinstance(found, (dict, list)) else str(found)

        return _PLACEHOLDER.sub(lookup, value)
    if isinstance(value, dict):
        return {k: _fill(v, element) for k, v in value.items()}
    if isinstance(value, list):
        return [_fill(v, element) for v in value]
    return value


def _inline(helm: Mapping[str, Any], where: str) -> dict[str, Any]:
    values: dict[str, Any] = {}
    if isinstance(helm.get("valuesObject"), dict):
        values.update(helm["valuesObject"])
    elif isinstance(helm.get("values"), str):
        try:
            docs = parse_yaml(helm["values"], where)
        except SourceError:
            docs = []
        if docs and isinstance(docs[0].data, dict):
            values.update(docs[0].data)
    for p in helm.get("parameters") or []:
        if isinstance(p, dict) and isinstance(p.get("name"), str):
            _set(values, p["name"].split("."), p.get("value"))
    return values


def _set(values: dict[str, Any], keys: list[str], value: Any) -> None:
    for key in keys[:-1]:
        values = values.setdefault(key, {})
    values[keys[-1]] = value

