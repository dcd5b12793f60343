"""Argo CD Applications and ApplicationSets: what each one deploys, as gitbot renders it.

Each source of an Application (``spec.source`` or each of ``spec.sources``) is one of:

- a **Helm chart in this repository** (``path`` naming a chart directory): rendered as that release,
  ``helm.releaseName`` (else the Application's name), ``spec.destination.namespace``, value files
  relative to the chart or, in a multi-source Application, ``$<ref>/path`` in a source with that
  ``ref`` that is this repository. Inline values (``helm.valuesObject``, ``helm.values``,
  ``helm.parameters``) apply last; ``valuesObject`` and the keys the ``values`` text sets are edited
  in place, parameters are not;
- a **chart from a Helm repository or OCI registry** (``chart`` + ``repoURL`` + ``targetRevision``):
  pulled (``gitbot.load.charts``) and rendered the same way; value files inside the chart are read
  from it, ``$ref`` files from this repository;
- a **Kustomize directory or plain manifests** of this repository: rendered as Argo CD does, the
  objects without a namespace placed in ``destination.namespace`` (``kustomize.namespace`` sets every
  object's); a directory of Applications is how app-of-apps repositories nest, and the loader
  follows what it renders again;
- **another repository** (its ``repoURL`` is not one of this repository's remotes): skipped with
  that reason, never rendered from a local directory of the same name.

An ApplicationSet's ``list``, ``git`` (directories and files of this repository) and ``matrix``
generators are expanded into their Applications, placeholders filled in (``{{name}}``, ``{{path}}``,
``{{path.basename}}``, ``{{.path.path}}`` with goTemplate ...); values in its shared template are
not edited.
"""

from __future__ import annotations

import json
import re
import urllib.parse
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Iterable, Iterator, Mapping

from gitbot.config import HelmRelease
from gitbot.errors import SourceError
from gitbot.globs import any_match, normalise
from gitbot.load.charts import ChartRef
from gitbot.load.objects import object_name
from gitbot.model import RenderedObject, YamlPath
from gitbot.yamldoc import parse_yaml

APPLICATION_API = "argoproj.io/"
GENERATED_FROM = "gitbot/applicationset"
_PLACEHOLDER = re.compile(r"\{\{-?\s*\.?([A-Za-z0-9_.\[\]-]+)\s*-?\}\}")


@dataclass(frozen=True)
class ArgoRelease:
    release: HelmRelease  # chart: the chart directory, or "" for a pulled chart (``remote``)
    application: str  # "file: name", for messages
    inline_values: Mapping[str, Any]  # helm.values / valuesObject / parameters, applied after the files
    obj: RenderedObject | None = None  # the Application
    values_object_path: YamlPath | None = None  # where helm.valuesObject is in the Application, when it is a mapping
    not_editable_values: Mapping[str, Any] = field(default_factory=dict)  # what helm.values (text) and parameters set
    remote: ChartRef | None = None  # the chart, when it comes from a Helm repository or OCI registry
    chart_value_files: tuple[str, ...] = ()  # value files inside the pulled chart
    values_text_path: YamlPath | None = None  # where helm.values is, when it is YAML text (and no valuesObject)

    @property
    def helm_path(self) -> YamlPath | None:
        """The Application's ``helm`` block that holds its inline values, when they are editable."""
        path = self.values_object_path or self.values_text_path
        return path[:-1] if path else None


@dataclass(frozen=True)
class ArgoPath:
    """A source that deploys a Kustomize directory or the plain manifests of a directory here."""

    obj: RenderedObject  # the Application
    application: str  # "file: name"
    path: str  # repo-relative directory ("" for the root)
    kustomize: bool
    namespace: str | None  # destination.namespace: where objects without a namespace go
    kustomize_namespace: str | None = None  # kustomize.namespace: every object's namespace
    recurse: bool = False  # directory.recurse


@dataclass(frozen=True)
class Outcome:
    """A source gitbot could not render, and whether that is a failure or a deliberate skip."""

    obj: RenderedObject
    application: str
    failed: bool
    reason: str


@dataclass(frozen=True)
class Followed:
    releases: tuple[ArgoRelease, ...]
    paths: tuple[ArgoPath, ...]
    outcomes: tuple[Outcome, ...]
    followed: frozenset[tuple[str, str]]  # (file, name) of Applications/ApplicationSets rendered or reported here
    problems: tuple[tuple[str, int | None, str], ...]  # (file, line, note): inputs read only in part
    read: frozenset[str] = frozenset()  # files of this repository read as generator parameters (not manifests)


@dataclass(frozen=True)
class Repository:
    """What gitbot knows of the repository it reads: the directories and files discovery found, and
    the URLs it is known by (``git remote -v``, config ``repository_urls``)."""

    root: Path
    charts: frozenset[str]
    kustomize_dirs: frozenset[str]
    plain_files: tuple[str, ...]
    urls: tuple[str, ...] = ()

    def is_this(self, url: str | None) -> bool | None:
        """True/False when known; None when this repository's URLs are not (a plain directory)."""
        if not self.urls:
            return None
        return same_url(url or "", self.urls)


def follow(objects: Iterable[RenderedObject], repo: Repository) -> Followed:
    releases: list[ArgoRelease] = []
    paths: list[ArgoPath] = []
    outcomes: list[Outcome] = []
    followed: set[tuple[str, str]] = set()
    problems: list[tuple[str, int | None, str]] = []
    read: set[str] = set()
    for obj, generated in _applications(objects, repo, problems, followed, read):
        spec = obj.data.get("spec") or {}
        sources = [spec["source"]] if isinstance(spec.get("source"), dict) else [s for s in spec.get("sources") or [] if isinstance(s, dict)]
        name = object_name(obj.data)
        where = f"{obj.source.file}: {name}"
        key = (obj.source.file, name if not generated else str((obj.data.get("metadata") or {}).get("labels", {}).get(GENERATED_FROM, name)))
        followed.add(key)
        destination = spec.get("destination") if isinstance(spec.get("destination"), dict) else {}
        namespace = destination.get("namespace") if isinstance(destination.get("namespace"), str) and destination.get("namespace") else None
        refs = {str(s["ref"]): s for s in sources if isinstance(s.get("ref"), str) and s.get("ref")}
        for index, source in enumerate(sources):
            source_path: YamlPath = ("spec", "source") if isinstance(spec.get("source"), dict) else ("spec", "sources", index)
            if source.get("chart"):
                release = _chart_release(obj, name, where, source, source_path, namespace, refs, repo, generated, problems)
                if isinstance(release, Outcome):
                    outcomes.append(release)
                else:
                    releases.append(release)
                continue
            if "path" not in source:
                continue  # a ref-only source (values for another source), or a directory-less one
            found = _path_source(obj, name, where, source, source_path, namespace, refs, repo, generated, problems)
            if isinstance(found, Outcome):
                outcomes.append(found)
            elif isinstance(found, ArgoPath):
                paths.append(found)
            else:
                releases.append(found)
    return Followed(tuple(releases), tuple(paths), tuple(outcomes), frozenset(followed), tuple(problems), frozenset(read))


def _path_source(obj: RenderedObject, name: str, where: str, source: Mapping[str, Any], source_path: YamlPath,
                 namespace: str | None, refs: Mapping[str, Mapping[str, Any]], repo: Repository, generated: bool,
                 problems: list[tuple[str, int | None, str]]) -> ArgoRelease | ArgoPath | Outcome:
    raw = str(source.get("path") or ".")
    if repo.is_this(source.get("repoURL")) is False:
        return Outcome(obj, where, False, f"Application {name}: source {raw!r} is in another repository ({source.get('repoURL')}); not rendered")
    path = None if raw.startswith("/") else normalise("", raw)
    if path is None:
        return Outcome(obj, where, True, f"Application {name}: source path {raw!r} is outside the repository; not followed")
    path = "" if path == "." else path
    if path in repo.charts:
        helm = source.get("helm") if isinstance(source.get("helm"), dict) else {}
        files = _value_files(helm, path, refs, repo, obj, name, problems)
        release = HelmRelease(path, str(helm.get("releaseName") or name), namespace, tuple(files))
        return _release(obj, where, release, helm, source_path, generated)
    kustomize = source.get("kustomize") if isinstance(source.get("kustomize"), dict) else {}
    override = kustomize.get("namespace") if isinstance(kustomize.get("namespace"), str) and kustomize.get("namespace") else None
    if path in repo.kustomize_dirs:
        return ArgoPath(obj, where, path, True, namespace, override)
    directory = source.get("directory") if isinstance(source.get("directory"), dict) else {}
    recurse = directory.get("recurse") is True
    prefix = f"{path}/" if path else ""
    if any(f.startswith(prefix) and (recurse or "/" not in f[len(prefix):]) for f in repo.plain_files):
        return ArgoPath(obj, where, path, False, namespace, None, recurse)
    if not (repo.root / path).is_dir():
        return Outcome(obj, where, True, f"Application {name}: source path {raw!r} does not exist in this repository")
    return Outcome(obj, where, True, f"Application {name}: source path {raw!r} has no manifests gitbot can render (see the skipped inputs)")


def _chart_release(obj: RenderedObject, name: str, where: str, source: Mapping[str, Any], source_path: YamlPath,
                   namespace: str | None, refs: Mapping[str, Mapping[str, Any]], repo: Repository, generated: bool,
                   problems: list[tuple[str, int | None, str]]) -> ArgoRelease | Outcome:
    repo_url = str(source.get("repoURL") or "").strip()
    chart = str(source.get("chart")).strip("/")
    if not repo_url:
        return Outcome(obj, where, True, f"Application {name}: chart {chart!r} has no repoURL")
    repository = repo_url if "://" in repo_url else f"oci://{repo_url}"  # Argo CD: a Helm repository without a scheme is OCI
    if not repository.startswith(("http://", "https://", "oci://")):
        return Outcome(obj, where, True, f"Application {name}: chart repository {repo_url!r} is neither http(s) nor OCI")
    version = str(source.get("targetRevision") or "").strip() or None
    ref = ChartRef(repository.rstrip("/"), chart, None if version in ("HEAD", "*") else version)
    helm = source.get("helm") if isinstance(source.get("helm"), dict) else {}
    in_chart: list[str] = []
    files = _value_files(helm, None, refs, repo, obj, name, problems, in_chart)
    release = HelmRelease("", str(helm.get("releaseName") or name), namespace, tuple(files))
    return replace(_release(obj, where, release, helm, source_path, generated), remote=ref, chart_value_files=tuple(in_chart))


def _release(obj: RenderedObject, where: str, release: HelmRelease, helm: Mapping[str, Any], source_path: YamlPath,
             generated: bool) -> ArgoRelease:
    values_object = helm.get("valuesObject")
    editable_object = isinstance(values_object, dict) and not generated  # an ApplicationSet's template is shared
    editable_text = not isinstance(values_object, dict) and isinstance(helm.get("values"), str) and not generated
    return ArgoRelease(
        release, where, inline_values(helm, where), obj,
        source_path + ("helm", "valuesObject") if editable_object else None,
        inline_values({"parameters": helm.get("parameters")}, where) if editable_object or editable_text else {},
        values_text_path=source_path + ("helm", "values") if editable_text else None,
    )


def _value_files(helm: Mapping[str, Any], chart: str | None, refs: Mapping[str, Mapping[str, Any]], repo: Repository,
                 obj: RenderedObject, name: str, problems: list[tuple[str, int | None, str]],
                 in_chart: list[str] | None = None) -> list[str]:
    """The repo-relative value files of a source: ``$ref/...`` ones, and ones relative to ``chart``
    (a chart here); for a pulled chart (``chart`` None) those are files inside it, put in ``in_chart``."""
    files: list[str] = []
    for vf in helm.get("valueFiles") or []:
        if not isinstance(vf, str):
            continue
        if vf.startswith("$"):
            resolved = _ref_file(vf, refs, repo, obj, name, problems)
            if resolved is not None:
                files.append(resolved)
            continue
        if chart is None:
            if in_chart is not None:
                in_chart.append(vf.removeprefix("./"))
            continue
        joined = normalise(chart, vf)
        if joined is None:
            problems.append((obj.source.file, obj.source.line, f"Application {name}: value file {vf!r} is outside the repository; not read"))
            continue
        files.append(joined)
    return files


def _ref_file(vf: str, refs: Mapping[str, Mapping[str, Any]], repo: Repository, obj: RenderedObject, name: str,
              problems: list[tuple[str, int | None, str]]) -> str | None:
    """``$values/envs/prod.yaml``: a file of the source whose ``ref`` is ``values``, when that
    source is this repository; the path is from that repository's root."""
    ref_name, _, rest = vf[1:].partition("/")
    source = refs.get(ref_name)
    if source is None:
        problems.append((obj.source.file, obj.source.line, f"Application {name}: value file {vf!r} names no source with ref {ref_name!r}; not read"))
        return None
    if repo.is_this(source.get("repoURL")) is False:
        problems.append((obj.source.file, obj.source.line,
                         f"Application {name}: value file {vf!r} is in another repository ({source.get('repoURL')}); not read"))
        return None
    path = normalise("", rest) if rest and not rest.startswith("/") else None
    if path is None:
        problems.append((obj.source.file, obj.source.line, f"Application {name}: value file {vf!r} is outside the repository; not read"))
        return None
    return path


# -- repository URLs ------------------------------------------------------------------------------


def url_key(url: str) -> str:
    """``https://github.com/Org/Repo.git``, ``git@github.com:org/repo``, ``ssh://git@github.com/org/repo``
    -> ``github.com/org/repo``: what two spellings of one repository share."""
    text = url.strip()
    scp = re.fullmatch(r"(?:[^@/\s]+@)?([^:/\s]+):(?!\d+/)(.+)", text)
    if "://" not in text and scp:
        host, path = scp.group(1), scp.group(2)
    else:
        parts = urllib.parse.urlsplit(text if "://" in text else f"https://{text}")
        host, path = parts.hostname or "", parts.path
    path = path.strip("/").removesuffix(".git").removesuffix("/")
    return f"{host.lower()}/{path.lower()}"


def same_url(url: str, urls: Iterable[str]) -> bool:
    key = url_key(url)
    return any(url_key(u) == key for u in urls)


# -- ApplicationSets ------------------------------------------------------------------------------


def _applications(
    objects: Iterable[RenderedObject], repo: Repository, problems: list[tuple[str, int | None, str]], reported: set[tuple[str, str]],
    read: set[str],
) -> Iterator[tuple[RenderedObject, bool]]:
    """Applications, and those an ApplicationSet's generators make (True: generated).
    An ApplicationSet with a generator gitbot cannot expand is reported once, here."""
    for obj in objects:
        if not str(obj.data.get("apiVersion", "")).startswith(APPLICATION_API):
            continue
        if obj.kind == "Application":
            yield obj, False
        elif obj.kind == "ApplicationSet":
            before = len(problems)
            yield from ((app, True) for app in _generate(obj, repo, problems, read))
            if len(problems) > before:
                reported.add((obj.source.file, object_name(obj.data)))


class _Unsupported(Exception):
    pass


def _generate(obj: RenderedObject, repo: Repository, problems: list[tuple[str, int | None, str]], read: set[str]) -> list[RenderedObject]:
    """One Application per parameter set of the ApplicationSet's generators."""
    spec = obj.data.get("spec") or {}
    template = spec.get("template")
    name = object_name(obj.data)
    go = spec.get("goTemplate") is True
    out: list[RenderedObject] = []
    for generator in spec.get("generators") or []:
        try:
            params = _params(generator, repo, go, read)
        except _Unsupported as exc:
            problems.append((obj.source.file, obj.source.line, f"ApplicationSet {name}: {exc}; point gitbot at the source paths"))
            continue
        for element in params if isinstance(template, dict) else []:
            data = _fill(template, element)
            if not isinstance(data, dict):
                continue
            meta = dict(data.get("metadata") or {})
            meta["labels"] = {**(meta.get("labels") or {}), GENERATED_FROM: name}
            app = {"apiVersion": obj.data.get("apiVersion"), "kind": "Application", **data, "metadata": meta}
            out.append(RenderedObject(obj.target, app, obj.source, obj.patched_by))
    return out


def _params(generator: Any, repo: Repository, go: bool, read: set[str]) -> list[dict[str, Any]]:
    kind = next(iter(generator), "?") if isinstance(generator, dict) and generator else "?"
    body = generator.get(kind) if isinstance(generator, dict) else None
    if kind == "list":
        return [e for e in (body or {}).get("elements") or [] if isinstance(e, dict)]
    if kind == "git":
        return _git_params(body if isinstance(body, dict) else {}, repo, go, read)
    if kind == "matrix":
        children = (body or {}).get("generators") or []
        if len(children) != 2:
            raise _Unsupported("a matrix generator needs exactly two generators")
        left = _params(children[0], repo, go, read)
        return [{**a, **b} for a in left for b in _params(_fill(children[1], a) if not go else children[1], repo, go, read)]
    raise _Unsupported(f"the {kind} generator is not followed (only list, git and matrix of those)")


def _git_params(body: Mapping[str, Any], repo: Repository, go: bool, read: set[str]) -> list[dict[str, Any]]:
    if repo.is_this(body.get("repoURL")) is False:
        raise _Unsupported(f"its git generator reads another repository ({body.get('repoURL')})")
    out: list[dict[str, Any]] = []
    if body.get("directories"):
        include = [str(d["path"]) for d in body["directories"] if isinstance(d, dict) and d.get("path") and not d.get("exclude")]
        exclude = [str(d["path"]) for d in body["directories"] if isinstance(d, dict) and d.get("path") and d.get("exclude")]
        for directory in _directories(repo.root):
            if any_match(include, directory) and not any_match(exclude, directory):
                out.append(_path_params(directory, go))
        return out
    for entry in body.get("files") or []:
        if not isinstance(entry, dict) or not entry.get("path"):
            continue
        for rel in _files(repo.root, str(entry["path"])):
            read.add(rel)
            try:
                docs = parse_yaml((repo.root / rel).read_text(encoding="utf-8"), rel)
            except (OSError, UnicodeDecodeError, SourceError):
                continue
            for doc in docs:
                if isinstance(doc.data, dict):
                    out.append({**_flatten(doc.data, go), **_path_params(rel.rsplit("/", 1)[0] if "/" in rel else "", go, rel)})
    return out


def _path_params(directory: str, go: bool, file: str | None = None) -> dict[str, Any]:
    segments = directory.split("/") if directory else []
    basename = segments[-1] if segments else ""
    normalized = re.sub(r"[^a-zA-Z0-9-]", "-", basename).lower()
    if go:
        path: dict[str, Any] = {"path": directory, "basename": basename, "basenameNormalized": normalized, "segments": segments}
        if file is not None:
            path.update(filename=file.rsplit("/", 1)[-1], filenameNormalized=re.sub(r"[^a-zA-Z0-9-.]", "-", file.rsplit("/", 1)[-1]).lower())
        return {"path": path}
    flat: dict[str, Any] = {"path": directory, "path.basename": basename, "path.basenameNormalized": normalized}
    flat.update({f"path[{i}]": s for i, s in enumerate(segments)})
    if file is not None:
        flat["path.filename"] = file.rsplit("/", 1)[-1]
    return flat


def _flatten(data: Mapping[str, Any], go: bool, prefix: str = "") -> dict[str, Any]:
    if go:
        return dict(data)
    out: dict[str, Any] = {}
    for key, value in data.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            out.update(_flatten(value, go, f"{name}."))
        else:
            out[name] = value if not isinstance(value, (list,)) else json.dumps(value)
    return out


def _directories(root: Path) -> list[str]:
    found = []
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root).as_posix()
        if path.is_dir() and not any(part.startswith(".") for part in rel.split("/")):
            found.append(rel)
    return found


def _files(root: Path, pattern: str) -> list[str]:
    found = []
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root).as_posix()
        if path.is_file() and not any(part.startswith(".") for part in rel.split("/")) and any_match([pattern], rel):
            found.append(rel)
    return found


def _fill(value: Any, element: Mapping[str, Any]) -> Any:
    if isinstance(value, str):
        def lookup(match: re.Match[str]) -> str:
            key = match.group(1)
            found: Any = element.get(key)
            if found is None:
                found = element
                for part in key.split("."):
                    found = found.get(part) if isinstance(found, dict) else None
            return match.group(0) if found is None or isinstance(found, (dict, list)) else str(found)

        return _PLACEHOLDER.sub(lookup, value)
    if isinstance(value, dict):
        return {k: _fill(v, element) for k, v in value.items()}
    if isinstance(value, list):
        return [_fill(v, element) for v in value]
    return value


def inline_values(helm: Mapping[str, Any], where: str) -> dict[str, Any]:
    """What an Application's ``helm`` block sets besides its value files: ``valuesObject`` (or the
    ``values`` text), then ``parameters``."""
    values: dict[str, Any] = {}
    if isinstance(helm.get("valuesObject"), dict):
        values.update(helm["valuesObject"])
    elif isinstance(helm.get("values"), str):
        try:
            docs = parse_yaml(helm["values"], where)
        except SourceError:
            docs = ()
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
