"""``.gitbot.yaml``: environments, targets, exemptions and settings, validated with key paths.

Example::

    environments:                 # first match wins; a path glob or a namespace glob matches
      - name: production
        tier: production          # production | non-production
        paths: ["clusters/prod/**", "**/overlays/production"]
        namespaces: ["shop", "*-prod"]
      - name: staging
        tier: non-production
        namespaces: ["*-staging"]
    default_environment: production
    exclude: ["release/**"]
    namespaces:                   # namespace for objects that set none
      - paths: ["apps/**"]
        namespace: shop
    helm:
      releases:
        - chart: charts/search
          name: search
          namespace: search-prod
          values: [charts/search/values-production.yaml]
      charts:                     # remote charts of Flux HelmReleases, vendored here: name -> directory
        podinfo: vendor/charts/podinfo
      rendered:                   # or their `helm template` output: HelmRelease namespace/name -> directory
        monitoring/grafana: rendered/grafana
      mirrors:                    # pull charts through a mirror: URL prefix -> replacement
        oci://ghcr.io: oci://harbor.example.com/ghcr
        https://charts.bitnami.com/bitnami: https://artifactory.example.com/helm-bitnami
    repository_urls:              # this repository's URLs besides its git remotes (Argo CD repoURL)
      - https://github.com/acme/gitops.git
    exemptions:
      - workload: "shop/Deployment/legacy-*"
        container: "*"
        reason: "frozen until the Q3 migration"
    settings:
      cpu_request_percentile: 95
    history: 14d
    step: 5m
    catalog: aws
    placement: comment            # comment (default) | edit: write the node-affinity suggestions into the pod specs
    # or, with how strongly the snippets ask for the node family:
    # placement:
    #   mode: edit                # comment (default) | edit
    #   affinity: required        # preferred (default): pods run elsewhere when the family cannot be had;
    #                             # required: pods stay Pending where the node pools cannot provision it
    limits:
      max_file_size: 10Mi         # larger repository files are skipped (with a reason), never read
    pull_requests:                # gitbot pr
      scope: directory            # repository | directory | environment: one pull request per ...
      base: main
      labels: [resources]
      reviewers: [alice]
      team_reviewers: [platform]
      assignees: []
      author: {name: "gitbot[bot]", email: "gitbot[bot]@users.noreply.github.com"}
      reopen_threshold_pct: 10    # a declined proposal returns only when a value moves more than this
      min_monthly_delta_usd: 1.00 # smaller proposals are not opened, unless they fix OOM kills or add requests
      max_open: 5                 # gitbot pull requests open at once (0: no cap); the rest wait, most urgent first
      labels_by_intent:           # extra labels by what a proposal does: fixes-oom, adds-requests, raises, saves
        fixes-oom: [risk/oom]
      dashboard: true             # one issue listing every scope, with boxes to refresh or skip one
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any, Mapping, NoReturn

from gitbot.errors import InputError, SourceError, type_name
from gitbot.globs import any_match, normalise, path_matches, within
from gitbot.quantity import QuantityError, parse_memory_bytes
from gitbot.yamldoc import DEFAULT_MAX_FILE_BYTES, parse_yaml, read_text

CONFIG_FILE = ".gitbot.yaml"
TIERS = ("production", "non-production")
_DURATION = re.compile(r"^(\d+)([smhdw])$")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


@dataclass(frozen=True)
class Environment:
    name: str
    tier: str
    paths: tuple[str, ...] = ()
    namespaces: tuple[str, ...] = ()

    def matches(self, target_path: str, namespace: str) -> bool:
        return path_matches(self.paths, target_path) or any_match(self.namespaces, namespace)


@dataclass(frozen=True)
class Exemption:
    workload: str  # glob on "namespace/Kind/name"
    container: str  # glob on the container name
    reason: str

    def matches(self, workload_id: str, container: str) -> bool:
        return any_match((self.workload,), workload_id) and any_match((self.container,), container)


@dataclass(frozen=True)
class HelmRelease:
    chart: str  # repo-relative chart directory
    name: str
    namespace: str | None
    values: tuple[str, ...]  # repo-relative values files, applied in order
    environment: str | None = None


@dataclass(frozen=True)
class PullRequestConfig:
    scope: str = "directory"  # repository | directory | environment: one pull request per ...
    base: str | None = None  # target branch; None: the CLI's --base, else the repository's default
    labels: tuple[str, ...] = ()
    reviewers: tuple[str, ...] = ()
    team_reviewers: tuple[str, ...] = ()
    assignees: tuple[str, ...] = ()
    author_name: str = "gitbot[bot]"
    author_email: str = "gitbot[bot]@users.noreply.github.com"
    reopen_threshold_pct: int = 10  # a declined proposal comes back only when a value moves more than this
    # a proposal worth less than this a month is not opened (cents are not worth a reviewer's time),
    # unless it fixes OOM kills or adds missing requests: risk fixes are never held back for being cheap
    min_monthly_delta_usd: Decimal = Decimal("1.00")
    max_open: int = 5  # gitbot pull requests open at once, so reviewers are not flooded; 0: no cap
    labels_by_intent: Mapping[str, tuple[str, ...]] = field(default_factory=dict)  # intent id -> extra labels
    dashboard: bool = True  # keep one issue per repository listing every scope, with refresh/skip boxes


@dataclass(frozen=True)
class NamespaceDefault:
    paths: tuple[str, ...]
    namespace: str


@dataclass(frozen=True)
class Config:
    source: str | None = None  # the file it was read from
    environments: tuple[Environment, ...] = ()
    default_environment: Environment = Environment("default", "production")
    exclude: tuple[str, ...] = ()
    namespace_defaults: tuple[NamespaceDefault, ...] = ()
    kustomize_targets: tuple[str, ...] | None = None
    helm_releases: tuple[HelmRelease, ...] = ()
    helm_charts: Mapping[str, str] = field(default_factory=dict)  # chart name -> vendored chart directory
    helm_rendered: Mapping[str, str] = field(default_factory=dict)  # HelmRelease "namespace/name" -> `helm template` output dir
    helm_mirrors: Mapping[str, str] = field(default_factory=dict)  # chart repository URL prefix -> mirror URL prefix
    repository_urls: tuple[str, ...] = ()  # URLs this repository is known by, besides its git remotes
    exemptions: tuple[Exemption, ...] = ()
    settings: Mapping[str, Any] = field(default_factory=dict)
    history_seconds: int = 14 * 86400
    step_seconds: int = 300
    catalog: str | None = None
    rules_dirs: tuple[str, ...] = ()
    disabled_rules: tuple[str, ...] = ()
    pull_requests: PullRequestConfig = PullRequestConfig()
    placement: str = "comment"  # "edit": placement suggestions are written into the pod specs
    placement_affinity: str = "preferred"  # placement.affinity: "required" makes the node family a hard constraint
    max_file_bytes: int = DEFAULT_MAX_FILE_BYTES  # limits.max_file_size: larger repository files are skipped

    def environment_for(self, target_path: str, namespace: str, name: str | None = None) -> Environment:
        if name is not None:
            found = next((e for e in self.environments if e.name == name), None)
            if found is not None:
                return found
        for env in self.environments:
            if env.matches(target_path, namespace):
                return env
        return self.default_environment

    def exemption_for(self, workload_id: str, container: str) -> Exemption | None:
        return next((e for e in self.exemptions if e.matches(workload_id, container)), None)

    def default_namespace(self, file_path: str) -> str | None:
        for rule in self.namespace_defaults:
            if path_matches(rule.paths, file_path):
                return rule.namespace
        return None


def load_config(repo: Path, explicit: Path | None) -> Config:
    """Read ``explicit`` or ``repo/.gitbot.yaml``; a missing default file means an empty config."""
    path = explicit if explicit is not None else repo / CONFIG_FILE
    if not path.is_file():
        if explicit is not None:
            raise InputError(f"config {explicit}: no such file")
        return Config()
    name = str(explicit) if explicit is not None else CONFIG_FILE
    if explicit is None and not within(repo, path):
        raise InputError(f"config {name}: symlink points outside the repository; not read")
    try:
        docs = parse_yaml(read_text(path, name), name)
    except SourceError as exc:
        raise InputError(f"config {exc}") from None
    if len(docs) > 1:
        raise InputError(f"config {name}: expected one YAML document, found {len(docs)}")
    data = docs[0].data if docs else None
    return parse_config(data if data is not None else {}, name)


def parse_config(data: Any, name: str) -> Config:
    r = _Reader(name)
    top = r.mapping(data, "", {
        "environments", "default_environment", "exclude", "namespaces", "kustomize", "helm",
        "exemptions", "settings", "history", "step", "catalog", "rules", "version", "pull_requests", "placement",
        "limits", "repository_urls",
    })
    envs = tuple(_environment(r, e, f"environments[{i}]") for i, e in enumerate(r.seq(top.get("environments"), "environments")))
    names = [e.name for e in envs]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        r.fail("environments", f"duplicate environment name {dupes[0]!r}")
    default_env = Config.default_environment
    if "default_environment" in top:
        default_name = r.string(top["default_environment"], "default_environment")
        default_env = next((e for e in envs if e.name == default_name), None) or Environment(
            default_name, _default_tier(default_name)
        )
    ns_defaults = tuple(
        _namespace_default(r, item, f"namespaces[{i}]") for i, item in enumerate(r.seq(top.get("namespaces"), "namespaces"))
    )
    kustomize = r.mapping(top.get("kustomize", {}), "kustomize", {"targets"})
    targets = tuple(r.strings(kustomize["targets"], "kustomize.targets")) if "targets" in kustomize else None
    helm = r.mapping(top.get("helm", {}), "helm", {"releases", "charts", "rendered", "mirrors"})
    mirrors = {
        _chart_url(r, name, "helm.mirrors"): _chart_url(r, url, f"helm.mirrors.{name}")
        for name, url in r.mapping(helm.get("mirrors", {}), "helm.mirrors", None).items()
    }
    rendered = {
        r.string(name, "helm.rendered"): r.string(path, f"helm.rendered.{name}").strip("/").removeprefix("./")
        for name, path in r.mapping(helm.get("rendered", {}), "helm.rendered", None).items()
    }
    charts = {
        r.string(name, "helm.charts"): r.string(path, f"helm.charts.{name}").strip("/").removeprefix("./")
        for name, path in r.mapping(helm.get("charts", {}), "helm.charts", None).items()
    }
    releases = tuple(
        _helm_release(r, item, f"helm.releases[{i}]", set(names))
        for i, item in enumerate(r.seq(helm.get("releases"), "helm.releases"))
    )
    exemptions = tuple(
        _exemption(r, item, f"exemptions[{i}]") for i, item in enumerate(r.seq(top.get("exemptions"), "exemptions"))
    )
    rules = r.mapping(top.get("rules", {}), "rules", {"paths", "disable"})
    return Config(
        source=name,
        environments=envs,
        default_environment=default_env,
        exclude=tuple(r.strings(top.get("exclude", []), "exclude")),
        namespace_defaults=ns_defaults,
        kustomize_targets=targets,
        helm_releases=releases,
        helm_charts=charts,
        helm_rendered=rendered,
        helm_mirrors=mirrors,
        repository_urls=tuple(r.strings(top.get("repository_urls", []), "repository_urls")),
        exemptions=exemptions,
        settings=dict(r.mapping(top.get("settings", {}), "settings", None)),
        history_seconds=r.duration(top.get("history", "14d"), "history"),
        step_seconds=r.duration(top.get("step", "5m"), "step"),
        catalog=r.string(top["catalog"], "catalog") if "catalog" in top else None,
        rules_dirs=tuple(r.strings(rules.get("paths", []), "rules.paths")),
        disabled_rules=tuple(r.strings(rules.get("disable", []), "rules.disable")),
        pull_requests=_pull_requests(r, top.get("pull_requests", {})),
        placement=_placement(r, top.get("placement", "comment")),
        placement_affinity=_placement_affinity(r, top.get("placement", "comment")),
        max_file_bytes=_max_file_bytes(r, r.mapping(top.get("limits", {}), "limits", {"max_file_size"})),
    )


def _chart_url(r: _Reader, data: Any, key: str) -> str:
    text = r.string(data, key)
    if not text.startswith(("http://", "https://", "oci://")):
        r.fail(key, f"{text!r} is not an http(s):// or oci:// URL")
    return text.rstrip("/")


def _max_file_bytes(r: _Reader, limits: dict[str, Any]) -> int:
    if "max_file_size" not in limits:
        return DEFAULT_MAX_FILE_BYTES
    raw = limits["max_file_size"]
    try:
        value = parse_memory_bytes(raw)
    except QuantityError as exc:
        r.fail("limits.max_file_size", f"{exc} (a size such as 10Mi)")
    if value < 1024:
        r.fail("limits.max_file_size", f"{raw!r} is below 1Ki")
    return value


def _placement(r: _Reader, data: Any) -> str:
    """``placement: comment|edit``, or ``placement: {mode: comment|edit, affinity: ...}``."""
    key = "placement"
    if isinstance(data, dict):
        data, key = r.mapping(data, key, {"mode", "affinity"}).get("mode", "comment"), "placement.mode"
    elif not isinstance(data, str):
        r.fail(key, f"expected comment, edit or a mapping with mode and affinity, got {type_name(data)}")
    mode = r.string(data, key)
    if mode not in ("comment", "edit"):
        r.fail(key, f"must be comment or edit, not {mode!r}")
    return mode


def _placement_affinity(r: _Reader, data: Any) -> str:
    """``placement.affinity``: preferred (the default: a saving where the node pools allow it, never a
    Pending pod) or required."""
    if not isinstance(data, dict) or "affinity" not in data:
        return "preferred"
    affinity = r.string(data["affinity"], "placement.affinity")
    if affinity not in ("preferred", "required"):
        r.fail("placement.affinity", f"must be preferred or required, not {affinity!r}")
    return affinity


def _pull_requests(r: _Reader, data: Any) -> PullRequestConfig:
    key = "pull_requests"
    m = r.mapping(data, key, {"scope", "base", "labels", "reviewers", "team_reviewers", "assignees", "author", "reopen_threshold_pct",
                              "min_monthly_delta_usd", "max_open", "labels_by_intent", "dashboard"})
    scope = r.string(m.get("scope", "directory"), f"{key}.scope")
    if scope not in ("repository", "directory", "environment"):
        r.fail(f"{key}.scope", f"must be one of repository, directory, environment, not {scope!r}")
    author = r.mapping(m.get("author", {}), f"{key}.author", {"name", "email"})
    threshold = m.get("reopen_threshold_pct", 10)
    if not isinstance(threshold, int) or isinstance(threshold, bool) or not 0 <= threshold <= 1000:
        r.fail(f"{key}.reopen_threshold_pct", "expected a whole number of percent, 0 to 1000")
    default = PullRequestConfig()
    return PullRequestConfig(
        scope=scope,
        base=r.string(m["base"], f"{key}.base") if "base" in m else None,
        labels=tuple(r.strings(m.get("labels", []), f"{key}.labels")),
        reviewers=tuple(r.strings(m.get("reviewers", []), f"{key}.reviewers")),
        team_reviewers=tuple(r.strings(m.get("team_reviewers", []), f"{key}.team_reviewers")),
        assignees=tuple(r.strings(m.get("assignees", []), f"{key}.assignees")),
        author_name=r.string(author.get("name", default.author_name), f"{key}.author.name"),
        author_email=r.string(author.get("email", default.author_email), f"{key}.author.email"),
        reopen_threshold_pct=threshold,
        min_monthly_delta_usd=_usd_amount(r, m.get("min_monthly_delta_usd", "1.00"), f"{key}.min_monthly_delta_usd"),
        max_open=_count(r, m.get("max_open", default.max_open), f"{key}.max_open"),
        labels_by_intent=_labels_by_intent(r, m.get("labels_by_intent", {}), f"{key}.labels_by_intent"),
        dashboard=_flag(r, m.get("dashboard", default.dashboard), f"{key}.dashboard"),
    )


def _usd_amount(r: _Reader, data: Any, key: str) -> Decimal:
    """A non-negative dollar amount; a number or a string (YAML reads ``1.00`` as a float, so go
    through its text to keep the cents exact)."""
    if isinstance(data, bool) or not isinstance(data, (int, float, str)):
        r.fail(key, f"expected an amount of dollars such as 1.00, got {type_name(data)}")
    try:
        amount = Decimal(str(data).strip().removeprefix("$"))
    except InvalidOperation:
        r.fail(key, f"expected an amount of dollars such as 1.00, not {data!r}")
    if not amount.is_finite() or amount < 0:
        r.fail(key, f"expected an amount of dollars of 0 or more, not {data!r}")
    return amount


def _count(r: _Reader, data: Any, key: str) -> int:
    if not isinstance(data, int) or isinstance(data, bool) or data < 0:
        r.fail(key, "expected a whole number, 0 or more (0: no cap)")
    return data


def _flag(r: _Reader, data: Any, key: str) -> bool:
    if not isinstance(data, bool):
        r.fail(key, f"expected true or false, got {type_name(data)}")
    return data


def _labels_by_intent(r: _Reader, data: Any, key: str) -> dict[str, tuple[str, ...]]:
    """intent id -> labels; the ids are the proposal's (imported here, when the config is read, so
    this module stays free of the publishing code at import time)."""
    from gitbot.publish.proposal import INTENTS

    out = {}
    for intent, labels in r.mapping(data, key, None).items():
        if intent not in INTENTS:
            r.fail(f"{key}.{intent}", f"unknown intent (one of: {', '.join(INTENTS)})")
        out[intent] = tuple(r.strings(labels, f"{key}.{intent}"))
    return out


def parse_duration(text: str) -> int:
    """``"14d"`` -> seconds. Raises ValueError with a readable message."""
    match = _DURATION.match(text.strip())
    if not match or int(match.group(1)) == 0:
        raise ValueError(f"{text!r} is not a duration like 90s, 5m, 6h, 14d or 2w")
    return int(match.group(1)) * _UNIT_SECONDS[match.group(2)]


def _default_tier(name: str) -> str:
    return "production" if name.lower().startswith("prod") else "non-production"


def _environment(r: _Reader, data: Any, key: str) -> Environment:
    m = r.mapping(data, key, {"name", "tier", "paths", "namespaces"})
    name = r.string(r.required(m, "name", key), f"{key}.name")
    tier = r.string(m["tier"], f"{key}.tier") if "tier" in m else _default_tier(name)
    if tier not in TIERS:
        r.fail(f"{key}.tier", f"must be one of {', '.join(TIERS)}, not {tier!r}")
    return Environment(
        name=name,
        tier=tier,
        paths=tuple(r.strings(m.get("paths", []), f"{key}.paths")),
        namespaces=tuple(r.strings(m.get("namespaces", []), f"{key}.namespaces")),
    )


def _namespace_default(r: _Reader, data: Any, key: str) -> NamespaceDefault:
    m = r.mapping(data, key, {"paths", "namespace"})
    return NamespaceDefault(
        paths=tuple(r.strings(r.required(m, "paths", key), f"{key}.paths")),
        namespace=r.string(r.required(m, "namespace", key), f"{key}.namespace"),
    )


def _helm_release(r: _Reader, data: Any, key: str, env_names: set[str]) -> HelmRelease:
    m = r.mapping(data, key, {"chart", "name", "namespace", "values", "environment"})
    env = r.string(m["environment"], f"{key}.environment") if "environment" in m else None
    if env is not None and env not in env_names:
        r.fail(f"{key}.environment", f"unknown environment {env!r}")
    return HelmRelease(
        chart=r.repo_path(r.required(m, "chart", key), f"{key}.chart"),
        name=r.string(r.required(m, "name", key), f"{key}.name"),
        namespace=r.string(m["namespace"], f"{key}.namespace") if "namespace" in m else None,
        values=tuple(r.repo_path(v, f"{key}.values[{i}]") for i, v in enumerate(r.strings(m.get("values", []), f"{key}.values"))),
        environment=env,
    )


def _exemption(r: _Reader, data: Any, key: str) -> Exemption:
    m = r.mapping(data, key, {"workload", "container", "reason"})
    reason = r.string(r.required(m, "reason", key), f"{key}.reason").strip()
    if not reason:
        r.fail(f"{key}.reason", "must say why the workload is exempt")
    return Exemption(
        workload=r.string(r.required(m, "workload", key), f"{key}.workload"),
        container=r.string(m.get("container", "*"), f"{key}.container"),
        reason=reason,
    )


class _Reader:
    """Typed access to parsed YAML that fails with the key path: ``.gitbot.yaml: exemptions[0].reason: ...``."""

    def __init__(self, name: str) -> None:
        self.name = name

    def fail(self, key: str, message: str) -> NoReturn:
        where = f"{self.name}: {key}" if key else self.name
        raise InputError(f"config {where}: {message}")

    def mapping(self, data: Any, key: str, allowed: set[str] | None) -> dict[str, Any]:
        if not isinstance(data, dict):
            self.fail(key, f"expected a mapping, got {type_name(data)}")
        if allowed is not None:
            unknown = sorted(str(k) for k in data if k not in allowed)
            if unknown:
                self.fail(f"{key}.{unknown[0]}" if key else unknown[0], f"unknown key (allowed: {', '.join(sorted(allowed))})")
        return data

    def seq(self, data: Any, key: str) -> list[Any]:
        if data is None:
            return []
        if not isinstance(data, list):
            self.fail(key, f"expected a list, got {type_name(data)}")
        return data

    def required(self, m: dict[str, Any], name: str, key: str) -> Any:
        if name not in m:
            self.fail(f"{key}.{name}", "is required")
        return m[name]

    def string(self, data: Any, key: str) -> str:
        if not isinstance(data, str) or not data:
            self.fail(key, f"expected a non-empty string, got {type_name(data)}")
        return data

    def strings(self, data: Any, key: str) -> list[str]:
        if isinstance(data, str):
            return [data]
        return [self.string(item, f"{key}[{i}]") for i, item in enumerate(self.seq(data, key))]

    def repo_path(self, data: Any, key: str) -> str:
        """A path inside the repository, normalised (``./a/../b/`` -> ``b``)."""
        text = self.string(data, key)
        path = None if text.startswith("/") else normalise("", text)
        if path is None:
            self.fail(key, f"{text!r} is outside the repository")
        return path

    def duration(self, data: Any, key: str) -> int:
        try:
            return parse_duration(self.string(data, key))
        except ValueError as exc:
            self.fail(key, str(exc))


