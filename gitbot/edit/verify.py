"""Closed loop: re-render every target an edit touches and compare with the render before it.

The edits are written to a throwaway copy of the repository; each Kustomize root and Helm release
that reads a changed file is rendered again there. Exactly the intended fields of the intended
containers may differ, in every target: a shared base edit that would also move another overlay's
value, or a values key that feeds more than the container it was mapped to, fails the check, and
the edits behind it become comment-only with the difference as the reason.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

from gitbot.edit.changeset import FileChange, RecKey, rec_key
from gitbot.errors import SourceError
from gitbot.load import LoadResult, argocd, charts, flux, helm, kustomize
from gitbot.load.objects import kubernetes_objects, object_name, pod_containers
from gitbot.model import FIELDS, Field, Resource, Status, Target, TargetKind
from gitbot.quantity import QuantityError, human_cpu, human_memory, parse_cpu_m, parse_memory_bytes
from gitbot.strategies.base import Recommendation
from gitbot.workloads import value_at
from gitbot.yamldoc import load_yaml_file

Ref = tuple[str, str, str]  # (kind, name, container) within one target


class ClosedLoop:
    def __init__(self, repo: Path, loaded: LoadResult, recs: Sequence[Recommendation]) -> None:
        self.repo = repo
        self.loaded = loaded
        self.by_target: dict[str, dict[Ref, Recommendation]] = {}
        for rec in recs:
            ref = (rec.workload.id.kind, rec.workload.id.name, rec.container.name)
            self.by_target.setdefault(rec.workload.target.name, {})[ref] = rec
        self.before: dict[str, dict[Ref, dict[Field, int | None]]] = {}
        self.order: dict[str, dict[tuple[str, str], list[tuple[str, ...]]]] = {}  # each object's containers, in order
        self.reads: dict[str, set[str]] = {}
        for obj in loaded.objects:
            t = obj.target.name
            reads = self.reads.setdefault(t, set())
            reads.add(obj.source.file)
            for kfile in obj.patched_by:  # the overlays' kustomization and patch files
                reads.add(kfile)
                reads.update(ref.file for ref in loaded.patches.get(kfile, ()) if ref.file is not None)
            for container, spec in pod_containers(obj.data):
                self.before.setdefault(t, {})[(str(obj.data.get("kind")), object_name(obj.data), container)] = _fields(spec)
            names = tuple(container for container, _ in pod_containers(obj.data))
            self.order.setdefault(t, {}).setdefault((str(obj.data.get("kind")), object_name(obj.data)), []).append(names)
        for target in loaded.targets:
            if target.kind is TargetKind.KUSTOMIZE:  # its own kustomization and any patch file added there
                prefix = f"{target.path}/" if target.path else ""
                self.reads.setdefault(target.name, set()).update(
                    {f"{prefix}{n}" for n in ("kustomization.yaml", "kustomization.yml", "Kustomization", "gitbot-resources.yaml")}
                )
            if target.kind is TargetKind.HELM:
                self.reads.setdefault(target.name, set()).update({*target.values_files, f"{target.path}/values.yaml".lstrip("/")})
        for target in loaded.targets:  # a Flux release also reads what renders its HelmRelease
            if target.declared_by is not None:
                self.reads.setdefault(target.name, set()).update(self.reads.get(target.declared_by.name, set()))
        for name, argo in loaded.argo_releases.items():  # an Argo CD release reads its Application's inline values
            if argo.obj is not None:
                self.reads.setdefault(name, set()).add(argo.obj.source.file)

    def __call__(self, changes: Sequence[FileChange], applied: Iterable[RecKey]) -> dict[RecKey, str]:
        applied_keys = set(applied)
        changed = {c.path for c in changes}
        targets = [t for t in self.loaded.targets if t.kind is not TargetKind.PLAIN and self.reads.get(t.name, set()) & changed]
        if not targets:
            return {}
        failures: dict[RecKey, str] = {}
        with tempfile.TemporaryDirectory(prefix="gitbot-verify-") as tmp:
            copy = Path(tmp) / "repo"
            try:
                shutil.copytree(self.repo, copy, symlinks=True, ignore=shutil.ignore_patterns(".git"))
                for c in changes:
                    (copy / c.path).write_text(c.after, encoding="utf-8", newline="")
            except (OSError, shutil.Error) as exc:
                # unverified edits of rendered targets are not made
                reason = f"cannot re-render to check the edit: {exc}"
                read = set().union(*(self.reads.get(t.name, set()) for t in targets)) & changed
                names = {t.name for t in targets}
                return {key: reason for key in applied_keys if key[0] in names or self._edits_files(key, read)}
            for target in targets:
                found = self._check(copy, target, applied_keys)
                if found is None:
                    continue
                problem, own = found
                # a field that was meant to change but came out wrong: that edit; a field that moved
                # although nothing meant to move it: every edit of a file this target reads
                culprits = {own} if own is not None else {
                    key for key in applied_keys
                    if key[0] == target.name or self._edits_files(key, self.reads.get(target.name, set()) & changed)
                }
                for key in culprits:
                    failures.setdefault(key, f"re-rendering {target.name} with the edit: {problem}")
        return failures

    def _edits_files(self, key: RecKey, files: set[str]) -> bool:
        rec = next((r for refs in self.by_target.values() for r in refs.values() if rec_key(r) == key), None)
        return rec is not None and any(rec.container.fields[f].source.file in files for f in rec.changed_fields)

    def _check(self, copy: Path, target: Target, applied: set[RecKey]) -> tuple[str, RecKey | None] | None:
        """The first difference from what was intended, and the edit meant to change that field."""
        try:
            rendered = list(self._render(copy, target))
            after = dict(rendered)
        except SourceError as exc:
            return f"it no longer renders ({exc.detail})", None
        recs = self.by_target.get(target.name, {})
        before = self.before.get(target.name, {})
        for ref in sorted(set(after) - set(before)):  # e.g. a patch item merged into an object it was not meant for
            return f"{ref[0]}/{ref[1]} gains a container {ref[2]}", None
        for ref, old in sorted(before.items()):
            new = after.get(ref)
            if new is None:
                return f"{ref[0]}/{ref[1]} container {ref[2]} disappears", None
            rec = recs.get(ref)
            for f in FIELDS:
                wanted, own = old[f], None
                if rec is not None and rec_key(rec) in applied and rec.status is Status.CHANGE and rec.fields[f].changed:
                    wanted, own = rec.fields[f].recommended, rec_key(rec)
                if new[f] != wanted:
                    return f"{ref[0]}/{ref[1]} {ref[2]} {f.value} becomes {_show(f, new[f])}, expected {_show(f, wanted)}", own
        return _reordered(self.order.get(target.name, {}), [ref for ref, _ in rendered])

    def _render(self, copy: Path, target: Target) -> Iterable[tuple[Ref, dict[Field, int | None]]]:
        if target.kind is TargetKind.KUSTOMIZE and target.declared_kind == "Kustomization":
            kustomization, _ = self._declaring_object(copy, target, "Kustomization")
            patches = [p for _, p in flux.patches_of(kustomization)]
            namespace = (kustomization.get("spec") or {}).get("targetNamespace") or None
            data_list = [obj.data for obj in kustomize.render(copy, target.path, patches, namespace=namespace)]
        elif target.kind is TargetKind.KUSTOMIZE:
            data_list = [obj.data for obj in kustomize.render(copy, target.path)]
        elif target.declared_kind == "HelmRelease":
            assert target.release is not None
            release, siblings = self._declaring_object(copy, target, "HelmRelease")
            values = flux.values_of(release, siblings)
            location = self._chart(copy, target, values)
            data_list = [o.data for o in helm.render_values(location, target.path, target.release, target.namespace or "default", values)]
        else:
            assert target.release is not None
            values = helm.release_values(copy, target.values_files, self._inline_values(copy, target))
            location = self._chart(copy, target, values)
            data_list = [o.data for o in helm.render_values(location, target.path, target.release, target.namespace or "default", values)]
        for data in data_list:
            for container, spec in pod_containers(data):
                yield (str(data.get("kind")), object_name(data), container), _fields(spec)

    def _inline_values(self, copy: Path, target: Target) -> str:
        """The release's inline values as the edited copy has them: an Argo CD Application's
        ``helm.valuesObject`` is read again from its file (the edit may be there)."""
        argo = self.loaded.argo_releases.get(target.name)
        if argo is None or argo.obj is None or argo.helm_path is None or argo.obj.source.doc_index is None:
            return target.inline_values
        source = argo.obj.source
        docs = load_yaml_file(copy / source.file, source.file).documents
        app = value_at(docs[source.doc_index].data, source.yaml_path) if source.doc_index < len(docs) else None
        block = value_at(app, argo.helm_path) if isinstance(app, dict) else None
        if not isinstance(block, dict):
            raise SourceError(source.file, f"the Application {argo.application} has no helm block at {'.'.join(map(str, argo.helm_path))} any more")
        inline = argocd.inline_values(block, argo.application)
        return json.dumps(inline, sort_keys=True) if inline else ""

    def _chart(self, copy: Path, target: Target, values: Mapping[str, Any]) -> Path:
        """The chart as the edited copy has it, prepared with the dependencies pulled at load time."""
        source = Path(target.chart) if target.chart else copy / target.path
        builds = self.loaded.chart_builds or copy.parent / "built"
        deps = tuple(Path(d) for d in target.chart_deps)
        return charts.prepare(source, target.path, values, builds, None, copy if target.chart is None else None, deps).location

    @staticmethod
    def _declaring_object(copy: Path, target: Target, kind: str) -> tuple[Mapping[str, Any], list[Mapping[str, Any]]]:
        """The Flux object that declares ``target`` (a HelmRelease or a Kustomization), as the
        edited copy renders it, and the objects rendered beside it."""
        declared = target.declared_by
        assert declared is not None
        if declared.kind is TargetKind.KUSTOMIZE:
            siblings: list[Mapping[str, Any]] = [obj.data for obj in kustomize.render(copy, declared.path)]
        else:
            yfile = load_yaml_file(copy / declared.path, declared.path)
            siblings = [o.data for doc in yfile.documents for o in kubernetes_objects(doc.index, doc.data)]
        for data in siblings:
            meta = data.get("metadata") or {}  # a mapping: kubernetes_objects yields no other
            if data.get("kind") == kind and f"{meta.get('namespace') or ''}/{meta.get('name')}" == target.declared_as:
                return data, siblings
        raise SourceError(declared.path, f"{kind} {target.declared_as} is gone")


def _reordered(before: Mapping[tuple[str, str], list[tuple[str, ...]]], rendered: Sequence[Ref]) -> tuple[str, None] | None:
    """An object whose containers come in another order than before the edit (a strategic-merge
    patch puts its items first): init containers run in order, and the first app container is the
    one ``kubectl logs`` and ``exec`` pick. Objects whose kind and name are not unique are left out."""
    now: dict[tuple[str, str], list[str]] = {}
    for kind, name, container in rendered:
        now.setdefault((kind, name), []).append(container)
    for key, lists in sorted(before.items()):
        if len(lists) == 1 and key in now and tuple(now[key]) != lists[0]:
            return f"{key[0]}/{key[1]} containers come in another order: {', '.join(now[key])} (was {', '.join(lists[0])})", None
    return None


def _fields(spec: Mapping[str, Any]) -> dict[Field, int | None]:
    resources = spec.get("resources")
    out: dict[Field, int | None] = {}
    for f in FIELDS:
        bound = resources.get(f.bound.value) if isinstance(resources, dict) else None
        value = bound.get(f.resource.value) if isinstance(bound, dict) else None
        try:
            out[f] = None if value is None else (parse_cpu_m(value) if f.resource is Resource.CPU else parse_memory_bytes(value))
        except QuantityError:
            out[f] = None
    return out


def _show(f: Field, value: int | None) -> str:
    if value is None:
        return "unset"
    return human_cpu(value) if f.resource is Resource.CPU else human_memory(value)
