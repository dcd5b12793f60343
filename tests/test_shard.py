"""--shard I/N: every scope in exactly one shard, and N sharded plans together make the whole plan."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from gitbot.cli import main
from gitbot.pipeline import PlanRequest, plan
from gitbot.publish.scope import Scope, Shard, parse_shard

ROOT = Path(__file__).resolve().parents[1]
REQUEST = dict(repo=ROOT / "fixtures" / "demo-repo", metrics_file=ROOT / "fixtures" / "demo-metrics.om.gz")


def test_each_scope_lands_in_exactly_one_shard_and_stays_there() -> None:
    scopes = [Scope(f"apps-{i}", f"apps/{i}") for i in range(200)]
    for count in (1, 2, 3, 7):
        owners = [[i for i in range(1, count + 1) if Shard(i, count).holds(s)] for s in scopes]
        assert all(len(o) == 1 for o in owners)
        sizes = [sum(o == [i] for o in owners) for i in range(1, count + 1)]
        assert min(sizes) > 200 / count * 0.6  # the hash spreads them
    # fixed values: the partition does not depend on the process or the machine
    assert [i for i in (1, 2, 3) if Shard(i, 3).holds(Scope("apps-cart", "apps/cart"))] == [3]
    assert [i for i in (1, 2, 3) if Shard(i, 3).holds(Scope("platform-pricing-engine-overlays-production", ""))] == [1]


@pytest.mark.parametrize("text", ["0/3", "4/3", "3", "a/b", "1/0", "-1/2", ""])
def test_bad_shards_are_refused(text: str) -> None:
    with pytest.raises(ValueError, match="expected I/N with 1 <= I <= N"):
        parse_shard(text)
    result = CliRunner().invoke(main, ["plan", str(REQUEST["repo"]), "--shard", text or "''"])
    assert result.exit_code == 2 and "expected I/N with 1 <= I <= N" in result.stderr


def test_the_shards_together_make_the_whole_plan() -> None:
    _, whole = plan(PlanRequest(**REQUEST))
    edits: dict[str, str] = {}
    containers = []
    for index in (1, 2, 3):
        _, part = plan(PlanRequest(**REQUEST, shard=Shard(index, 3)))
        assert part["shard"]["index"] == index and part["shard"]["count"] == 3 and part["shard"]["scope"] == "directory"
        assert part["shard"]["workloads_in_repository"] == 13
        for e in part["edits"]:
            assert e["file"] not in edits  # no file is edited by two shards
            edits[e["file"]] = e["diff"]
        containers += part["containers"]
    assert edits == {e["file"]: e["diff"] for e in whole["edits"]}
    assert sorted(json.dumps(c, sort_keys=True) for c in containers) == sorted(json.dumps(c, sort_keys=True) for c in whole["containers"])
    assert whole["shard"] is None
