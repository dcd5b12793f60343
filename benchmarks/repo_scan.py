"""Repository scan: ``gitbot.load.load_repo`` cold vs warm render cache, and how it scales.

Run by ``python -m benchmarks`` as a child process per repository size::

    .venv/bin/python -m benchmarks.repo_scan 500 [--seed S] [--profile PATH]

What it makes (deterministically, into a temporary directory): a synthetic GitOps repository with
``targets`` render targets, where a target is one Kustomize overlay root or one Helm release, as
gitbot counts them. Apps alternate between the two layouts, each giving two targets:

* Kustomize app ``apps/kapp-NNNN/``: ``base/`` with a Deployment (an ``app`` container, every third
  app also a ``proxy`` sidecar) and a Service, and ``overlays/staging`` / ``overlays/production``,
  each a kustomization.yaml with its own namespace, the base as resource and a strategic-merge patch
  file (``resources.yaml``) setting the containers' resources;
* Helm app ``charts/happ-NNNN/``: a local chart whose ``templates/deployment.yaml`` renders
  ``.Values.resources`` (and the sidecar's), ``values.yaml`` defaults and ``values-staging.yaml`` /
  ``values-production.yaml``; both releases are declared in ``.gitbot.yaml`` under ``helm.releases``.

Every value (replicas, requests, limits, which apps have a sidecar) comes from
``random.Random(f"{seed}:{index}")``, so a smaller repository's apps are the first ones of a larger.

What it measures, per size, all with ``config = load_config(repo, None)``:

* ``none``: ``load_repo(repo, config, cache=None)``, no render cache;
* ``cold``: ``load_repo(repo, config, cache=RenderCache(empty directory))``: every target rendered
  and stored;
* ``warm``: the same repository again with a new ``RenderCache`` over the directory the cold run
  filled: every target should come from the cache. Best of ``WARM_RUNS``.

Before timing, a four-target repository is loaded once, so imports (helm-python-sdk) and the first
``kubectl`` start are not charged to the first timed run, and ``gc.collect()`` runs before each
pass. The no-cache and cold passes run once (up to a minute each at 500 targets; their spread is
about 10 %, small next to the effects measured); the warm pass, seconds long, is the best of two. Checks: nothing generated
is skipped, the target count is what was generated, and cold, warm and no-cache runs give equal
``[(o.target.name, o.data) for o in result.objects]``. With ``--profile``, one more cold scan (into
another empty cache directory) runs under cProfile; its top functions go to PATH.

Prints one JSON object on stdout. If ``gitbot.load.cache`` is not importable yet (or ``load_repo``
takes no ``cache``), only the no-cache pass runs and the JSON says why (``cache_error``).
"""

from __future__ import annotations

import argparse
import gc
import inspect
import json
import random
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchmarks.profiling import profiled, top_gitbot, write_profile
from gitbot.config import load_config
from gitbot.load import LoadResult, load_repo

DEFAULT_SEED = 2013
ENVIRONMENTS = ("staging", "production")
SIDECAR_EVERY = 3  # every third app has a proxy sidecar
WARMUP_TARGETS = 4
WARM_RUNS = 2  # a warm scan takes seconds: best of two; the no-cache and cold scans (a minute at 500) run once


@dataclass(frozen=True)
class GeneratedRepo:
    path: Path
    targets: int
    kustomize_targets: int
    helm_targets: int
    files: int
    bytes: int


# -- the synthetic repository ---------------------------------------------------------------------


def generate(root: Path, targets: int, seed: int = DEFAULT_SEED) -> GeneratedRepo:
    """Write a repository of exactly ``targets`` targets (an even number) under ``root``."""
    if targets < 2 or targets % 2:
        raise ValueError(f"targets must be an even number >= 2 (two environments per app), got {targets}")
    root.mkdir(parents=True, exist_ok=True)
    files: dict[str, str] = {}
    releases: list[str] = []
    kustomize = helm = 0
    for index in range(targets // 2):
        rng = random.Random(f"{seed}:{index}")
        sidecar = index % SIDECAR_EVERY == SIDECAR_EVERY - 1
        if index % 2 == 0:
            files.update(_kustomize_app(f"kapp-{index:04d}", rng, sidecar))
            kustomize += 2
        else:
            name = f"happ-{index:04d}"
            files.update(_helm_app(name, rng, sidecar))
            releases += [_release_entry(name, env) for env in ENVIRONMENTS]
            helm += 2
    files[".gitbot.yaml"] = _config(releases)
    size = 0
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        size += len(text.encode())
    return GeneratedRepo(root, targets, kustomize, helm, len(files), size)


def _resources(rng: random.Random, scale: float) -> dict[str, dict[str, str]]:
    cpu = max(10, int(rng.choice((50, 100, 150, 250, 400, 500, 750, 1000)) * scale))
    memory = max(32, int(rng.choice((64, 128, 192, 256, 384, 512, 768, 1024)) * scale))
    out = {"requests": {"cpu": f"{cpu}m", "memory": f"{memory}Mi"}, "limits": {"memory": f"{memory * 2}Mi"}}
    if rng.random() < 0.4:
        out["limits"]["cpu"] = f"{cpu * 2}m"
    return out


def _resources_yaml(resources: dict[str, dict[str, str]], indent: int) -> str:
    pad = " " * indent
    lines = []
    for bound in ("requests", "limits"):
        lines.append(f"{pad}{bound}:")
        lines += [f"{pad}  {key}: {value}" for key, value in resources[bound].items()]
    return "\n".join(lines) + "\n"


def _kustomize_app(name: str, rng: random.Random, sidecar: bool) -> dict[str, str]:
    base = f"apps/{name}/base"
    containers = ["app", "proxy"] if sidecar else ["app"]
    deployment = (
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n"
        f"  name: {name}\n  labels:\n    app: {name}\n"
        f"spec:\n  replicas: 1\n  selector:\n    matchLabels:\n      app: {name}\n"
        f"  template:\n    metadata:\n      labels:\n        app: {name}\n    spec:\n      containers:\n"
    )
    for cname in containers:
        image = f"ghcr.io/example/{name}:1.{rng.randrange(40)}.0" if cname == "app" else "envoyproxy/envoy:v1.31.2"
        deployment += f"        - name: {cname}\n          image: {image}\n"
        if cname == "app":
            deployment += "          ports:\n            - containerPort: 8080\n"
        deployment += "          resources:\n" + _resources_yaml(_resources(rng, 1.0 if cname == "app" else 0.2), 12)
    service = (
        f"apiVersion: v1\nkind: Service\nmetadata:\n  name: {name}\nspec:\n  selector:\n    app: {name}\n"
        "  ports:\n    - port: 80\n      targetPort: 8080\n"
    )
    out = {
        f"{base}/kustomization.yaml": (
            "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources:\n"
            "  - deployment.yaml\n  - service.yaml\nlabels:\n  - pairs:\n"
            f"      app.kubernetes.io/part-of: {name}\n"
        ),
        f"{base}/deployment.yaml": deployment,
        f"{base}/service.yaml": service,
    }
    for env in ENVIRONMENTS:
        overlay = f"apps/{name}/overlays/{env}"
        scale = 1.0 if env == "production" else 0.5
        patch = (
            f"# {env}: resources for {name}\napiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: {name}\n"
            "spec:\n  template:\n    spec:\n      containers:\n"
        )
        for cname in containers:
            patch += f"        - name: {cname}\n          resources:\n"
            patch += _resources_yaml(_resources(rng, scale if cname == "app" else 0.2 * scale), 12)
        replicas = rng.choice((2, 3, 4)) if env == "production" else 1
        out[f"{overlay}/kustomization.yaml"] = (
            "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\n"
            f"namespace: {name}-{env}\nresources:\n  - ../../base\n"
            f"replicas:\n  - name: {name}\n    count: {replicas}\n"
            "patches:\n  - path: resources.yaml\n"
        )
        out[f"{overlay}/resources.yaml"] = patch
    return out


def _helm_app(name: str, rng: random.Random, sidecar: bool) -> dict[str, str]:
    chart = f"charts/{name}"
    template = (
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n"
        "  name: {{ .Release.Name }}\n  labels:\n"
        "    app.kubernetes.io/name: {{ .Chart.Name }}\n    app.kubernetes.io/instance: {{ .Release.Name }}\n"
        "spec:\n  replicas: {{ .Values.replicas }}\n  selector:\n    matchLabels:\n"
        "      app.kubernetes.io/instance: {{ .Release.Name }}\n"
        "  template:\n    metadata:\n      labels:\n        app.kubernetes.io/instance: {{ .Release.Name }}\n"
        "    spec:\n      containers:\n"
        "        - name: app\n"
        '          image: "{{ .Values.image.repository }}:{{ .Values.image.tag }}"\n'
        "          resources:\n            {{- toYaml .Values.resources | nindent 12 }}\n"
    )
    if sidecar:
        template += (
            "        {{- if .Values.proxy.enabled }}\n"
            "        - name: proxy\n          image: envoyproxy/envoy:v1.31.2\n"
            "          resources:\n            {{- toYaml .Values.proxy.resources | nindent 12 }}\n"
            "        {{- end }}\n"
        )

    def values(scale: float, replicas: int, header: str) -> str:
        text = f"{header}replicas: {replicas}\nresources:\n" + _resources_yaml(_resources(rng, scale), 2)
        if sidecar:
            text += "proxy:\n  enabled: true\n  resources:\n" + _resources_yaml(_resources(rng, 0.2 * scale), 4)
        return text

    defaults = (
        f"# Defaults shared by every environment.\nimage:\n  repository: ghcr.io/example/{name}\n"
        f"  tag: \"1.{rng.randrange(40)}.0\"\n" + values(1.0, 1, "")
    )
    return {
        f"{chart}/Chart.yaml": f"apiVersion: v2\nname: {name}\ndescription: Synthetic benchmark chart\ntype: application\n"
                               f"version: 0.1.0\nappVersion: \"1.0.0\"\n",
        f"{chart}/values.yaml": defaults,
        f"{chart}/values-staging.yaml": values(0.5, 1, "# staging\n"),
        f"{chart}/values-production.yaml": values(1.0, rng.choice((2, 3, 4)), "# production\n"),
        f"{chart}/templates/deployment.yaml": template,
    }


def _release_entry(name: str, env: str) -> str:
    return (
        f"    - chart: charts/{name}\n      name: {name}\n      namespace: {name}-{env}\n"
        f"      values: [charts/{name}/values-{env}.yaml]\n      environment: {env}\n"
    )


def _config(releases: list[str]) -> str:
    return (
        "# gitbot settings for the synthetic benchmark repository\n"
        "environments:\n"
        "  - name: production\n    tier: production\n    namespaces: [\"*-production\"]\n"
        "  - name: staging\n    tier: non-production\n    namespaces: [\"*-staging\"]\n"
        "default_environment: production\n"
        "helm:\n  releases:\n" + "".join(releases)
    )


# -- the timed passes -----------------------------------------------------------------------------


def cache_factory() -> tuple[Callable[[Path], Any] | None, str]:
    """``RenderCache`` and "" when the cache API is there; else None and the reason."""
    try:
        from gitbot.load.cache import RenderCache
    except ImportError as exc:
        return None, f"gitbot.load.cache is not importable ({exc})"
    if "cache" not in inspect.signature(load_repo).parameters:
        return None, "gitbot.load.load_repo takes no cache argument"
    return RenderCache, ""


def _load(repo: Path, cache: Any, with_cache_arg: bool) -> tuple[float, LoadResult]:
    config = load_config(repo, None)
    gc.collect()  # the previous pass's garbage is not this one's to collect
    started = time.perf_counter()
    result = load_repo(repo, config, cache=cache) if with_cache_arg else load_repo(repo, config)
    return time.perf_counter() - started, result


def _objects(result: LoadResult) -> list[tuple[str, Any]]:
    return [(o.target.name, o.data) for o in result.objects]


def _dir_bytes(path: Path) -> tuple[int, int]:
    files = [p for p in path.rglob("*") if p.is_file()]
    return len(files), sum(p.stat().st_size for p in files)


def _counters(cache: Any) -> dict[str, int | None]:
    return {"hits": getattr(cache, "hits", None), "misses": getattr(cache, "misses", None)}


def run(targets: int, seed: int, profile_path: Path | None) -> dict[str, Any]:
    started = time.perf_counter()
    make_cache, cache_error = cache_factory()
    out: dict[str, Any] = {"targets": targets, "seed": seed, "cache_error": cache_error or None}
    with tempfile.TemporaryDirectory(prefix="gitbot-bench-repo-") as tmp:
        tmp_path = Path(tmp)
        warmup = generate(tmp_path / "warmup", WARMUP_TARGETS, seed)
        _load(warmup.path, None, make_cache is not None)

        began = time.perf_counter()
        repo = generate(tmp_path / "repo", targets, seed)
        out["generate_s"] = time.perf_counter() - began
        out.update(kustomize_targets=repo.kustomize_targets, helm_targets=repo.helm_targets,
                   repo_files=repo.files, repo_bytes=repo.bytes)

        none_s, plain = _load(repo.path, None, make_cache is not None)
        out["none_s"] = none_s
        out["rendered_targets"] = len(plain.targets)
        out["objects"] = len(plain.objects)
        out["skipped"] = [f"{s.path}: {s.reason}" for s in plain.skipped][:10]
        out["skipped_count"] = len(plain.skipped)
        reference = _objects(plain)
        if make_cache is not None:
            cache_dir = tmp_path / "cache"
            cache_dir.mkdir()
            cold_cache = make_cache(cache_dir)
            out["cold_s"], cold = _load(repo.path, cold_cache, True)
            out["cold_counters"] = _counters(cold_cache)
            out["cache_files"], out["cache_bytes"] = _dir_bytes(cache_dir)
            warm_runs = []
            for _ in range(WARM_RUNS):
                warm_cache = make_cache(cache_dir)
                seconds, warm = _load(repo.path, warm_cache, True)
                warm_runs.append(seconds)
            out["warm_s"], out["warm_runs_s"] = min(warm_runs), warm_runs
            out["warm_counters"] = _counters(warm_cache)
            cold_objects, warm_objects = _objects(cold), _objects(warm)
            out["cold_equals_none"] = cold_objects == reference
            out["warm_equals_cold"] = warm_objects == cold_objects
            out["skipped_count"] += len(cold.skipped) + len(warm.skipped)
            out["rendered_targets_cold_warm"] = [len(cold.targets), len(warm.targets)]
            if profile_path is not None:
                profile_dir = tmp_path / "cache-profiled"
                profile_dir.mkdir()
                out["profile_top"], out["profile_s"] = profile_scan(
                    repo.path, make_cache(profile_dir), profile_path,
                    f"cProfile of a cold load_repo (empty RenderCache) over the synthetic repository with {targets} targets "
                    f"({repo.kustomize_targets} Kustomize overlays, {repo.helm_targets} Helm releases; seed {seed})")
                out["profile_path"] = str(profile_path)
        elif profile_path is not None:
            out["profile_top"], out["profile_s"] = profile_scan(
                repo.path, None, profile_path,
                f"cProfile of load_repo without a render cache ({cache_error}) over the synthetic repository with "
                f"{targets} targets (seed {seed})")
            out["profile_path"] = str(profile_path)
    out["wall_s"] = time.perf_counter() - started
    return out


def profile_scan(repo: Path, cache: Any, path: Path, title: str) -> tuple[list[str], float]:
    """cProfile one ``load_repo`` into ``path``; the top gitbot functions and the profiled wall time."""
    config = load_config(repo, None)
    _, profiler, seconds = profiled(lambda: load_repo(repo, config, cache=cache) if cache is not None else load_repo(repo, config))
    write_profile(profiler, path, f"{title}\nProfiled wall {seconds:.1f}s (cProfile slows the Python parts, not the kubectl children). "
                                  "Only the main thread is profiled: load_repo runs the kubectl kustomize renders in a thread pool,\n"
                                  "so they show as the wait in Future.result under load_kustomize.")
    return top_gitbot(profiler, skip=("load_repo",)), seconds


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.repo_scan", description=__doc__.splitlines()[0])
    parser.add_argument("targets", type=int, help="render targets (Kustomize overlays + Helm releases), even")
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED)
    parser.add_argument("--profile", type=Path, help="also cProfile one cold scan and write its top functions here")
    args = parser.parse_args(argv)
    if args.targets < 2 or args.targets % 2:
        parser.error("targets must be an even number >= 2")
    if shutil.which("kubectl") is None and shutil.which("kustomize") is None:
        print(json.dumps({"targets": args.targets, "error": "neither kubectl nor kustomize is on PATH"}))
        return 0
    json.dump(run(args.targets, args.seed, args.profile), sys.stdout)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
