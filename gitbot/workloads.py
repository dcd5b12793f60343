"""RenderedObject -> Workload / Container, with the source of every resources field.

For each container field (cpu/memory requests/limits) this stage records the current exact value,
the text it is written as, and where that text lives:

- plain manifest files: the value's own position (or, when absent, where it would be inserted);
- Kustomize resource files: the same, if the rendered value equals the file's value; a value the
  overlay chain changed is marked not editable, naming the kustomization whose patches changed it;
- Helm templates: not editable yet (values-key mapping is a separate stage), with the reason.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Mapping

from gitbot.config import Config
from gitbot.load import LoadResult
from gitbot.load.argocd import ArgoRelease
from gitbot.load.discover import PatchRef
from gitbot.load.flux import VALUES_PATH, FluxRelease, is_helmrelease
from gitbot.load.helm_values import HelmMapping, ValuesKey
from gitbot.model import (
    FIELDS,
    Container,
    ContainerType,
    CurrentValue,
    Embedded,
    Field,
    FieldSource,
    HpaInfo,
    RenderedObject,
    Skipped,
    SourceKind,
    TargetKind,
    Workload,
    WorkloadId,
    YamlPath,
    POD_SPEC_PATH,
    WORKLOAD_KINDS,
)
from gitbot.quantity import QuantityError, parse_cpu_m, parse_memory_bytes
from gitbot.errors import SourceError
from gitbot.yamldoc import YamlDocument, YamlFile, embedded_yaml, split_embedded

_DNS_SUBDOMAIN = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*")
_DNS_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?")
CONTAINER_LISTS = (("initContainers", ContainerType.INIT), ("containers", ContainerType.APP))
HPA_KIND = "HorizontalPodAutoscaler"
# GitOps objects whose workloads gitbot cannot see yet: (apiVersion prefix, why)
NOT_RENDERED_YET = {
    "Application": ("argoproj.io/", "its source is not a Helm chart in this repository, so it is not followed (a Kustomize path here is rendered as its own root)"),
    "ApplicationSet": ("argoproj.io/", "none of its Applications deploys a Helm chart in this repository (a Kustomize path here is rendered as its own root)"),
}


@dataclass(frozen=True)
class WorkloadSet:
    workloads: tuple[Workload, ...]
    skipped: tuple[Skipped, ...]
    warnings: tuple[str, ...]


def build_workloads(loaded: LoadResult, config: Config) -> WorkloadSet:
    skipped: list[Skipped] = []
    hpa_warnings: list[str] = []
    hpas = _hpas(loaded.objects, config, hpa_warnings)
    workloads: list[Workload] = []
    for obj in loaded.objects:
        if is_helmrelease(obj):
            continue  # rendered as a Helm target, or reported by the loader with the reason
        followed = (obj.source.file, obj.name) in loaded.followed_applications
        if obj.kind in NOT_RENDERED_YET and not followed and str(obj.data.get("apiVersion", "")).startswith(NOT_RENDERED_YET[obj.kind][0]):
            skipped.append(Skipped(obj.source.file, f"{obj.kind} {obj.name}: {NOT_RENDERED_YET[obj.kind][1]}", obj.source.line))
            continue
        if obj.kind not in WORKLOAD_KINDS or not obj.data.get("apiVersion"):
            if isinstance(value_at(obj.data, ("spec", "template", "spec", "containers")), list):
                skipped.append(Skipped(obj.source.file, f"{obj.kind} {obj.name}: a custom resource with a pod template; not sized "
                                       f"(gitbot sizes {', '.join(WORKLOAD_KINDS)})", obj.source.line))
            elif _operator_resources(obj):
                skipped.append(Skipped(obj.source.file, f"{obj.kind} {namespace_of(obj, config)[0]}/{obj.name}: a custom resource "
                                       "with spec.resources (its operator creates the pods); not sized", obj.source.line))
            continue
        workload = _workload(obj, loaded, config, hpas, skipped)
        if workload is not None:
            workloads.append(workload)
    seen: dict[WorkloadId, list[str]] = {}
    for w in workloads:
        seen.setdefault(w.id, []).append(w.target.name)
    warnings = tuple(hpa_warnings) + tuple(
        (f"{wid} is defined by {len(names)} targets ({', '.join(sorted(set(names)))})" if len(set(names)) == len(names)
         else f"{wid} is defined by {len(names)} objects ({', '.join(sorted(set(names)))}), a duplicate object")
        + "; each is sized from the same usage and counted once in the cost totals"
        for wid, names in seen.items()
        if len(names) > 1
    )
    return WorkloadSet(tuple(workloads), tuple(skipped), warnings)


def _operator_resources(obj: RenderedObject) -> bool:
    """A custom resource that sizes its operator's pods in ``spec.resources`` (Prometheus,
    Alertmanager, ThanosRuler, CloudNativePG Cluster ...): its requests and limits are the ones to
    right-size, but gitbot cannot see which pods are its. Built-in kinds (a PersistentVolumeClaim's
    storage request) and mappings other than requests/limits are left alone."""
    api = str(obj.data.get("apiVersion", ""))
    group = api.split("/", 1)[0] if "/" in api else ""
    resources = value_at(obj.data, ("spec", "resources"))
    return ("." in group and not group.endswith(".k8s.io") and isinstance(resources, dict)
            and set(map(str, resources)) <= {"requests", "limits", "claims"})


def namespace_of(obj: RenderedObject, config: Config) -> tuple[str, bool]:
    """The object's namespace, and whether it was set explicitly (vs defaulted)."""
    if obj.namespace:
        return obj.namespace, True
    if obj.target.namespace:  # a Helm release's, or an Argo CD Application's destination
        return obj.target.namespace, True
    configured = config.default_namespace(obj.source.file) or config.default_namespace(obj.target.path)
    if configured:
        return configured, True
    return "default", False


def _workload(
    obj: RenderedObject,
    loaded: LoadResult,
    config: Config,
    hpas: Mapping[tuple[str, str, str], HpaInfo],
    skipped: list[Skipped],
) -> Workload | None:
    files = loaded.files
    namespace, explicit = namespace_of(obj, config)
    file, line = obj.source.file, obj.source.line
    name, generated = _workload_name(obj)
    if not name:
        prefix = _generate_name(obj)
        skipped.append(Skipped(file, f"{obj.kind} without metadata.name" + (
            f" (generateName {prefix!r} is followed for Jobs only)" if prefix else ""), line))
        return None
    # a generateName is a name's beginning: valid once the API server appends its characters
    if not _DNS_SUBDOMAIN.fullmatch(name + "x" if generated else name) or not _DNS_LABEL.fullmatch(namespace):
        skipped.append(Skipped(file, f"{obj.kind} {namespace}/{name}: not a valid Kubernetes name (a template?)", line))
        return None
    wid = WorkloadId(namespace, obj.kind, name)
    pod_path = POD_SPEC_PATH[obj.kind]
    pod_spec = value_at(obj.data, pod_path)
    if not isinstance(pod_spec, dict):
        skipped.append(Skipped(file, f"{wid}: no pod template at {'.'.join(map(str, pod_path))}", line))
        return None
    declaring = obj.target.declared_by or obj.target
    environment = config.environment_for(declaring.path, namespace, _release_environment(obj, config))
    source_doc = _source_document(obj, files)
    containers: list[Container] = []
    for list_key, ctype in CONTAINER_LISTS:
        items = pod_spec.get(list_key) or []
        if not isinstance(items, list):
            skipped.append(Skipped(file, f"{wid}: {list_key} is not a list", line))
            continue
        for index, spec in enumerate(items):
            if not isinstance(spec, dict):
                skipped.append(Skipped(file, f"{wid}: {list_key}[{index}] is not a container (a mapping); left out", line))
                continue
            if not isinstance(spec.get("name"), str) or not spec["name"]:
                skipped.append(Skipped(file, f"{wid}: {list_key}[{index}] has no name; left out", line))
                continue
            if any(c.name == spec["name"] for c in containers):
                skipped.append(Skipped(file, f"{wid}: duplicate container name {spec['name']!r} at {list_key}[{index}]; left out", line))
                continue
            shape = _resources_problem(spec.get("resources"))
            if shape is not None:
                skipped.append(Skipped(file, f"{wid}: container {spec['name']}: {shape}; left out", line))
                continue
            if ctype is ContainerType.INIT and spec.get("restartPolicy") == "Always":
                ctype_here = ContainerType.SIDECAR
            else:
                ctype_here = ctype
            locator = _FieldLocator(obj, source_doc, pod_path, list_key, index, spec, loaded)
            fields = {f: locator.current(f, spec) for f in FIELDS}
            containers.append(Container(spec["name"], ctype_here, index, fields))
    replicas = _replicas(obj)
    return Workload(
        id=wid,
        target=obj.target,
        source=obj.source,
        environment=environment.name,
        tier=environment.tier,
        replicas=replicas,
        containers=tuple(containers),
        hpa=hpas.get((namespace, obj.kind, name)),
        namespace_explicit=explicit,
        pod_labels=_pod_labels(obj.data, pod_path),
        generate_name=generated,
    )


def _workload_name(obj: RenderedObject) -> tuple[str, bool]:
    """The workload's name, and whether it is a ``generateName`` prefix: a Job written for
    ``kubectl create`` or as an Argo CD / Helm hook has only that, and every run creates a Job named
    the prefix plus five characters, whose pods are that Job's usage."""
    if obj.name:
        return obj.name, False
    prefix = _generate_name(obj) if obj.kind == "Job" else None
    return (prefix, True) if prefix else ("", False)


def _generate_name(obj: RenderedObject) -> str | None:
    prefix = value_at(obj.data, ("metadata", "generateName"))
    return prefix if isinstance(prefix, str) and prefix else None


def _resources_problem(resources: Any) -> str | None:
    if resources is None:
        return None
    if not isinstance(resources, dict):
        return "resources is not a mapping"
    for bound in ("requests", "limits"):
        if resources.get(bound) is not None and not isinstance(resources[bound], dict):
            return f"resources.{bound} is not a mapping"
    return None


def _pod_labels(data: Mapping[str, Any], pod_path: tuple[str, ...]) -> tuple[tuple[str, str], ...]:
    """What selects the workload's pods: ``selector.matchLabels``, else the pod template's labels."""
    owner = pod_path[:-2]  # ("spec",) above ("template", "spec"); () for a Pod
    for path in ((*owner, "selector", "matchLabels"), (*pod_path[:-1], "metadata", "labels")):
        labels = value_at(data, path)
        if isinstance(labels, dict) and labels:
            return tuple(sorted((str(k), str(v)) for k, v in labels.items() if isinstance(v, (str, int, float, bool))))
    return ()


class _FieldLocator:
    """Finds the source text of one container's fields."""

    def __init__(
        self,
        obj: RenderedObject,
        doc: YamlDocument | None,
        pod_path: YamlPath,
        list_key: str,
        index: int,
        spec: Mapping[str, Any],
        loaded: LoadResult,
    ) -> None:
        self.obj = obj
        self.doc = doc
        self.name = name = str(spec["name"])
        self.rendered_resources = spec.get("resources") if isinstance(spec.get("resources"), dict) else {}
        self.pod_path = pod_path
        self.list_key = list_key
        self.files = loaded.files
        self.helm: HelmMapping | None = loaded.helm_mappings.get(obj.target.name)
        self.flux: FluxRelease | None = loaded.flux_releases.get(obj.target.name)
        self.argo: ArgoRelease | None = loaded.argo_releases.get(obj.target.name)
        self.patches = loaded.patches
        self.container_path: YamlPath | None = None
        if doc is not None:
            base = obj.source.yaml_path + pod_path + (list_key,)
            source_items = value_at(doc.data, base)
            if obj.source.kind is SourceKind.PLAIN:
                self.container_path = base + (index,)
            elif isinstance(source_items, list):
                match = next(
                    (i for i, c in enumerate(source_items) if isinstance(c, dict) and c.get("name") == name), None
                )
                if match is not None:
                    self.container_path = base + (match,)

    def current(self, f: Field, spec: Mapping[str, Any]) -> CurrentValue:
        rendered = value_at(spec, f.resources_path)
        text = _text(rendered)
        source = self._source(f, text)
        doc = self._document(source)
        if source.present and source.yaml_path is not None and doc is not None:
            text = self._written(source) or text  # as written: "0.5", not the float
        if rendered is None:
            return CurrentValue(None, None, source)
        try:
            value = parse_cpu_m(text) if f.resource.value == "cpu" else parse_memory_bytes(text)
        except QuantityError as exc:
            return CurrentValue(None, text, _not_editable(source, f"invalid quantity: {exc}"))
        return CurrentValue(value, text, source)

    def _document(self, source: FieldSource) -> YamlDocument | None:
        yfile = self.files.get(source.file) if source.file else None
        if yfile is None or source.doc_index is None or source.doc_index >= len(yfile.documents):
            return None
        return yfile.documents[source.doc_index]

    def _source(self, f: Field, rendered_text: str | None) -> FieldSource:
        kind = self.obj.source.kind
        if kind is SourceKind.HELM_TEMPLATE:
            return self._helm_source(f, rendered_text)
        if self.doc is None or kind is SourceKind.UNKNOWN:
            why = "the object's source file is unknown (generated or remote)"
            if self.obj.target.origin and self.obj.target.kind is TargetKind.PLAIN:
                why = f"pre-rendered from {self.obj.target.origin}, whose chart is remote; set it in the HelmRelease's spec.values"
            return FieldSource(
                SourceKind.UNKNOWN, self.obj.source.file, self.obj.source.doc_index, None, self.obj.source.line, rendered_text is not None,
                not_editable=why,
            )
        if self.container_path is None:
            patched = ", ".join(self.obj.patched_by) or self.obj.target.path
            return FieldSource(
                SourceKind.PATCH, self.obj.patched_by[0] if self.obj.patched_by else None, None, None, None,
                rendered_text is not None,
                not_editable=f"container {self.name!r} is added by the overlay ({patched}); overlay edits are not supported yet",
            )
        path = self.container_path + f.resources_path
        node_text = self.doc.scalar_text(path)
        depth, _ = self.doc.deepest(path)
        present = depth == len(path)
        span = self.doc.span(path) if present else self.doc.span(path[:depth])
        line = span.line if span else None
        source = FieldSource(kind, self.obj.source.file, self.doc.index, path, line, present)
        if kind is SourceKind.BASE and self.obj.patched_by:
            # the last patch that writes the field is its source, even when it repeats the base's value
            patched = self._patch_source(f, rendered_text, base_matches=_same_quantity(f, node_text if present else None, rendered_text))
            if patched is not None:
                return patched
        elif kind is SourceKind.BASE and not _same_quantity(f, node_text if present else None, rendered_text):
            return self._patch_source(f, rendered_text, base_matches=False) or source
        if present and span is not None and span.shared:
            return _not_editable(source, "value is a YAML anchor/alias shared with other places")
        if present and node_text is None:
            return _not_editable(source, "value is not a plain scalar")
        return source


    def _patch_source(self, f: Field, rendered_text: str | None, base_matches: bool) -> FieldSource | None:
        """The overlay patch that sets this field: a strategic-merge patch or a JSON 6902 op, in a
        patch file or inline in the kustomization; last wins. None when no patch sets it and the
        base's value is what renders."""
        patched = ", ".join(self.obj.patched_by) or self.obj.target.path
        found: FieldSource | None = None
        unreadable: str | None = None
        for kfile in self.obj.patched_by:
            for ref in self.patches.get(kfile, ()):
                if ref.file is not None:
                    hit = self._in_patch_docs(ref.file, self._file_documents(ref.file), ref.target, f)
                elif ref.inline_path is not None:
                    docs, why = self._inline_documents(kfile, ref)
                    hit = self._in_patch_docs(kfile, docs, ref.target, f)
                    unreadable = why or unreadable
                else:
                    hit = None
                if hit is not None:
                    found = hit
        if found is not None:
            written = self._written(found)
            if written is None:
                return _not_editable(found, "value in the patch is not a plain scalar")
            if not _same_quantity(f, written, rendered_text):
                return _not_editable(found, f"the patch sets {written} but the overlay renders {rendered_text}; set by something else too")
            return found
        if base_matches:
            return None
        where = f"a patch in {unreadable}" if unreadable else f"the overlay ({patched})"
        return FieldSource(
            SourceKind.PATCH, self.obj.patched_by[0] if self.obj.patched_by else None, None, None, None,
            rendered_text is not None,
            not_editable=f"value is set by {where} that gitbot cannot read with positions; edit it by hand",
        )

    def _file_documents(self, file: str) -> list[tuple[YamlDocument, YamlPath, int]]:
        yfile = self.files.get(file)
        return [] if yfile is None else [(doc, (), doc.index) for doc in yfile.documents]

    def _inline_documents(self, kfile: str, ref: PatchRef) -> tuple[list[tuple[YamlDocument, YamlPath, int]], str | None]:
        """The documents of an inline patch, each with the path that leads into it and the outer
        document that holds it."""
        yfile = self.files.get(kfile)
        if yfile is None or ref.inline_path is None or ref.doc >= len(yfile.documents):
            return [], kfile
        try:
            inner = embedded_yaml(yfile.text, yfile.documents[ref.doc], ref.inline_path, kfile)
        except SourceError:
            return [], kfile
        return [(doc, ref.inline_path + (Embedded(doc.index),), ref.doc) for doc in inner.documents], None

    def _written(self, source: FieldSource) -> str | None:
        """The text a field is written as at ``source`` (inside an inline patch too)."""
        doc = self._document(source)
        if doc is None or source.yaml_path is None:
            return None
        split = split_embedded(source.yaml_path)
        if split is None:
            return doc.scalar_text(source.yaml_path)
        outer, step, inner = split
        yfile = self.files.get(source.file or "")
        try:
            embedded = embedded_yaml(yfile.text, doc, outer, yfile.path) if yfile is not None else None
        except SourceError:
            return None
        return embedded.documents[step.doc].scalar_text(inner) if embedded is not None else None

    def _in_patch_docs(
        self, file: str, docs: list[tuple[YamlDocument, YamlPath, int]], target: Mapping[str, Any] | None, f: Field
    ) -> FieldSource | None:
        base = value_at(self.doc.data, self.obj.source.yaml_path) if self.doc is not None else None
        if not docs or not isinstance(base, dict) or self.container_path is None:
            return None
        base_name = str((base.get("metadata") or {}).get("name", ""))
        if target is not None and (target.get("kind") not in (None, self.obj.kind) or target.get("name") not in (None, base_name)):
            return None
        container_index = self.container_path[-1]
        for doc, prefix, outer_doc in docs:
            path: YamlPath | None = None
            if isinstance(doc.data, dict) and doc.data.get("kind") == self.obj.kind and value_at(doc.data, ("metadata", "name")) == base_name:
                items = value_at(doc.data, self.pod_path + (self.list_key,))
                match = next((i for i, c in enumerate(items or []) if isinstance(c, dict) and c.get("name") == self.name), None)
                if match is not None:
                    path = self.pod_path + (self.list_key, match) + f.resources_path
            elif isinstance(doc.data, list) and target is not None:
                path = _json6902_path(doc.data, self.pod_path + (self.list_key, container_index) + f.resources_path)
            if path is None or doc.deepest(path)[0] != len(path):
                continue
            span = doc.span(path)
            kind = SourceKind.PATCH if isinstance(doc.data, dict) else SourceKind.JSON6902
            line = span.line if span else None
            if prefix and line is not None:  # inside an inline patch: the line in the kustomization
                line += self._inline_first_line(file, prefix, outer_doc) - 1
            return FieldSource(kind, file, outer_doc, prefix + path, line, True)
        return None

    def _inline_first_line(self, kfile: str, prefix: YamlPath, doc_index: int) -> int:
        yfile = self.files[kfile]
        split = split_embedded(prefix)
        assert split is not None
        return embedded_yaml(yfile.text, yfile.documents[doc_index], split[0], kfile).first_line

    def _helmrelease_source(self, key: ValuesKey, template: FieldSource) -> FieldSource:
        """Where a HelmRelease values key is edited: in the environment's own overlay patch when there is
        one — the last patch that sets the key, else the last one with ``spec.values`` (an override of the
        shared base or chart default, so other environments keep theirs) — else in the base document."""
        assert self.flux is not None
        spec_values = value_at(self.flux.obj.data, VALUES_PATH)
        if value_at(self.flux.values_from, key.path) is not None and value_at(spec_values, key.path) is None:
            return _not_editable(template, f"set through valuesFrom of HelmRelease {self.flux.obj.name} (a ConfigMap or Secret), not spec.values; edit it there")
        if self.flux.missing:
            return _not_editable(template, f"the HelmRelease reads {', '.join(self.flux.missing)}, which is not in the repository")
        docs = self._helmrelease_documents()
        if not docs:
            return _not_editable(template, f"the HelmRelease {self.flux.obj.name} was not found in its source files")
        patches = [d for d in docs if d[3]]
        chosen = (
            next((d for d in reversed(patches) if d[0].deepest(d[1] + key.path)[0] == len(d[1] + key.path)), None)
            or next((d for d in reversed(patches) if not d[4] and isinstance(value_at(d[0].data, d[1]), dict)), None)
            or docs[0]
        )
        doc, prefix, file, _, outer, outer_doc = chosen
        return self._values_source(SourceKind.HELMRELEASE_VALUES, file, doc, prefix, key, outer, outer_doc)

    def _values_source(
        self, kind: SourceKind, file: str, doc: YamlDocument, prefix: YamlPath, key: ValuesKey, outer: YamlPath = (), outer_doc: int = 0
    ) -> FieldSource:
        """A values key at ``prefix`` in ``doc``: replaced where it is written, else inserted there.
        ``outer``: the path into an inline patch when ``doc`` is one (replaced only, never inserted)."""
        path = prefix + key.path
        depth, _ = doc.deepest(path)
        present = depth == len(path)
        span = doc.span(path) if present else doc.span(path[:depth])
        line = span.line if span else None
        if outer and line is not None:
            line += self._inline_first_line(file, outer, outer_doc) - 1
        source = FieldSource(kind, file, outer_doc if outer else doc.index, outer + path, line, present)
        if key.preset and not present:
            return self._preset(source, key, prefix)
        if present and span is not None and span.shared:
            return _not_editable(source, "value is a YAML anchor/alias shared with other places")
        if present and doc.scalar_text(path) is None:
            return _not_editable(source, "value is not a plain scalar")
        return source

    def _preset(self, source: FieldSource, key: ValuesKey, prefix: YamlPath) -> FieldSource:
        """A field the chart sizes from a preset: the edit writes an explicit ``resources`` block,
        carrying every value the preset renders (ephemeral-storage too) that the edit does not change."""
        block = prefix + key.path[:-2]
        companions = tuple(
            (block + (bound, str(name)), text)
            for bound in ("requests", "limits")
            for name, value in sorted(_mapping(self.rendered_resources.get(bound)).items())
            if (text := _text(value)) is not None
        )
        kept = sorted({str(p[-1]) for p, _ in companions} - {"cpu", "memory"})
        note = f"replaces the chart's resourcesPreset {key.preset!r} with an explicit {'.'.join(map(str, key.path[:-2]))} block"
        if kept:
            note += f", keeping the preset's {', '.join(kept)}"
        return FieldSource(
            SourceKind.PRESET, source.file, source.doc_index, source.yaml_path, source.line, False, companions=companions, note=note
        )

    def _helmrelease_documents(self) -> list[tuple[YamlDocument, YamlPath, str, bool, YamlPath, int]]:
        """The HelmRelease's source document, then each overlay patch document that patches it:
        (document, path of spec.values in it, file, is a patch, path into an inline patch or (),
        the file's document that holds it)."""
        assert self.flux is not None
        hr = self.flux.obj
        out: list[tuple[YamlDocument, YamlPath, str, bool, YamlPath, int]] = []
        base_name = hr.name
        yfile = self.files.get(hr.source.file)
        if hr.source.kind in (SourceKind.PLAIN, SourceKind.BASE) and yfile is not None and hr.source.doc_index is not None:
            doc = yfile.documents[hr.source.doc_index]
            out.append((doc, hr.source.yaml_path + VALUES_PATH, hr.source.file, False, (), doc.index))
            base_name = str(value_at(doc.data, hr.source.yaml_path + ("metadata", "name")) or hr.name)
        for kfile in hr.patched_by:
            for ref in self.patches.get(kfile, ()):
                selector = ref.target or {}
                if selector.get("kind") not in (None, hr.kind) or selector.get("name") not in (None, base_name):
                    continue
                if ref.file is not None:
                    docs, file = self._file_documents(ref.file), ref.file
                elif ref.inline_path is not None:
                    docs, file = self._inline_documents(kfile, ref)[0], kfile
                else:
                    continue
                for doc, prefix, outer_doc in docs:
                    if isinstance(doc.data, dict) and doc.data.get("kind") == hr.kind and (
                        value_at(doc.data, ("metadata", "name")) == base_name or selector
                    ):
                        out.append((doc, VALUES_PATH, file, True, prefix, outer_doc))
        return out

    def _helm_source(self, f: Field, rendered_text: str | None) -> FieldSource:
        """The values key that feeds this field (see gitbot.load.helm_values), in the release's values file."""
        template = FieldSource(SourceKind.HELM_TEMPLATE, self.obj.source.file, self.obj.source.doc_index, None, None, rendered_text is not None)
        key = self.helm.fields.get(((self.obj.kind, self.obj.name, self.name), f)) if self.helm else None
        if key is None and self.obj.target.kind is TargetKind.PLAIN and self.obj.target.origin:  # pre-rendered output
            return _not_editable(template, f"pre-rendered from {self.obj.target.origin}, whose chart is remote; no resources block "
                                           f"of its spec.values holds these numbers: set it there")
        if key is None:
            if rendered_text is None:
                return _not_editable(template, "not set, and no values key of the chart feeds it")
            return _not_editable(template, "set by the chart's template, not by a values key")
        assert self.helm is not None
        if self.flux is not None:
            return self._helmrelease_source(key, template)
        argo = self._argo_values()
        if argo is not None and (not key.inline or value_at(argo.parameters, key.path) is None):
            # helm.valuesObject of the Application: where it sets the key, or, with no value files, the
            # release's own place for it rather than the chart's defaults; helm.values text: only
            # where it sets the key (gitbot does not add keys inside a block of text)
            present = argo.doc.deepest(argo.prefix + key.path)[0] == len(argo.prefix + key.path)
            if (present if argo.outer else key.inline or not self.obj.target.values_files):
                return self._values_source(SourceKind.ARGOCD_VALUES, argo.file, argo.doc, argo.prefix, key, argo.outer, argo.outer_doc)
        if key.inline:
            return _not_editable(template, f"set inline in the Argo CD Application ({self.obj.target.origin}); edit it there")
        if self.helm.edit_file is None:
            return _not_editable(template, self.helm.why_not or "no values file to edit")
        yfile = self.files.get(self.helm.edit_file)
        doc = yfile.documents[0] if yfile is not None and yfile.documents else None
        if doc is None or not isinstance(doc.data, dict):
            return _not_editable(template, f"{self.helm.edit_file} is empty or not a mapping; add the values by hand")
        return self._values_source(SourceKind.HELM_VALUES, self.helm.edit_file, doc, (), key)

    def _argo_values(self) -> _ArgoValues | None:
        """The Argo CD Application's editable inline values: its ``helm.valuesObject`` mapping, or the
        YAML inside its ``helm.values`` text, and what its parameters set over them."""
        argo = self.argo
        if argo is None or argo.obj is None or (argo.values_object_path is None and argo.values_text_path is None):
            return None
        app = argo.obj.source
        yfile = self.files.get(app.file)
        if app.kind not in (SourceKind.PLAIN, SourceKind.BASE) or yfile is None or app.doc_index is None:
            return None
        doc = yfile.documents[app.doc_index]
        if argo.values_object_path is not None:
            return _ArgoValues(doc, app.yaml_path + argo.values_object_path, app.file, argo.not_editable_values)
        assert argo.values_text_path is not None
        outer = app.yaml_path + argo.values_text_path
        try:
            inner = embedded_yaml(yfile.text, doc, outer, app.file).documents
        except SourceError:
            return None
        if not inner or not isinstance(inner[0].data, dict):
            return None
        return _ArgoValues(inner[0], (), app.file, argo.not_editable_values, outer + (Embedded(0),), doc.index)


@dataclass(frozen=True)
class _ArgoValues:
    doc: YamlDocument  # the Application's document, or the document inside its helm.values text
    prefix: YamlPath  # where the values mapping is in ``doc``
    file: str
    parameters: Mapping[str, Any]  # what helm.parameters set over them (not editable)
    outer: YamlPath = ()  # the path to the text block plus Embedded(0), for helm.values
    outer_doc: int = 0


def _json6902_path(ops: list[Any], wanted: YamlPath) -> YamlPath | None:
    """Where in a JSON 6902 patch (a list of ops) the value at ``wanted`` is written, last op wins."""
    found: YamlPath | None = None
    for i, op in enumerate(ops):
        if not isinstance(op, dict) or op.get("op") not in ("add", "replace") or not isinstance(op.get("path"), str):
            continue
        parts: list[str | int] = []
        for raw in op["path"].split("/")[1:]:
            part = raw.replace("~1", "/").replace("~0", "~")
            parts.append(int(part) if part.isdigit() else part)
        if tuple(parts) == wanted[: len(parts)]:
            found = (i, "value", *wanted[len(parts):])
    return found


def _not_editable(source: FieldSource, reason: str) -> FieldSource:
    return FieldSource(
        source.kind, source.file, source.doc_index, source.yaml_path, source.line, source.present, not_editable=reason
    )


def _same_quantity(f: Field, a: str | None, b: str | None) -> bool:
    if a is None or b is None:
        return a is None and b is None
    try:
        parse = parse_cpu_m if f.resource.value == "cpu" else parse_memory_bytes
        return parse(a) == parse(b)
    except QuantityError:
        return a == b


def _source_document(obj: RenderedObject, files: Mapping[str, YamlFile]) -> YamlDocument | None:
    if obj.source.kind not in (SourceKind.PLAIN, SourceKind.BASE) or obj.source.doc_index is None:
        return None
    yfile = files.get(obj.source.file)
    return None if yfile is None else yfile.documents[obj.source.doc_index]


def _hpas(objects: tuple[RenderedObject, ...], config: Config, warnings: list[str]) -> dict[tuple[str, str, str], HpaInfo]:
    found: dict[tuple[str, str, str], HpaInfo] = {}
    where: dict[tuple[str, str, str], str] = {}
    for obj in objects:
        if obj.kind != HPA_KIND:
            continue
        spec = obj.data.get("spec") or {}
        ref = spec.get("scaleTargetRef") or {}
        if not isinstance(ref, dict) or not ref.get("kind") or not ref.get("name"):
            continue
        namespace, _ = namespace_of(obj, config)
        cpu = _int(spec.get("targetCPUUtilizationPercentage"))
        memory = None
        for metric in spec.get("metrics") or []:
            resource = (metric or {}).get("resource") or {}
            target = resource.get("target") or {}
            pct = _int(target.get("averageUtilization")) or _int(resource.get("targetAverageUtilization"))
            if resource.get("name") == "cpu" and pct is not None:
                cpu = pct
            elif resource.get("name") == "memory" and pct is not None:
                memory = pct
        key = (namespace, str(ref["kind"]), str(ref["name"]))
        here = f"{obj.source.file} ({obj.target.name})" if obj.target.name != obj.source.file else obj.source.file
        if key in found and found[key].name != obj.name:
            # two HPAs fight over one workload; the one named like it is most likely the intended one
            keep_first = found[key].name == key[2]
            chosen = found[key].name if keep_first else obj.name
            warnings.append(
                f"{namespace}/{key[1]}/{key[2]} is the target of two HPAs, {found[key].name} ({where[key]}) and "
                f"{obj.name} ({here}); sizing with {chosen}"
            )
            if keep_first:
                continue
        where[key] = here
        found[key] = HpaInfo(
            name=obj.name,
            min_replicas=_int(spec.get("minReplicas")) or 1,
            max_replicas=_int(spec.get("maxReplicas")),
            cpu_utilization_pct=cpu,
            memory_utilization_pct=memory,
        )
    return found


def _replicas(obj: RenderedObject) -> int | None:
    if obj.kind == "Pod":
        return 1
    if obj.kind in ("Deployment", "StatefulSet", "ReplicaSet", "ReplicationController"):
        value = value_at(obj.data, ("spec", "replicas"))
        return _int(value) if value is not None else 1
    return None


def _release_environment(obj: RenderedObject, config: Config) -> str | None:
    if obj.target.kind is not TargetKind.HELM:
        return None
    release = next(
        (
            r for r in config.helm_releases
            if r.chart == obj.target.path and r.name == obj.target.release and r.namespace == obj.target.namespace
            and r.values == obj.target.values_files
        ),
        None,
    )
    return release.environment if release else None


def value_at(data: Any, path: YamlPath) -> Any:
    """The value at ``path`` (keys and list indexes) in plain data; None where the path does not lead."""
    for key in path:
        if isinstance(key, int):
            if not isinstance(data, list) or not 0 <= key < len(data):
                return None
        elif not isinstance(data, dict):
            return None
        data = data[key] if isinstance(key, int) else data.get(key)
    return data


def _text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, float):
        return repr(value)
    return str(value)


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, dict) else {}


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None
