"""Load a repository: discover targets, render them, and remember where each object came from.

``load_repo`` never raises for one bad file or target: it records a ``Skipped`` entry with the
reason and goes on. Only an unusable repository path is an error.
"""

from __future__ import annotations

import json
import os
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator, Mapping, Sequence

from gitbot.config import Config
from gitbot.errors import InputError, SourceError
from gitbot.load import argocd, flux, helm, kustomize
from gitbot.load.argocd import ArgoRelease
from gitbot.load.flux import FluxKustomization, FluxRelease
from gitbot.load.helm_values import HelmMapping, map_release
from gitbot.load.cache import RenderCache, dir_files
from gitbot.load.discover import Discovery, Kustomization, PatchRef, discover
from gitbot.load.objects import FoundObject, kubernetes_objects, object_name
from gitbot.model import ObjectSource, RenderedObject, Skipped, SourceKind, Target, TargetKind, YamlPath
from gitbot.globs import within
from gitbot.yamldoc import YamlFile, load_yaml_file



@dataclass(frozen=True)
class LoadResult:
    targets: tuple[Target, ...]
    objects: tuple[RenderedObject, ...]
    skipped: tuple[Skipped, ...]
    files: Mapping[str, YamlFile]  # source files read with positions, by repo-relative path
    helm_mappings: Mapping[str, HelmMapping] = field(default_factory=dict)  # by Helm target name
    patches: Mapping[str, tuple[PatchRef, ...]] = field(default_factory=dict)  # by kustomization file
    followed_applications: frozenset[tuple[str, str]] = frozenset()  # (file, name) of Argo CD Applications rendered
    flux_releases: Mapping[str, FluxRelease] = field(default_factory=dict)  # by Helm target name
    argo_releases: Mapping[str, ArgoRelease] = field(default_factory=dict)  # by Helm target name


class _Loader:
    def __init__(self, repo: Path, config: Config, cache: RenderCache | None = None,
                 kustomizations: Mapping[str, Kustomization] | None = None) -> None:
        self.repo = repo
        self.config = config
        self.cache = cache
        self.kustomizations = kustomizations or {}
        self.files: dict[str, YamlFile] = {}
        self.file_errors: dict[str, SourceError] = {}
        self.objects: list[RenderedObject] = []
        self.skipped: list[Skipped] = []
        self.targets: list[Target] = []
        self.helm_mappings: dict[str, HelmMapping] = {}
        self.patches: dict[str, tuple[PatchRef, ...]] = {}
        self.flux_releases: dict[str, FluxRelease] = {}
        self.argo_releases: dict[str, ArgoRelease] = {}

    def source_file(self, rel: str) -> YamlFile:
        """A repository file parsed with positions, read once per run."""
        if rel in self.file_errors:
            raise self.file_errors[rel]
        if rel not in self.files:
            try:
                self.files[rel] = load_yaml_file(self.repo / rel, rel, self.config.max_file_bytes)
            except SourceError as err:
                self.file_errors[rel] = err
                raise
        return self.files[rel]

    def skip(self, err: SourceError) -> None:
        self.skipped.append(Skipped(err.path, err.detail, err.line))

    def load_plain(self, rel: str) -> None:
        target = Target(TargetKind.PLAIN, rel, rel)
        try:
            yfile = self.source_file(rel)
        except SourceError as err:
            if "{{" in _peek(self.repo / rel):
                self.skipped.append(Skipped(rel, "Go/Helm template outside a chart; not rendered"))
            else:
                self.skip(err)
            return
        found: list[FoundObject] = []
        for doc in yfile.documents:
            problems: list[tuple[YamlPath, str]] = []
            found += kubernetes_objects(doc.index, doc.data, problems)
            for path, why in problems:
                span = doc.span(path)
                where = "".join(f"[{key}]" if isinstance(key, int) else f".{key}" for key in path).lstrip(".")
                self.skipped.append(Skipped(rel, f"{where + ': ' if where else ''}{why}; left out",
                                            span.line if span else None))
        if not found:
            if not any(s.path == rel for s in self.skipped):
                self.skipped.append(Skipped(rel, "no Kubernetes objects"))
            return
        self.targets.append(target)
        for obj in found:
            self.objects.append(RenderedObject(target, obj.data, self._plain_source(yfile, obj, SourceKind.PLAIN)))

    def render_kustomize(self, root: str, patches: Sequence[Mapping[str, Any]] = (), patches_from: str | None = None,
                         namespace: str | None = None) -> list[kustomize.KustomizeObject]:
        """``kustomize.render``, from the render cache when nothing it reads has changed."""
        self._check_bases(root)
        key = None
        if self.cache is not None:
            inputs = self._kustomize_inputs(root)
            if inputs is not None:
                params = [kustomize.renderer(), root, [dict(p) for p in patches], patches_from, namespace]
                key = self.cache.key("kustomize", params, inputs)
                hit = self.cache.get(key)
                if isinstance(hit, list):
                    return [kustomize.KustomizeObject(data, origin, tuple(by), generated) for data, origin, by, generated in hit]
        objects = kustomize.render(self.repo, root, patches, patches_from, namespace)
        if self.cache is not None:
            self.cache.put(key, [[o.data, o.origin_file, list(o.transformed_by), o.generated_by] for o in objects])
        return objects

    def _check_bases(self, root: str) -> None:
        """SourceError when ``root`` builds on a kustomization that discovery refused (it escapes the
        repository, is part of a cycle, or cannot be read), or on a manifest that gitbot cannot read
        (too large, binary, not UTF-8, not YAML): kustomize would read them all the same, or fail
        with a message that does not name the file."""
        for kdir, k in self._closure(root):
            if k is None:
                raise SourceError(root or ".", f"builds on {kdir or '.'}, which is skipped (see its own entry); not rendered")
            for rel in k.files:
                if not (self.repo / rel).exists() and not (self.repo / rel).is_symlink():
                    raise SourceError(k.file, f"names {rel}, which does not exist; {root or '.'} not rendered")
            for rel in k.manifests:
                if (self.repo / rel).is_file():
                    try:
                        self.source_file(rel)
                    except SourceError as err:
                        raise SourceError(err.path, f"{err.detail}; {root or '.'} not rendered", err.line) from None

    def _closure(self, root: str) -> Iterator[tuple[str, Kustomization | None]]:
        """Each kustomization directory ``root`` builds on (itself first), once; None where discovery
        has none (refused, or not a kustomization)."""
        seen: set[str] = set()
        todo = [root]
        while todo:
            kdir = todo.pop()
            if kdir in seen:
                continue
            seen.add(kdir)
            k = self.kustomizations.get(kdir)
            yield kdir, k
            if k is not None:
                todo += k.children

    def _kustomize_inputs(self, root: str) -> list[Path] | None:
        """Every file the build of ``root`` can read: the files in the directories of the
        kustomizations it builds on and the files they name; None with a remote reference."""
        files: list[Path] = []
        for kdir, k in self._closure(root):
            if k is None or k.remote:
                return None
            files += dir_files(self.repo / kdir)
            files += [self.repo / f for f in k.files]
        return files

    def load_kustomize(self, root: str, via: FluxKustomization | None = None,
                       prerendered: Future[list[kustomize.KustomizeObject]] | None = None) -> None:
        """A Kustomize root; ``via``: as a Flux Kustomization deploys it, with its ``spec.patches``;
        ``prerendered``: its render, started in parallel."""
        target = Target(TargetKind.KUSTOMIZE, root, root or ".")
        patches: tuple[Mapping[str, Any], ...] = ()
        if via is not None:
            hr = via.obj
            target = Target(
                TargetKind.KUSTOMIZE, root, f"{root or '.'} ({hr.source.file}: Kustomization {hr.name})",
                origin=f"{hr.source.file}: Kustomization {hr.name}", declared_by=hr.target, declared_as=f"{hr.namespace or ''}/{hr.name}",
            )
            patches = tuple(p for _, p in via.patches)
            if hr.source.doc_index is not None:  # the patches are inline in the Flux Kustomization's file
                refs = tuple(
                    PatchRef(None, p.get("target") if isinstance(p.get("target"), dict) else None,
                             hr.source.yaml_path + ("spec", "patches", index, "patch"), doc=hr.source.doc_index)
                    for index, p in via.patches
                )
                self.patches[hr.source.file] = (*self.patches.get(hr.source.file, ()), *refs)
        try:
            if prerendered is not None:
                rendered = prerendered.result()
            else:
                rendered = self.render_kustomize(
                    root, patches, via.obj.source.file if via is not None else None, via.target_namespace if via is not None else None
                )
        except SourceError as err:
            self.skip(err)
            return
        self.targets.append(target)
        for obj in rendered:
            source = ObjectSource(obj.origin_file or obj.generated_by or root, None, None, SourceKind.UNKNOWN)
            if obj.origin_file is not None:
                source = self._locate(obj.origin_file, obj.data) or source
            self.objects.append(RenderedObject(target, obj.data, source, patched_by=obj.transformed_by))
            for kfile in obj.transformed_by:  # the patch files (or the kustomization's inline patches), read with positions
                for ref in self.patches.get(kfile, ()):
                    wanted = ref.file if ref.file is not None else (kfile if ref.inline_path is not None else None)
                    if wanted is not None:
                        try:
                            self.source_file(wanted)
                        except SourceError:
                            pass

    def follow_flux_kustomizations(self, roots: set[str]) -> None:
        """Roots that Flux Kustomizations deploy with ``spec.patches`` or ``targetNamespace`` are
        rendered once per such Kustomization, as it deploys them; the plain render is dropped unless
        one deploys the root as is."""
        found = flux.kustomizations(self.objects, roots, self.skipped)
        patched = [k for k in found if k.customized]
        as_is = {k.path for k in found if not k.customized}
        replaced = {k.path for k in patched} - as_is
        if replaced:
            self.targets = [t for t in self.targets if not (t.kind is TargetKind.KUSTOMIZE and t.path in replaced and t.declared_by is None)]
            self.objects = [o for o in self.objects if not (o.target.kind is TargetKind.KUSTOMIZE and o.target.path in replaced and o.target.declared_by is None)]
        for k in patched:
            self.load_kustomize(k.path, k)

    def load_prerendered(self, directory: str, release: RenderedObject) -> None:
        """``helm template`` output of a HelmRelease whose chart is remote: sized, never edited."""
        origin = f"{release.source.file}: HelmRelease {release.namespace or ''}/{release.name}"
        target = Target(TargetKind.PLAIN, directory, f"{directory} (pre-rendered {release.namespace or ''}/{release.name})", origin=origin)
        root = self.repo / directory
        files = sorted(p for p in root.rglob("*") if p.suffix in (".yaml", ".yml") and p.is_file()) if root.is_dir() else []
        if not files:
            self.skipped.append(Skipped(directory, f"pre-rendered directory for {origin} has no YAML files"))
            return
        self.targets.append(target)
        for path in files:
            rel = path.relative_to(self.repo).as_posix()
            try:
                yfile = self.source_file(rel)
            except SourceError as err:
                self.skip(err)
                continue
            for doc in yfile.documents:
                for obj in kubernetes_objects(doc.index, doc.data):
                    span = doc.span(obj.path)
                    source = ObjectSource(rel, doc.index, span.line if span else None, SourceKind.UNKNOWN, obj.path)
                    self.objects.append(RenderedObject(target, obj.data, source))

    def load_helm(self, chart: str, argo: tuple[ArgoRelease, ...] = (), flux_releases: tuple[FluxRelease, ...] = ()) -> None:
        """The chart's releases from the config, Flux HelmReleases and Argo CD Applications; with none
        of those, the chart with its defaults."""
        try:
            self._check_chart(chart)
        except SourceError as err:
            self.skip(err)
            return
        releases = [r for r in self.config.helm_releases if r.chart == chart]
        from_argo = [a for a in argo if a.release.chart == chart] if not releases else []
        from_flux = [f for f in flux_releases if f.chart == chart]
        for fr in from_flux:
            declared = fr.obj.target
            display = f"{chart}@{fr.namespace}/{fr.release} ({declared.name})"
            target = Target(
                TargetKind.HELM, chart, display, release=fr.release, namespace=fr.namespace,
                inline_values=json.dumps(fr.values, sort_keys=True) if fr.values else "",
                origin=f"{fr.obj.source.file}: HelmRelease {fr.obj.name}", declared_by=declared,
                declared_as=f"{fr.obj.namespace or ''}/{fr.obj.name}",
            )
            self.flux_releases[display] = fr
            self._render_chart(target)
        if not releases and not from_argo and not from_flux:
            name = chart.rsplit("/", 1)[-1] or "release"
            self._render_chart(Target(TargetKind.HELM, chart, f"{chart}@{name}", release=name))
        for r in releases:
            display = f"{chart}@{r.namespace}/{r.name}" if r.namespace else f"{chart}@{r.name}"
            self._render_chart(
                Target(TargetKind.HELM, chart, display, release=r.name, namespace=r.namespace, values_files=r.values)
            )
        for a in from_argo:
            r = a.release
            display = f"{chart}@{r.namespace}/{r.name}" if r.namespace else f"{chart}@{r.name}"
            self.argo_releases[display] = a
            self._render_chart(
                Target(TargetKind.HELM, chart, display, release=r.name, namespace=r.namespace, values_files=r.values,
                       inline_values=json.dumps(a.inline_values, sort_keys=True) if a.inline_values else "", origin=a.application)
            )

    def _check_chart(self, chart: str) -> None:
        """SourceError when Helm would read something gitbot must not or cannot: a symlink out of the
        repository anywhere in the chart, or a Chart.yaml / values.yaml that does not parse."""
        base = self.repo / chart
        for directory, dirs, files in os.walk(base):  # symlinked directories are listed, not entered
            for name in (*dirs, *files):
                path = Path(directory, name)
                if path.is_symlink() and not within(self.repo, path):
                    rel = path.relative_to(self.repo).as_posix()
                    raise SourceError(rel, f"symlink points outside the repository; chart {chart or '.'} not rendered")
        for name in ("Chart.yaml", "values.yaml"):
            rel = f"{chart}/{name}" if chart else name
            if (self.repo / rel).is_file():
                try:
                    load_yaml_file(self.repo / rel, rel, self.config.max_file_bytes)
                except SourceError as err:
                    raise SourceError(err.path, f"{err.detail}; chart {chart or '.'} not rendered", err.line) from None

    def _render_chart(self, target: Target) -> None:
        assert target.release is not None
        try:
            rendered = helm.render(
                self.repo, target.path, target.release, target.namespace or "default", target.values_files, target.inline_values, self.cache
            )
        except SourceError as err:
            self.skipped.append(Skipped(target.name if err.path == target.path else err.path, err.detail, err.line))
            return
        self.targets.append(target)
        for obj in rendered:
            source = ObjectSource(obj.template, obj.doc_index, None, SourceKind.HELM_TEMPLATE)
            self.objects.append(RenderedObject(target, obj.data, source))
        try:
            mapping = map_release(self.repo, target, self.cache)
            if mapping.edit_file is not None:
                self.source_file(mapping.edit_file)  # read with positions, for the edits
        except SourceError as err:
            mapping = HelmMapping({}, None, f"values keys could not be mapped: {err}")
        self.helm_mappings[target.name] = mapping

    def _locate(self, rel: str, data: Mapping[str, object]) -> ObjectSource | None:
        """Find the document in ``rel`` that a rendered object was read from."""
        try:
            yfile = self.source_file(rel)
        except SourceError:
            return None
        kind = data.get("kind")
        name = str((data.get("metadata") or {}).get("name", ""))  # type: ignore[union-attr]
        candidates = [
            obj
            for doc in yfile.documents
            for obj in kubernetes_objects(doc.index, doc.data)
            if obj.data.get("kind") == kind
        ]
        exact = [c for c in candidates if object_name(c.data) == name]
        # namePrefix / nameSuffix: the source name sits inside the rendered one; prefer the longest
        fuzzy = sorted((c for c in candidates if object_name(c.data) and object_name(c.data) in name), key=lambda c: -len(object_name(c.data)))
        chosen = exact[0] if exact else (fuzzy[0] if fuzzy else None)
        return None if chosen is None else self._plain_source(yfile, chosen, SourceKind.BASE)

    @staticmethod
    def _plain_source(yfile: YamlFile, obj: FoundObject, kind: SourceKind) -> ObjectSource:
        span = yfile.documents[obj.doc_index].span(obj.path)
        return ObjectSource(yfile.path, obj.doc_index, span.line if span else None, kind, obj.path)


def load_repo(repo: Path, config: Config, cache: RenderCache | None = None) -> LoadResult:
    """Render every target of ``repo``. Kustomize roots render in parallel (one ``kubectl kustomize``
    process per core); with ``cache``, unchanged targets are read from earlier renders."""
    if not repo.is_dir():
        raise InputError(f"{repo}: not a directory")
    found: Discovery = discover(repo, config)
    loader = _Loader(repo.resolve(), config, cache, found.kustomizations)
    loader.patches = {k.file: tuple(k.patches) for k in found.kustomizations.values() if k.patches}
    loader.skipped.extend(found.skipped)
    for rel in found.plain_files:
        loader.load_plain(rel)
    with ThreadPoolExecutor(max_workers=max(1, min(os.cpu_count() or 1, len(found.kustomize_roots)))) as pool:
        renders = {root: pool.submit(loader.render_kustomize, root) for root in found.kustomize_roots}
        for root in found.kustomize_roots:
            loader.load_kustomize(root, prerendered=renders[root])
    loader.follow_flux_kustomizations(set(found.kustomize_roots))
    argo = argocd.follow(loader.objects, found.charts)
    loader.skipped.extend(Skipped(file, reason, line) for file, line, reason in argo.problems)
    fluxed = flux.follow(loader.objects, found.charts, config.helm_charts)
    prerendered: set[str] = set()
    for obj, reason in fluxed.unrendered:
        rendered_dir = config.helm_rendered.get(f"{obj.namespace or ''}/{obj.name}")
        if rendered_dir is None:
            loader.skipped.append(Skipped(obj.source.file, reason, obj.source.line))
        elif rendered_dir not in prerendered:  # one HelmRelease in several overlays: its output once
            prerendered.add(rendered_dir)
            loader.load_prerendered(rendered_dir, obj)
    for chart in found.charts:
        loader.load_helm(chart, argo.releases, fluxed.releases)
    return LoadResult(
        tuple(loader.targets), tuple(loader.objects), tuple(loader.skipped), dict(loader.files), dict(loader.helm_mappings),
        dict(loader.patches), argo.followed, dict(loader.flux_releases), dict(loader.argo_releases),
    )



def _peek(path: Path) -> str:
    try:
        with open(path, encoding="utf-8", errors="replace") as handle:
            return handle.read(65536)
    except OSError:
        return ""
