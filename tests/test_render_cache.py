"""The render cache: a warm run reads every unchanged target from it and gives the same objects; a
change to anything a render reads is a miss for that target only; bad entries are misses."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from gitbot.cli import main
from gitbot.config import load_config
from gitbot.load import LoadResult, load_repo
from gitbot.load.cache import RenderCache

DEMO = Path(__file__).resolve().parents[1] / "fixtures" / "demo-repo"
# 3 Kustomize overlay roots and 2 Helm releases; each Helm release is rendered twice (its objects,
# and once more with sentinel values to map the values keys)
RENDERS = 3 + 2 * 2


def objects(result: LoadResult) -> list[tuple[str, object, object, tuple[str, ...]]]:
    return [(o.target.name, o.data, o.source, o.patched_by) for o in result.objects]


@pytest.fixture()
def repo(tmp_path: Path) -> Path:
    copy = tmp_path / "repo"
    shutil.copytree(DEMO, copy)
    return copy


def load(repo: Path, cache_dir: Path) -> tuple[LoadResult, RenderCache]:
    cache = RenderCache(cache_dir)
    return load_repo(repo, load_config(repo, None), cache), cache


def test_a_warm_run_reads_every_render_from_the_cache_and_gets_the_same_objects(repo: Path, tmp_path: Path) -> None:
    plain = load_repo(repo, load_config(repo, None))
    cold, cache = load(repo, tmp_path / "cache")
    assert (cache.hits, cache.misses) == (0, RENDERS)
    warm, cache = load(repo, tmp_path / "cache")
    assert (cache.hits, cache.misses) == (RENDERS, 0)
    assert objects(warm) == objects(cold) == objects(plain)
    assert [t.name for t in warm.targets] == [t.name for t in plain.targets]
    entries = sorted((tmp_path / "cache").glob("*/*.json"))
    assert len(entries) == RENDERS
    assert json.loads(entries[0].read_text())["format"] == "gitbot-render-cache-1"


def test_a_change_is_a_miss_for_the_targets_that_read_it_only(repo: Path, tmp_path: Path) -> None:
    load(repo, tmp_path / "cache")
    base = repo / "platform" / "checkout" / "base" / "deployment.yaml"  # read by both checkout overlays
    base.write_text(base.read_text().replace("image: ", "image:  ", 1))
    _, cache = load(repo, tmp_path / "cache")
    assert (cache.hits, cache.misses) == (RENDERS - 2, 2)
    # a file inside the chart directory may be read by its templates (.Files.Get): every release of
    # the chart renders again (2 releases x render and key mapping), the Kustomize roots do not
    values = repo / "charts" / "search" / "values-staging.yaml"
    values.write_text(values.read_text() + "# touched\n")
    _, cache = load(repo, tmp_path / "cache")
    assert (cache.hits, cache.misses) == (RENDERS - 4, 4)
    kustomization = repo / "platform" / "pricing-engine" / "overlays" / "production" / "kustomization.yaml"
    kustomization.write_text(kustomization.read_text() + "# touched\n")
    _, cache = load(repo, tmp_path / "cache")
    assert (cache.hits, cache.misses) == (RENDERS - 1, 1)


def test_corrupt_or_foreign_entries_are_misses_and_are_replaced(repo: Path, tmp_path: Path) -> None:
    cold, _ = load(repo, tmp_path / "cache")
    entries = sorted((tmp_path / "cache").glob("*/*.json"))
    entries[0].write_text("{not json")
    entries[1].write_text(json.dumps({"format": "something-else", "value": []}))
    again, cache = load(repo, tmp_path / "cache")
    assert (cache.hits, cache.misses) == (RENDERS - 2, 2)
    assert objects(again) == objects(cold)
    _, cache = load(repo, tmp_path / "cache")
    assert (cache.hits, cache.misses) == (RENDERS, 0)


def test_an_unwritable_cache_only_costs_the_renders(repo: Path, tmp_path: Path) -> None:
    blocked = tmp_path / "blocked"
    blocked.write_text("a file where the cache directory should be")
    result, cache = load(repo, blocked)
    assert (cache.hits, cache.misses) == (0, RENDERS)
    assert objects(result) == objects(load_repo(repo, load_config(repo, None)))


def test_the_cli_uses_the_cache_directory_it_is_given_and_none_with_off(repo: Path, tmp_path: Path) -> None:
    runner = CliRunner()
    args = ["inventory", str(repo), "--format", "json"]
    first = runner.invoke(main, [*args, "--render-cache", str(tmp_path / "c")], catch_exceptions=False)
    assert first.exit_code == 0 and len(list((tmp_path / "c").glob("*/*.json"))) == RENDERS
    off = runner.invoke(main, args, env={"GITBOT_RENDER_CACHE": "off", "XDG_CACHE_HOME": str(tmp_path / "xdg")}, catch_exceptions=False)
    assert off.exit_code == 0 and not (tmp_path / "xdg").exists()
    default = runner.invoke(main, args, env={"XDG_CACHE_HOME": str(tmp_path / "xdg"), "GITBOT_RENDER_CACHE": None}, catch_exceptions=False)
    assert default.exit_code == 0 and len(list((tmp_path / "xdg" / "gitbot" / "renders").glob("*/*.json"))) == RENDERS
    assert json.loads(first.stdout) == json.loads(off.stdout) == json.loads(default.stdout)
