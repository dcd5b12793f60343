"""The bad-input corpus (``bad_inputs.CASES``), each case run through ``gitbot plan --write``.

What every case must show:
- the exit code the case expects (0 when the run can go on, 6 when it goes on without a render
  target the bad input breaks, 2 for a bad config or catalog), and never a traceback or an internal
  error;
- one diagnostic line (stderr, a plan warning, or a container's reasons in the plan) that names the
  file or object and says what is wrong;
- when the run goes on: the healthy workload ``shop/good`` is edited, and none of the case's own files
  nor anything outside the repository is written; when it stops: nothing at all is written, not even
  the ``--output`` file;
- nothing outside the repository is ever read (its Deployment ``leak`` never shows up).
"""

from __future__ import annotations

import json
import os
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from bad_inputs import CASES, GOOD, LEAK, ODD, PARTIAL, Case, odd_containers
from gitbot.cli import main

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "fixtures"))
from synth import MI, SimpleContainer, SimpleWorkload, scenario_for, write_snapshot  # noqa: E402

END = 1794787200.0


@pytest.fixture(scope="module")
def snapshot(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("corpus") / "usage.om"
    workloads = [
        SimpleWorkload("shop", "Deployment", "good", 2, [SimpleContainer("app", 800, 800 * MI, memory_limit_bytes=800 * MI)]),
        SimpleWorkload("shop", "Deployment", "odd", 1, [SimpleContainer("app", 200, 256 * MI)]),
    ]
    write_snapshot(scenario_for(workloads, END), path)
    return path


def _build(case: Case, tmp: Path) -> tuple[Path, Path]:
    root, outside = tmp / "repo", tmp / "outside"
    outside.mkdir()
    (outside / "leak.yaml").write_text(LEAK)
    (outside / "kustomization.yaml").write_text("resources:\n  - leak.yaml\n")
    (outside / "values.yaml").write_text("resources:\n  requests:\n    cpu: 1\n")
    (outside / "config.yaml").write_text("history: 7d\n")
    files: dict[str, str | bytes] = {
        "apps/good/deployment.yaml": GOOD,
        "apps/odd/deployment.yaml": ODD.format(containers=case.odd if case.odd is not None else odd_containers()),
        **case.files,
    }
    for rel, content in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, str):
            path.write_bytes(content.replace("{outside}", str(outside)).encode())
        else:
            path.write_bytes(content)
    for rel, target in case.symlinks.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.symlink_to(target.replace("{outside}", str(outside)))
    if case.config is not None:
        (root / ".gitbot.yaml").write_bytes(case.config.encode() if isinstance(case.config, str) else case.config)
    return root, outside


def _files(root: Path) -> dict[str, bytes]:
    """Every regular file under ``root`` by relative path; symlinks are neither followed nor read."""
    found: dict[str, bytes] = {}
    for directory, _, names in os.walk(root):  # os.walk does not descend into symlinked directories
        for name in names:
            path = Path(directory, name)
            if not path.is_symlink():
                found[path.relative_to(root).as_posix()] = path.read_bytes()
    return found


def _diagnostics(stderr: str, plan: dict[str, Any] | None) -> list[str]:
    lines = [line for line in stderr.splitlines() if line.strip()]
    if plan is not None:
        lines += [str(w) for w in plan.get("warnings", [])]
        for s in plan.get("skipped_inputs", []):
            lines.append(f"{s['path']}:{s['line']}: {s['reason']}" if s.get("line") else f"{s['path']}: {s['reason']}")
        for c in plan.get("containers", []):
            parts = [*c.get("reasons", []), *(f"{k}: {f['reason']}" for k, f in c.get("fields", {}).items())]
            lines += [f"{c['workload']} container {c['container']}: {p}" for p in parts]
    return lines


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_input(case: Case, snapshot: Path, tmp_path: Path) -> None:
    root, outside = _build(case, tmp_path)
    before, outside_before = _files(root), _files(outside)
    output = tmp_path / "plan.json"
    args = ["plan", str(root), "--metrics-file", str(snapshot), "--at", str(int(END)), "--format", "json",
            "--output", str(output), "--write", "-v", "-q", "--render-cache", "off"]
    if case.catalog is not None:
        catalog = tmp_path / "catalog.csv"
        catalog.write_bytes(case.catalog.encode() if isinstance(case.catalog, str) else case.catalog)
        args += ["--catalog", str(catalog)]
    result = CliRunner().invoke(main, args, env={"GITBOT_CONFIG": None})
    stderr = result.stderr
    assert "Traceback" not in result.output and "internal error" not in stderr, stderr
    assert result.exit_code == case.exit_code, stderr

    plan = json.loads(output.read_text()) if output.exists() else None
    lines = _diagnostics(stderr, plan)
    if case.expect:
        assert any(all(word in line for word in case.expect) for line in lines), "\n".join(lines)
    else:
        assert not any(rel in line for line in lines for rel in case.files), "\n".join(lines)
    assert "Deployment/leak" not in (output.read_text() if output.exists() else "") + stderr, "read outside the repository"

    after = _files(root)
    assert _files(outside) == outside_before
    if case.exit_code and case.exit_code != PARTIAL:
        assert plan is None, "a failed run wrote its --output"
        assert after == before, "a failed run wrote into the repository"
    else:
        assert plan is not None
        changed = {rel for rel in after if after[rel] != before.get(rel)} | (set(before) - set(after))
        assert changed <= {"apps/good/deployment.yaml", "apps/odd/deployment.yaml"}, changed
        if case.good_edited:
            assert "apps/good/deployment.yaml" in changed


def test_corpus_size_by_category() -> None:
    """The issue asks for at least 200 cases; every category has some."""
    counts = Counter(c.category for c in CASES)
    assert sum(counts.values()) >= 200, counts
    assert set(counts) == {
        "malformed YAML", "duplicate keys", "alias bombs and deep nesting", "binary files", "non-UTF-8", "huge files",
        "Helm templates outside a chart", "kustomization errors", "cyclic kustomize bases", "symlinks outside the repo",
        "../ paths escaping the repo", "invalid quantities", "containers without names", "duplicate objects",
        "unknown kinds and CRDs", "bad .gitbot.yaml", "bad catalog rows", "real-world YAML",
    }
