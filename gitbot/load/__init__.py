"""Load a repository: discover targets, render them, and remember where each object came from.

``load_repo`` never raises for one bad file or target: it records a ``Skipped`` entry with the
reason (and, for a render target, a ``TargetReport`` that says it failed) and goes on. Only an
unusable repository path is an error.

Order: plain files, then Kustomize roots (in parallel), then what those declare. Flux HelmReleases
and Argo CD Applications are followed in rounds: each round renders what the objects found so far
deploy (charts here or pulled, Kustomize roots and directories with the Application's namespace),
and the next round looks at what those renders produced (an app-of-apps chart's Applications), to
``MAX_DEPTH`` levels. Charts nothing deploys are rendered once with their own defaults; if an
Application found later deploys one, that render gives way to the Application's.
"""

from __future__ import annotations

import json
import os
import tempfile
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Callable, Iterator, Mapping, Sequence

from gitbot.config import Config
from gitbot.errors import InputError, SourceError
from gitbot.load import argocd, charts as chartsrc, flux, helm, kustomize
from gitbot.load.argocd import ArgoPath, ArgoRelease
from gitbot.load.charts import ChartFetcher, ChartUnavailable, FetchedChart
from gitbot.load.flux import FluxKustomization, FluxRelease
from gitbot.load.helm_values import HelmMapping, map_release, match_rendered
from gitbot.load.cache import RenderCache, dir_files
from gitbot.load.discover import Discovery, Kustomization, PatchRef, discover
from gitbot.load.objects import FoundObject, kubernetes_objects, object_name
from gitbot.model import (
    Coverage, ObjectSource, RenderedObject, Skipped, SourceKind, Target, TargetKind, TargetReport, YamlPath,
)
from gitbot.globs import within
from gitbot.yamldoc import YamlFile, load_all, load_yaml_file

MAX_DEPTH = 5  # Applications/HelmReleases nested this deep (app-of-apps of app-of-apps ...) are not followed


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
    coverage: tuple[TargetReport, ...] = ()  # every render target and what became of it
    chart_builds: Path | None = None  # where prepared charts (dependencies added) are kept: the chart cache's

    @property
    def failed(self) -> tuple[TargetReport, ...]:
        return tuple(r for r in self.coverage if r.status is Coverage.FAILED)


class _Loader:
    def __init__(self, repo: Path, config: Config, cache: RenderCache | None = None,
                 kustomizations: Mapping[str, Kustomization] | None = None, charts: ChartFetcher | None = None) -> None:
        self.repo = repo
        self.config = config
        self.cache = cache
        self.charts = charts
        self.reports: dict[str, TargetReport] = {}  # by target name, in the order targets were met
        self.parameter_files: set[str] = set()  # read by ApplicationSet git file generators
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

    def forget_values_files(self) -> None:
        """A values file a release reads (or a generator's parameter file) is not a manifest: no "no
        Kubernetes objects" note for it."""
        values = {f for t in self.targets for f in t.values_files} | self.parameter_files
        self.skipped = [s for s in self.skipped if not (s.path in values and s.reason == "no Kubernetes objects")]

    def add_file_notes(self) -> None:
        """The parser's notes on the files read (an anchor defined twice ...), once each: added at the
        end because files are read from several threads, some more than once."""
        seen = set(self.skipped)
        notes = {note for yfile in self.files.values() for note in yfile.notes} - seen
        self.skipped.extend(sorted(notes, key=lambda n: (n.path, n.line or 0, n.reason)))

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
        self.add_target(target)
        for obj in found:
            self.objects.append(RenderedObject(target, obj.data, self._plain_source(yfile, obj, SourceKind.PLAIN)))

    def render_kustomize(self, root: str, patches: Sequence[Mapping[str, Any]] = (), patches_from: str | None = None,
                         namespace: str | None = None) -> tuple[list[kustomize.KustomizeObject], bool]:
        """``kustomize.render``, from the render cache when nothing it reads has changed (then True)."""
        self._check_bases(root)
        key = None
        if self.cache is not None:
            inputs = self._kustomize_inputs(root)
            if inputs is not None:
                params = [kustomize.renderer(), root, [dict(p) for p in patches], patches_from, namespace]
                key = self.cache.key("kustomize", params, inputs)
                hit = self.cache.get(key)
                if isinstance(hit, list):
                    return [kustomize.KustomizeObject(data, origin, tuple(by), generated) for data, origin, by, generated in hit], True
        objects = kustomize.render(self.repo, root, patches, patches_from, namespace)
        if self.cache is not None:
            self.cache.put(key, [[o.data, o.origin_file, list(o.transformed_by), o.generated_by] for o in objects])
        return objects, False

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
                       prerendered: Future[tuple[list[kustomize.KustomizeObject], bool]] | None = None) -> None:
        """A Kustomize root; ``via``: as a Flux Kustomization deploys it, with its ``spec.patches``;
        ``prerendered``: its render, started in parallel."""
        target = Target(TargetKind.KUSTOMIZE, root, root or ".")
        patches: tuple[Mapping[str, Any], ...] = ()
        if via is not None:
            hr = via.obj
            target = Target(
                TargetKind.KUSTOMIZE, root, f"{root or '.'} ({hr.source.file}: Kustomization {hr.name})",
                origin=f"{hr.source.file}: Kustomization {hr.name}", declared_by=hr.target, declared_as=f"{hr.namespace or ''}/{hr.name}",
                declared_kind="Kustomization",
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
                rendered, cached = prerendered.result()
            else:
                rendered, cached = self.render_kustomize(
                    root, patches, via.obj.source.file if via is not None else None, via.target_namespace if via is not None else None
                )
        except SourceError as err:
            self.skip(err)
            self.report(target, Coverage.FAILED, err.detail if err.path in (root, root or ".") else str(err))
            return
        self.add_target(target, Coverage.CACHED if cached else Coverage.RENDERED)
        self._add_kustomize_objects(target, root, rendered)

    def _add_kustomize_objects(self, target: Target, root: str, rendered: Sequence[kustomize.KustomizeObject]) -> None:
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
            self.drop(lambda t: t.kind is TargetKind.KUSTOMIZE and t.path in replaced and t.declared_by is None)
        for k in patched:
            self.load_kustomize(k.path, k)

    def load_prerendered(self, directory: str, release: RenderedObject, flux_release: FluxRelease | None = None) -> None:
        """``helm template`` output of a HelmRelease whose chart cannot be had: sized; a field is
        editable in the HelmRelease's ``spec.values`` when exactly one ``resources`` block there
        holds the numbers its container renders with (``helm_values.match_rendered``)."""
        origin = f"{release.source.file}: HelmRelease {release.namespace or ''}/{release.name}"
        target = Target(TargetKind.PLAIN, directory, f"{directory} (pre-rendered {release.namespace or ''}/{release.name})", origin=origin)
        root = self.repo / directory
        files = sorted(p for p in root.rglob("*") if p.suffix in (".yaml", ".yml") and p.is_file()) if root.is_dir() else []
        if not files:
            self.skipped.append(Skipped(directory, f"pre-rendered directory for {origin} has no YAML files"))
            self.report(target, Coverage.FAILED, f"pre-rendered directory {directory} has no YAML files")
            return
        self.add_target(target)
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
                    kind = SourceKind.UNKNOWN if flux_release is None else SourceKind.HELM_TEMPLATE
                    source = ObjectSource(rel, doc.index, span.line if span else None, kind, obj.path)
                    self.objects.append(RenderedObject(target, obj.data, source))
        if flux_release is not None:
            values = (release.data.get("spec") or {}).get("values")
            fields = match_rendered(values, [o.data for o in self.objects if o.target is target])
            why = f"the values are set in the HelmRelease ({origin})"
            self.helm_mappings[target.name] = HelmMapping(fields, None, why)
            self.flux_releases[target.name] = flux_release

    # -- bookkeeping ----------------------------------------------------------------------------

    def add_target(self, target: Target, status: Coverage = Coverage.RENDERED, detail: str | None = None) -> None:
        self.targets.append(target)
        self.report(target, status, detail)

    def report(self, target: Target, status: Coverage, detail: str | None = None) -> None:
        self.reports[target.name] = TargetReport(target.name, target.kind.value, status, detail, target.declared_kind, target.origin)

    def drop(self, which: Callable[[Target], bool]) -> None:
        """Forget the targets ``which`` selects, with their objects (a render another one replaces)."""
        gone = {t.name for t in self.targets if which(t)}
        self.targets = [t for t in self.targets if t.name not in gone]
        self.objects = [o for o in self.objects if o.target.name not in gone]
        for name in gone:
            for table in (self.reports, self.helm_mappings, self.flux_releases, self.argo_releases):
                table.pop(name, None)

    # -- what HelmReleases and Applications deploy ------------------------------------------------

    def follow_deployers(self, found: Discovery, urls: Sequence[str]) -> frozenset[tuple[str, str]]:
        """Render, round by round, what the Flux HelmReleases and Argo CD Applications among the
        objects deploy; then the charts nothing deploys, with their defaults. Returns the (file,
        name) of the Applications and ApplicationSets followed."""
        charts = [c for c in found.charts if not self._library(c)]
        repository = argocd.Repository(self.repo, frozenset(charts), frozenset(self.kustomizations), tuple(found.plain_files), tuple(urls))
        configured = {r.chart for r in self.config.helm_releases}
        for chart in charts:
            if chart in configured and self._chart_ok(chart, f"{chart} (helm.releases)"):
                for r in self.config.helm_releases:
                    if r.chart == chart:
                        display = f"{chart}@{r.namespace}/{r.name}" if r.namespace else f"{chart}@{r.name}"
                        self._render_release(Target(TargetKind.HELM, chart, display, release=r.name, namespace=r.namespace, values_files=r.values))
        handled: set[int] = set()
        seen: set[tuple[str, str, str]] = set()
        deployed: set[str] = set()
        defaulted: set[str] = set()
        followed: set[tuple[str, str]] = set()
        prerendered: set[str] = set()
        while True:
            fresh = [o for o in self.objects if id(o) not in handled and _deploys(o)]
            handled.update(id(o) for o in fresh)
            if not fresh:
                pending = [c for c in charts if c not in configured and c not in deployed and c not in defaulted]
                if not pending:
                    break
                for chart in pending:
                    defaulted.add(chart)
                    if self._chart_ok(chart, _default_target(chart)):
                        self._render_release(Target(TargetKind.HELM, chart, _default_target(chart), release=_default_release(chart)))
                continue
            fresh = [o for o in fresh if self._shallow(o) and _once(o, seen)]
            argo = argocd.follow(fresh, repository)
            followed |= argo.followed
            self.parameter_files |= argo.read
            self.skipped.extend(Skipped(file, reason, line) for file, line, reason in argo.problems)
            for outcome in argo.outcomes:
                self.skipped.append(Skipped(outcome.obj.source.file, outcome.reason, outcome.obj.source.line))
                self.reports[outcome.application] = TargetReport(
                    outcome.application, "application", Coverage.FAILED if outcome.failed else Coverage.SKIPPED, outcome.reason,
                    "Application", outcome.application,
                )
            for path in argo.paths:
                self._deploy_path(path, found)
            for a in argo.releases:
                if a.remote is None and a.release.chart in configured:
                    continue  # helm.releases configures this chart's releases
                if a.remote is None:
                    deployed.add(a.release.chart)
                    self.drop(lambda t, c=a.release.chart: t.kind is TargetKind.HELM and t.name == _default_target(c))
                self._argo_release(a)
            fluxed = flux.follow(fresh, charts, self.config.helm_charts, self.objects)
            for fr in fluxed.releases:
                if fr.chart:
                    deployed.add(fr.chart)
                    self.drop(lambda t, c=fr.chart: t.kind is TargetKind.HELM and t.name == _default_target(c))
                self._flux_release(fr, prerendered)
            for obj, reason in fluxed.unrendered:
                self._unrendered_helmrelease(obj, reason, prerendered)
        return frozenset(followed)

    def _shallow(self, obj: RenderedObject) -> bool:
        """False (and reported) for an Application or HelmRelease nested deeper than MAX_DEPTH."""
        depth, target = 0, obj.target
        while target.declared_by is not None:
            depth, target = depth + 1, target.declared_by
        if depth < MAX_DEPTH:
            return True
        reason = f"{obj.kind} {obj.name}: declared {depth} levels down (app-of-apps); not followed past {MAX_DEPTH}"
        self.skipped.append(Skipped(obj.source.file, reason, obj.source.line))
        name = f"{obj.source.file}: {obj.kind} {obj.name}"
        self.reports[name] = TargetReport(name, "application" if obj.kind.startswith("Application") else "helm", Coverage.FAILED, reason, obj.kind, name)
        return False

    def _library(self, chart: str) -> bool:
        """A library chart renders nothing of its own: it is reported, not rendered."""
        try:
            data = load_all((self.repo / chart / "Chart.yaml").read_text(encoding="utf-8"), f"{chart}/Chart.yaml")
        except (OSError, UnicodeDecodeError, SourceError):
            return False
        if data and isinstance(data[0], dict) and data[0].get("type") == "library":
            name = f"{chart or '.'} (library chart)"
            self.reports[name] = TargetReport(name, "helm", Coverage.SKIPPED, "a library chart: rendered only as another chart's dependency")
            return True
        return False

    def _chart_ok(self, chart: str, name: str) -> bool:
        try:
            self._check_chart(chart)
        except SourceError as err:
            self.skip(err)
            self.reports[name] = TargetReport(name, "helm", Coverage.FAILED, str(err))
            return False
        return True

    def _argo_release(self, a: ArgoRelease) -> None:
        r = a.release
        if a.remote is None:
            display = f"{r.chart}@{r.namespace}/{r.name}" if r.namespace else f"{r.chart}@{r.name}"
            if not self._chart_ok(r.chart, display):
                return
            target = Target(TargetKind.HELM, r.chart, display, release=r.name, namespace=r.namespace, values_files=r.values,
                            inline_values=json.dumps(a.inline_values, sort_keys=True) if a.inline_values else "", origin=a.application,
                            declared_kind="Application")
            self.argo_releases[display] = a
            self._render_release(target)
            return
        assert a.obj is not None
        for vf in a.chart_value_files:
            self.skipped.append(Skipped(a.obj.source.file, f"Application {object_name(a.obj.data)}: value file {vf!r} inside the chart "
                                        f"{a.remote.location} is not read", a.obj.source.line))
        app_ns = a.obj.namespace or ""
        target = Target(TargetKind.HELM, a.remote.location, "", release=r.name, namespace=r.namespace, values_files=r.values,
                        inline_values=json.dumps(a.inline_values, sort_keys=True) if a.inline_values else "", origin=a.application,
                        declared_by=a.obj.target, declared_as=f"{app_ns}/{object_name(a.obj.data)}", declared_kind="Application")
        fetched = self._fetch(a.remote, target, lambda chart: f"{chart}@{r.namespace or 'default'}/{r.name} ({a.application})", a.obj)
        if fetched is not None:
            target = replace(target, path=fetched.label, chart=str(fetched.archive),
                             name=f"{fetched.ref.name}:{fetched.version}@{r.namespace or 'default'}/{r.name} ({a.application})")
            self.argo_releases[target.name] = a
            self._render_release(target, fetched)

    def _flux_release(self, fr: FluxRelease, prerendered: set[str]) -> None:
        declared = fr.obj.target
        inline = json.dumps(fr.values, sort_keys=True) if fr.values else ""
        origin = f"{fr.obj.source.file}: HelmRelease {fr.obj.name}"
        common = dict(release=fr.release, namespace=fr.namespace, inline_values=inline, origin=origin, declared_by=declared,
                      declared_as=f"{fr.obj.namespace or ''}/{fr.obj.name}", declared_kind="HelmRelease")
        if fr.remote is None:
            display = f"{fr.chart}@{fr.namespace}/{fr.release} ({declared.name})"
            if not self._chart_ok(fr.chart, display):
                return
            target = Target(TargetKind.HELM, fr.chart, display, **common)  # type: ignore[arg-type]
            self.flux_releases[display] = fr
            self._render_release(target)
            return
        target = Target(TargetKind.HELM, fr.remote.location, "", **common)  # type: ignore[arg-type]
        fetched = self._fetch(fr.remote, target, lambda chart: f"{chart}@{fr.namespace}/{fr.release} ({declared.name})", fr.obj,
                              fallback=lambda: self._prerendered(fr.obj, prerendered, fr))
        if fetched is not None:
            target = replace(target, path=fetched.label, chart=str(fetched.archive),
                             name=f"{fetched.ref.name}:{fetched.version}@{fr.namespace}/{fr.release} ({declared.name})")
            self.flux_releases[target.name] = fr
            self._render_release(target, fetched)

    def _fetch(self, ref: chartsrc.ChartRef, target: Target, name: Callable[[str], str], declaring: RenderedObject,
               fallback: Callable[[], bool] | None = None) -> FetchedChart | None:
        """The pulled chart, or None with the target reported failed (unless ``fallback`` covers it)."""
        try:
            if self.charts is None:
                raise ChartUnavailable(f"chart {ref} is not in the repository, and pulling charts is off")
            return self.charts.fetch(ref)
        except ChartUnavailable as exc:
            if fallback is not None and fallback():
                return None
            who = f"{declaring.kind} {declaring.name}"
            if declaring.target.kind is TargetKind.KUSTOMIZE:  # one base, several overlays: say which
                who += f" ({declaring.target.name})"
            self.skipped.append(Skipped(declaring.source.file, f"{who}: {exc}; its workloads are not sized", declaring.source.line))
            self.report(replace(target, name=name(ref.name)), Coverage.FAILED, str(exc))
            return None

    def _unrendered_helmrelease(self, obj: RenderedObject, reason: str, prerendered: set[str]) -> None:
        if self._prerendered(obj, prerendered):
            return
        self.skipped.append(Skipped(obj.source.file, reason, obj.source.line))
        name = f"{obj.source.file}: HelmRelease {obj.namespace or ''}/{obj.name}"
        self.reports[name] = TargetReport(name, "helm", Coverage.FAILED, reason, "HelmRelease", name)

    def _prerendered(self, obj: RenderedObject, done: set[str], flux_release: FluxRelease | None = None) -> bool:
        """``helm.rendered``: the HelmRelease's ``helm template`` output, when configured (True)."""
        directory = self.config.helm_rendered.get(f"{obj.namespace or ''}/{obj.name}")
        if directory is None:
            return False
        if directory not in done:  # one HelmRelease in several overlays: its output once
            done.add(directory)
            self.load_prerendered(directory, obj, flux_release)
        return True

    def _deploy_path(self, path: ArgoPath, found: Discovery) -> None:
        """A Kustomize directory or plain manifests as an Application deploys them: objects without
        a namespace get its destination namespace (or every object ``kustomize.namespace``)."""
        app = path.obj
        namespace = path.kustomize_namespace or path.namespace
        common = dict(namespace=namespace, origin=path.application, declared_by=app.target,
                      declared_as=f"{app.namespace or ''}/{object_name(app.data)}", declared_kind="Application")
        if path.kustomize:
            target = Target(TargetKind.KUSTOMIZE, path.path, f"{path.path or '.'} ({path.application})", **common)  # type: ignore[arg-type]
            plain = next((t for t in self.targets if t.kind is TargetKind.KUSTOMIZE and t.path == path.path and t.declared_by is None), None)
            if plain is not None and path.kustomize_namespace is None:  # the root as rendered, placed in the Application's namespace
                status = self.reports[plain.name].status if plain.name in self.reports else Coverage.RENDERED
                self.objects.extend([RenderedObject(target, o.data, o.source, o.patched_by) for o in self.objects if o.target is plain])
                self.drop(lambda t: t is plain)
                self.add_target(target, status)
                return
            try:
                rendered, cached = self.render_kustomize(path.path, namespace=path.kustomize_namespace)
            except SourceError as err:
                self.skip(err)
                self.report(target, Coverage.FAILED, err.detail)
                return
            self.drop(lambda t: t.kind is TargetKind.KUSTOMIZE and t.path == path.path and t.declared_by is None)
            self.add_target(target, Coverage.CACHED if cached else Coverage.RENDERED)
            self._add_kustomize_objects(target, path.path, rendered)
            return
        prefix = f"{path.path}/" if path.path else ""
        files = [f for f in found.plain_files if f.startswith(prefix) and (path.recurse or "/" not in f[len(prefix):])]
        originals = {t.path: t for t in self.targets if t.kind is TargetKind.PLAIN and t.declared_by is None and t.path in files}
        for file in files:
            plain = originals.get(file)
            if plain is None:
                continue  # not a manifest file gitbot could read (see the skipped inputs)
            target = Target(TargetKind.PLAIN, file, f"{file} ({path.application})", **common)  # type: ignore[arg-type]
            objects = [RenderedObject(target, o.data, o.source, o.patched_by) for o in self.objects if o.target is plain]
            self.add_target(target)
            self.objects.extend(objects)
        self.drop(lambda t: t.kind is TargetKind.PLAIN and t.declared_by is None and t.path in originals)

    def _render_release(self, target: Target, pulled: FetchedChart | None = None) -> None:
        """Prepare the chart (dependencies, schemas), render it, and map its values keys."""
        assert target.release is not None
        source = Path(target.chart) if target.chart else self.repo / target.path
        try:
            values = helm.release_values(self.repo, target.values_files, target.inline_values)
            prepared = chartsrc.prepare(source, target.path, values, self._builds(), self.charts, self.repo if target.chart is None else None)
            target = replace(target, chart_deps=tuple(str(d.archive) for d in prepared.dependencies))
            rendered, cached = helm.render_cached(prepared.location, target.path, target.release, target.namespace or "default", values, self.cache)
        except SourceError as err:
            self.skipped.append(Skipped(target.name if err.path == target.path else err.path, err.detail, err.line))
            self.report(target, Coverage.FAILED, err.detail if err.path == target.path else str(err))
            return
        self.skipped.extend(Skipped(target.name, note) for note in prepared.notes)
        downloads = [f for f in (pulled, *prepared.dependencies) if f is not None and f.status == "pulled"]
        status = Coverage.PULLED if downloads else Coverage.CACHED if cached else Coverage.RENDERED
        detail = "pulled " + ", ".join(f"{f.ref.name} {f.version} from {f.repository}" for f in downloads) if downloads else None
        if detail is None and pulled is not None:
            detail = f"chart {pulled.label} from the chart cache"
        self.add_target(target, status, detail)
        for obj in rendered:
            source_ref = ObjectSource(obj.template, obj.doc_index, None, SourceKind.HELM_TEMPLATE)
            self.objects.append(RenderedObject(target, obj.data, source_ref))
        try:
            mapping = map_release(self.repo, target, prepared.location, self.cache)
            if mapping.edit_file is not None:
                self.source_file(mapping.edit_file)  # read with positions, for the edits
        except SourceError as err:
            mapping = HelmMapping({}, None, f"values keys could not be mapped: {err}")
        self.helm_mappings[target.name] = mapping

    def _builds(self) -> Path:
        return self.charts.builds if self.charts is not None else Path(tempfile.gettempdir()) / "gitbot-charts" / "built"

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


def load_repo(repo: Path, config: Config, cache: RenderCache | None = None, charts: ChartFetcher | None = None,
              repository_urls: Sequence[str] = ()) -> LoadResult:
    """Render every target of ``repo``. Kustomize roots render in parallel (one ``kubectl kustomize``
    process per core); with ``cache``, unchanged targets are read from earlier renders; with
    ``charts``, charts that live elsewhere are pulled. ``repository_urls``: the URLs this repository
    is known by, to tell an Argo CD source in it from one in another repository."""
    if not repo.is_dir():
        raise InputError(f"{repo}: not a directory")
    found: Discovery = discover(repo, config)
    loader = _Loader(repo.resolve(), config, cache, found.kustomizations, charts)
    loader.patches = {k.file: tuple(k.patches) for k in found.kustomizations.values() if k.patches}
    loader.skipped.extend(found.skipped)
    for kdir, reason in found.broken.items():
        loader.report(Target(TargetKind.KUSTOMIZE, kdir, kdir or "."), Coverage.FAILED, reason)
    for rel in found.plain_files:
        loader.load_plain(rel)
    with ThreadPoolExecutor(max_workers=max(1, min(os.cpu_count() or 1, len(found.kustomize_roots)))) as pool:
        renders = {root: pool.submit(loader.render_kustomize, root) for root in found.kustomize_roots}
        for root in found.kustomize_roots:
            loader.load_kustomize(root, prerendered=renders[root])
    loader.follow_flux_kustomizations(set(found.kustomize_roots))
    followed = loader.follow_deployers(found, repository_urls)
    loader.forget_values_files()
    loader.add_file_notes()
    return LoadResult(
        tuple(loader.targets), tuple(loader.objects), tuple(loader.skipped), dict(loader.files), dict(loader.helm_mappings),
        dict(loader.patches), followed, dict(loader.flux_releases), dict(loader.argo_releases),
        tuple(loader.reports.values()), loader._builds(),
    )


def _default_release(chart: str) -> str:
    """The release name of a chart rendered with its own defaults: the directory's name."""
    return chart.rsplit("/", 1)[-1] or "release"


def _default_target(chart: str) -> str:
    return f"{chart}@{_default_release(chart)}"


def _deploys(obj: RenderedObject) -> bool:
    """An object that deploys more: a Flux HelmRelease, an Argo CD Application or ApplicationSet."""
    return flux.is_helmrelease(obj) or (obj.kind in ("Application", "ApplicationSet")
                                         and str(obj.data.get("apiVersion", "")).startswith(argocd.APPLICATION_API))


def _once(obj: RenderedObject, seen: set[tuple[str, str, str]]) -> bool:
    """Each Application once: an app-of-apps directory that holds its own Application renders it
    again, and a HelmRelease rendered again by a second target is the same release."""
    if flux.is_helmrelease(obj):
        return True
    key = (obj.kind, obj.namespace or "", obj.name)
    if key in seen:
        return False
    seen.add(key)
    return True


def _peek(path: Path) -> str:
    try:
        with open(path, encoding="utf-8", errors="replace") as handle:
            return handle.read(65536)
    except OSError:
        return ""
