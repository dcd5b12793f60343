"""Flux HelmReleases whose chart gitbot can render become Helm releases.

A HelmRelease found in a rendered target (a Kustomize root, a plain file, a chart) is rendered with
its chart:

- ``spec.chart.spec.sourceRef.kind: GitRepository`` with ``chart: ./path`` naming a chart directory;
- a chart that the config maps to a vendored copy (``helm.charts: {<chart name>: <directory>}``);
- else a chart pulled (``gitbot.load.charts``) from the HelmRepository (HTTP(S) index or
  ``type: oci``) that ``spec.chart.spec.sourceRef`` names, at ``spec.chart.spec.version``; or from
  the OCIRepository (``ref.tag``/``semver``/``digest``) or HelmChart that ``spec.chartRef`` names.
  The source object must be in this repository.

The release's values are what Flux would pass: ``spec.valuesFrom`` (ConfigMaps and Secrets rendered by
the same target, in order; a ``targetPath`` sets one value), then ``spec.values`` on top. Edits go to
``spec.values`` of the HelmRelease document that sets the key — the base file or an overlay's patch —
or, for a key only the chart sets, to the values of the last patch (the environment's own) else the
base. Keys set by ``valuesFrom`` are comment-only. A chart gitbot cannot have is reported, naming its
source and why, so an empty plan is never mistaken for "nothing to do".

Flux Kustomizations (``kustomize.toolkit.fluxcd.io``) from a GitRepository whose ``spec.path`` is a
Kustomize root here are found too: with ``spec.patches`` or ``spec.targetNamespace`` the loader
renders the root the way that Kustomization deploys it.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from typing import Any, Iterable, Mapping

from gitbot.errors import SourceError
from gitbot.load.discover import normalise
from gitbot.load.charts import ChartRef, split_oci
from gitbot.load.helm import merge_values
from gitbot.model import RenderedObject, Skipped, YamlPath
from gitbot.yamldoc import parse_yaml

HELMRELEASE_API = "helm.toolkit.fluxcd.io/"
VALUES_PATH: YamlPath = ("spec", "values")


@dataclass(frozen=True)
class FluxRelease:
    obj: RenderedObject  # the HelmRelease as its target renders it
    chart: str  # repo-relative chart directory; "" for a pulled chart
    release: str
    namespace: str
    values: Mapping[str, Any]  # valuesFrom merged, then spec.values
    values_from: Mapping[str, Any]  # the part that came from valuesFrom (not editable)
    missing: tuple[str, ...]  # valuesFrom sources that are not in the repository
    remote: ChartRef | None = None  # the chart, when it comes from a HelmRepository, OCIRepository or HelmChart


@dataclass(frozen=True)
class Followed:
    releases: tuple[FluxRelease, ...]
    unrendered: tuple[tuple[RenderedObject, str], ...]  # HelmReleases whose chart cannot be had, and why


def is_helmrelease(obj: RenderedObject) -> bool:
    return obj.kind == "HelmRelease" and str(obj.data.get("apiVersion", "")).startswith(HELMRELEASE_API)


def follow(objects: Iterable[RenderedObject], charts: Iterable[str], chart_map: Mapping[str, str],
           everything: Iterable[RenderedObject] | None = None) -> Followed:
    """The HelmReleases among ``objects``; ``everything`` (default: ``objects``) is where their
    sources (HelmRepository, OCIRepository, HelmChart) and valuesFrom ConfigMaps are looked up."""
    chart_dirs = set(charts)
    candidates = list(objects)
    all_objects = list(everything) if everything is not None else candidates
    by_target: dict[str, list[RenderedObject]] = {}
    for obj in all_objects:
        by_target.setdefault(obj.target.name, []).append(obj)
    sources = Sources.of(all_objects)
    releases: list[FluxRelease] = []
    unrendered: list[tuple[RenderedObject, str]] = []
    for obj in candidates:
        if not is_helmrelease(obj):
            continue
        chart, remote, why_not = chart_of(obj, chart_dirs, chart_map, sources)
        if chart is None and remote is None:
            unrendered.append((obj, f"HelmRelease {obj.name}: {why_not}"))
            continue
        spec = obj.data.get("spec") or {}
        namespace = str(spec.get("targetNamespace") or obj.namespace or "default")
        release = str(spec.get("releaseName") or (f"{spec['targetNamespace']}-{obj.name}" if spec.get("targetNamespace") else obj.name))
        siblings = [o.data for o in by_target.get(obj.target.name, [])]
        from_refs, missing = _values_from(spec.get("valuesFrom"), siblings, obj.namespace)
        inline = spec.get("values") if isinstance(spec.get("values"), dict) else {}
        releases.append(FluxRelease(obj, chart or "", release, namespace, merge_values(from_refs, inline), from_refs, tuple(missing), remote))
    return Followed(tuple(releases), tuple(unrendered))


@dataclass(frozen=True)
class Sources:
    """Flux source objects of the repository, by (kind, namespace, name)."""

    by_key: Mapping[tuple[str, str, str], RenderedObject]

    @classmethod
    def of(cls, objects: Iterable[RenderedObject]) -> Sources:
        found: dict[tuple[str, str, str], RenderedObject] = {}
        for obj in objects:
            if obj.kind in SOURCE_KINDS and str(obj.data.get("apiVersion", "")).startswith(SOURCE_API):
                found.setdefault((obj.kind, obj.namespace or "", obj.name), obj)
        return cls(found)

    def get(self, kind: str, namespace: str, name: str) -> RenderedObject | None:
        return self.by_key.get((kind, namespace, name))


SOURCE_API = "source.toolkit.fluxcd.io/"
SOURCE_KINDS = ("HelmRepository", "OCIRepository", "HelmChart", "GitRepository")


def chart_of(obj: RenderedObject, chart_dirs: set[str], chart_map: Mapping[str, str],
             sources: Sources | None = None) -> tuple[str | None, ChartRef | None, str]:
    """The repo-relative chart directory a HelmRelease renders, or the remote chart, or neither and why."""
    spec_all = obj.data.get("spec") or {}
    chart_spec = spec_all.get("chart", {})
    spec = chart_spec.get("spec") if isinstance(chart_spec, dict) else None
    found = sources or Sources({})
    ref = spec_all.get("chartRef")
    if isinstance(ref, dict):  # Flux refuses a HelmRelease with both; chartRef is the newer way
        return _chart_ref(obj, ref, chart_dirs, chart_map, found)
    if not isinstance(spec, dict):
        return None, None, "no spec.chart.spec or spec.chartRef; its workloads are not sized"
    return _chart_spec(obj, spec, chart_dirs, chart_map, found)


def _chart_spec(obj: RenderedObject, spec: Mapping[str, Any], chart_dirs: set[str], chart_map: Mapping[str, str],
                sources: Sources) -> tuple[str | None, ChartRef | None, str]:
    """``spec.chart.spec`` of a HelmRelease (or the spec of a HelmChart): chart, version, sourceRef."""
    name = str(spec.get("chart", ""))
    source = spec.get("sourceRef") if isinstance(spec.get("sourceRef"), dict) else {}
    kind = str(source.get("kind", "?"))
    if kind == "GitRepository":
        path = normalise("", name)
        if path is not None and path in chart_dirs:
            return path, None, ""
        return None, None, f"chart {name!r} from GitRepository {source.get('name', '?')} is not a chart directory in this repository; its workloads are not sized"
    mapped = chart_map.get(name)
    if mapped is not None:
        if mapped in chart_dirs:
            return mapped, None, ""
        return None, None, f"helm.charts maps chart {name!r} to {mapped!r}, which is not a chart directory in this repository"
    namespace = str(source.get("namespace") or obj.namespace or "")
    if kind != "HelmRepository":
        return None, None, f"chart {name!r} comes from {kind} {source.get('name', '?')}, which gitbot cannot pull from; its workloads are not sized"
    repository = sources.get(kind, namespace, str(source.get("name", "")))
    if repository is None:
        return None, None, (f"chart {name!r} comes from HelmRepository {namespace}/{source.get('name', '?')}, which is not in this "
                            f"repository (vendor the chart and map it in helm.charts); its workloads are not sized")
    rspec = repository.data.get("spec") or {}
    url = str(rspec.get("url") or "").rstrip("/")
    if not url:
        return None, None, f"HelmRepository {namespace}/{repository.name} has no spec.url"
    if rspec.get("type") == "oci" and not url.startswith("oci://"):
        url = f"oci://{url.split('://', 1)[-1]}"
    version = spec.get("version")
    return None, ChartRef(url, name, str(version) if version not in (None, "") else None), ""


def _chart_ref(obj: RenderedObject, ref: Mapping[str, Any], chart_dirs: set[str], chart_map: Mapping[str, str],
               sources: Sources) -> tuple[str | None, ChartRef | None, str]:
    """``spec.chartRef``: an OCIRepository or a HelmChart."""
    kind, name = str(ref.get("kind", "?")), str(ref.get("name", "?"))
    namespace = str(ref.get("namespace") or obj.namespace or "")
    source = sources.get(kind, namespace, name) if kind in ("OCIRepository", "HelmChart") else None
    if kind not in ("OCIRepository", "HelmChart"):
        return None, None, f"the chart comes from {kind} {name}, which gitbot cannot pull from; its workloads are not sized"
    if source is None:
        return None, None, f"the chart comes from {kind} {namespace}/{name}, which is not in this repository; its workloads are not sized"
    spec = source.data.get("spec") or {}
    if kind == "HelmChart":
        return _chart_spec(source, spec, chart_dirs, chart_map, sources)
    url = str(spec.get("url") or "")
    if not url.startswith("oci://"):
        return None, None, f"OCIRepository {namespace}/{name} has no oci:// spec.url"
    base, chart = split_oci(url)
    mapped = chart_map.get(chart)
    if mapped is not None and mapped in chart_dirs:
        return mapped, None, ""
    pin = spec.get("ref") if isinstance(spec.get("ref"), dict) else {}
    version = pin.get("semver") or pin.get("tag")
    digest = pin.get("digest")
    return None, ChartRef(base, chart, str(version) if version else None, str(digest) if digest else None), ""


def values_of(data: Mapping[str, Any], siblings: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    """The values Flux passes for the HelmRelease ``data`` (the closed loop uses it on the edited copy)."""
    spec = data.get("spec") or {}
    namespace = (data.get("metadata") or {}).get("namespace")
    from_refs, _ = _values_from(spec.get("valuesFrom"), list(siblings), namespace)
    inline = spec.get("values") if isinstance(spec.get("values"), dict) else {}
    return merge_values(from_refs, inline)


def _values_from(refs: Any, siblings: list[Mapping[str, Any]], namespace: str | None) -> tuple[dict[str, Any], list[str]]:
    values: dict[str, Any] = {}
    missing: list[str] = []
    for ref in refs if isinstance(refs, list) else []:
        if not isinstance(ref, dict) or ref.get("kind") not in ("ConfigMap", "Secret"):
            continue
        label = f"{ref['kind']} {ref.get('name', '?')}"
        key = str(ref.get("valuesKey") or "values.yaml")
        text = _data_of(ref, siblings, namespace, key)
        if text is None:
            if not ref.get("optional"):
                missing.append(label)
            continue
        target_path = ref.get("targetPath")
        if isinstance(target_path, str) and target_path:
            _set_path(values, target_path, text)
            continue
        try:
            docs = parse_yaml(text, f"{label} {key}")
        except SourceError:
            missing.append(f"{label} (its {key} is not YAML)")
            continue
        data = docs[0].data if docs else None
        if isinstance(data, dict):
            values = merge_values(values, data)
    return values, missing


def _data_of(ref: Mapping[str, Any], siblings: list[Mapping[str, Any]], namespace: str | None, key: str) -> str | None:
    for obj in siblings:
        meta = obj.get("metadata") or {}
        if obj.get("kind") != ref["kind"] or meta.get("name") != ref.get("name") or (meta.get("namespace") or namespace) != namespace:
            continue
        string_data = obj.get("stringData") or {}
        if isinstance(string_data, dict) and isinstance(string_data.get(key), str):
            return str(string_data[key])
        data = obj.get("data") or {}
        value = data.get(key) if isinstance(data, dict) else None
        if not isinstance(value, str):
            return None
        if obj.get("kind") == "Secret":
            try:
                return base64.b64decode(value, validate=True).decode("utf-8")
            except (binascii.Error, UnicodeDecodeError):
                return None
        return value
    return None


def _set_path(values: dict[str, Any], dotted: str, value: Any) -> None:
    keys = dotted.split(".")
    for key in keys[:-1]:
        nxt = values.get(key)
        if not isinstance(nxt, dict):
            nxt = values[key] = {}
        values = nxt
    values[keys[-1]] = value



KUSTOMIZATION_API = "kustomize.toolkit.fluxcd.io/"


@dataclass(frozen=True)
class FluxKustomization:
    """A Flux Kustomization that deploys a Kustomize root of this repository."""

    obj: RenderedObject
    path: str  # repo-relative root
    patches: tuple[tuple[int, Mapping[str, Any]], ...]  # spec.patches (index, patch), applied on top of the root's build
    target_namespace: str | None  # spec.targetNamespace

    @property
    def customized(self) -> bool:
        """It deploys the root differently from a plain ``kustomize build``."""
        return bool(self.patches or self.target_namespace)


def kustomizations(objects: Iterable[RenderedObject], roots: set[str], skipped: list[Skipped] | None = None) -> list[FluxKustomization]:
    """Flux Kustomizations from a GitRepository whose ``spec.path`` is one of ``roots``. (Other
    sources — OCI artifacts, buckets, external artifacts — hold a copy gitbot cannot map.) A path
    that leaves the repository is never followed, and goes to ``skipped`` with the reason."""
    out: list[FluxKustomization] = []
    for obj in objects:
        if obj.kind != "Kustomization" or not str(obj.data.get("apiVersion", "")).startswith(KUSTOMIZATION_API):
            continue
        spec = obj.data.get("spec") or {}
        source = spec.get("sourceRef") if isinstance(spec.get("sourceRef"), dict) else {}
        raw = str(spec.get("path") or ".")
        path = None if raw.startswith("/") else normalise("", raw)
        if source.get("kind") != "GitRepository":
            continue
        if path is None:
            if skipped is not None:
                skipped.append(Skipped(obj.source.file, f"Kustomization {obj.name}: spec.path {raw!r} is outside the repository; not followed",
                                       obj.source.line))
            continue
        path = "" if path == "." else path
        if path in roots:
            namespace = spec.get("targetNamespace")
            out.append(FluxKustomization(obj, path, patches_of(obj.data), namespace if isinstance(namespace, str) and namespace else None))
    return out


def patches_of(data: Mapping[str, Any]) -> tuple[tuple[int, Mapping[str, Any]], ...]:
    """A Flux Kustomization's ``spec.patches`` that kustomize can apply (inline text + target),
    with their index in the list."""
    patches = (data.get("spec") or {}).get("patches")
    out: list[tuple[int, Mapping[str, Any]]] = []
    for index, p in enumerate(patches if isinstance(patches, list) else []):
        if isinstance(p, dict) and isinstance(p.get("patch"), str):
            out.append((index, {k: v for k, v in p.items() if k in ("patch", "target")}))
    return tuple(out)
