"""Fault injection: what gitbot does when the disk, git, GitHub or the usage data misbehave.

Faults that tests/test_pr.py and tests/test_prometheus_source.py already cover (a 403 or a
"No commits between" 422 on opening a pull request, bad credentials, a secondary rate limit waited
out once, 5xx retries, an unreachable https remote, a push refused by a hook, a dirty checkout,
Prometheus down or answering errors) are not repeated here. Each test below states the one fault
it injects and asserts the exact outcome: exit code, the one-line message, and the bytes of every
file that must not change.

- The working tree: the machine runs as root, so a read-only or full disk is simulated at the I/O
  edge: ``os.replace``, ``tempfile.mkstemp`` or ``os.fsync`` raise ``OSError(ENOSPC | EROFS | EACCES)``
  for paths under the repository (or the ``--output`` directory) only, on a chosen call.
- git: real repositories with a bare ``origin`` in temp dirs (the checkout detached, the branch
  moved by someone else between gitbot's look and its push, a remote or base branch that does not
  exist).
- GitHub: tests/github_standin.py (a 404 repository, 422s on opening the pull request, secondary
  rate limits); urllib3's sleeps are recorded instead of slept.
- Usage: OpenMetrics text written here (a counter reset, a five-hour scrape gap, jittered,
  shuffled and duplicated timestamps); the expected values come from a small scalar
  re-implementation of Prometheus' ``rate`` and ``max_over_time`` in this file, not from gitbot.

The bugs these tests found are mended; their tests stay as regression tests.
"""

from __future__ import annotations

import bisect
import errno
import itertools
import json
import math
import os
import shutil
import sys
import tempfile
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from click.testing import CliRunner, Result

git = pytest.importorskip("git")

from git_remote import clone_of_new_origin
from github_standin import GitHubStandIn

from gitbot.cli import main
from gitbot.metrics.snapshot import SnapshotSource
from gitbot.metrics.source import UsageQuery

ROOT = Path(__file__).resolve().parents[1]
DEMO = ROOT / "fixtures" / "demo-repo"
DEMO_METRICS = ROOT / "fixtures" / "demo-metrics.om.gz"
sys.path.insert(0, str(ROOT / "fixtures"))
from synth import MI, SimpleContainer, SimpleWorkload, scenario_for, write_snapshot  # type: ignore[import-not-found]

END = 1794787200  # 2026-11-16T00:00Z, a multiple of the 5-minute step
DAY = 86400
HISTORY = 4 * DAY
TOKEN = "ghs_faultT0kenValue"
BOT_EMAIL = "gitbot[bot]@users.noreply.github.com"


# -- running the CLI -----------------------------------------------------------------------------


def clean_env(**extra: str | None) -> dict[str, str | None]:
    """No GITBOT_* / GITHUB_* variable of the machine running the tests leaks into a run."""
    env: dict[str, str | None] = {k: None for k in os.environ if k.startswith(("GITBOT_", "GITHUB_"))}
    env.update(extra)
    return env


def invoke(*args: str | Path, **env: str | None) -> Result:
    """gitbot in-process. gitbot's own handler turns errors into exit codes; an exception that
    escaped it would show as CliRunner's exit 1 with ``result.exception`` set."""
    return CliRunner().invoke(main, [str(a) for a in args], env=clean_env(**env))


def assert_one_line_error(result: Result, code: int, starts: str, ends: str = "", contains: Sequence[str] = ()) -> str:
    """Exit ``code`` and exactly one stderr line ``gitbot: error: <starts>...<ends>``; no traceback."""
    err = result.stderr
    assert result.exit_code == code, (result.exit_code, err, result.exception)
    assert "Traceback" not in result.output + err
    assert err.count("\n") == 1 and err.endswith("\n"), err
    line = err[:-1]
    assert line.startswith("gitbot: error: " + starts), line
    assert line.endswith(ends), line
    for part in contains:
        assert part in line, (part, line)
    return line


def tree(root: Path) -> dict[str, bytes]:
    """Every file under ``root`` (outside .git) by relative path, with its bytes."""
    out: dict[str, bytes] = {}
    for directory, dirs, names in os.walk(root):
        dirs[:] = [d for d in dirs if d != ".git"]
        for name in names:
            path = Path(directory, name)
            out[path.relative_to(root).as_posix()] = path.read_bytes()
    return out


# -- disk faults at the I/O edge ---------------------------------------------------------------


PathArg = str | os.PathLike[str]


def _inside(path: PathArg | None, root: Path) -> bool:
    return path is not None and Path(path).resolve().is_relative_to(root.resolve())


@dataclass
class DiskFault:
    """Makes the ``nth`` call of a function that touches ``root`` raise ``OSError(code)``.

    ``seen`` lists the paths of every matching call, in order, so a test can say what had already
    happened when the fault struck; ``fired`` proves the fault was reached at all."""

    code: int
    nth: int
    root: Path
    seen: list[str] = field(default_factory=list)
    fired: bool = False

    def _hit(self, path: PathArg) -> None:
        self.seen.append(os.fspath(path))
        if len(self.seen) == self.nth:
            self.fired = True
            raise OSError(self.code, os.strerror(self.code), os.fspath(path))

    def on_replace(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """``os.replace(src, dst)`` with ``dst`` under root (the rename that publishes a file)."""
        real = os.replace

        def replace(src: PathArg, dst: PathArg, *args: Any, **kwargs: Any) -> None:
            if _inside(dst, self.root):
                self._hit(dst)
            real(src, dst, *args, **kwargs)

        monkeypatch.setattr(os, "replace", replace)

    def on_mkstemp(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """``tempfile.mkstemp(dir=...)`` under root: creating the file fails (EROFS, EACCES)."""
        real = tempfile.mkstemp

        def mkstemp(*args: Any, **kwargs: Any) -> tuple[int, str]:
            where: PathArg | None = kwargs.get("dir", args[2] if len(args) > 2 else None)
            if where is not None and _inside(where, self.root):
                self._hit(where)
            return real(*args, **kwargs)

        monkeypatch.setattr(tempfile, "mkstemp", mkstemp)

    def on_fsync(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """``os.fsync(fd)`` of a file under root: the data does not fit (ENOSPC)."""
        real = os.fsync

        def fsync(fd: int) -> None:
            path = os.readlink(f"/proc/self/fd/{fd}")
            if _inside(path, self.root):
                self._hit(path)
            real(fd)

        monkeypatch.setattr(os, "fsync", fsync)


def leftovers(root: Path) -> list[str]:
    """gitbot's temporary files (``.gitbot-*``) anywhere under ``root``."""
    return sorted(p.relative_to(root).as_posix() for p in root.rglob(".gitbot-*"))


# -- a small repository: three Deployments in three files --------------------------------------

DEPLOYMENT = """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: {name}
  namespace: shop
spec:
  replicas: 2
  selector:
    matchLabels: {{app: {name}}}
  template:
    metadata:
      labels: {{app: {name}}}
    spec:
      containers:
        - name: app
          image: example/{name}:1.0
          resources:
            requests:
              cpu: {cpu}m     # sized by hand
              memory: {memory}Mi
            limits:
              memory: {memory}Mi
"""
APPS = (("alpha", 800, 1024), ("bravo", 600, 768), ("charlie", 900, 512))
SMALL_FILES = [f"apps/{name}/deployment.yaml" for name, _, _ in APPS]


def write_small_repo(root: Path, config: str = "history: 4d\n") -> Path:
    for name, cpu, memory in APPS:
        path = root / "apps" / name / "deployment.yaml"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(DEPLOYMENT.format(name=name, cpu=cpu, memory=memory))
    (root / ".gitbot.yaml").write_text(config)
    return root


@pytest.fixture(scope="module")
def small_usage(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Four days of synthetic usage for the three Deployments: each is proposed smaller."""
    path = tmp_path_factory.mktemp("small-usage") / "usage.om"
    workloads = [
        SimpleWorkload("shop", "Deployment", name, 2, [SimpleContainer("app", cpu, memory * MI, memory_limit_bytes=memory * MI)])
        for name, cpu, memory in APPS
    ]
    write_snapshot(scenario_for(workloads, float(END), days=4.0), path)
    return path


@pytest.fixture
def small_repo(tmp_path: Path) -> Path:
    return write_small_repo(tmp_path / "repo")


def plan_write(repo: Path, usage: Path, *extra: str) -> Result:
    return invoke("plan", repo, "--metrics-file", usage, "--write", "--format", "json", "--render-cache", "off", "-q", *extra)


def test_the_small_repository_changes_three_files_when_nothing_fails(small_repo: Path, small_usage: Path) -> None:
    """The baseline the disk faults below rely on: ``plan --write`` edits all three files, so a
    fault on the second or third file lands in the middle of a multi-file write."""
    before = tree(small_repo)
    result = plan_write(small_repo, small_usage)
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["written"] is True
    after = tree(small_repo)
    assert sorted(k for k in after if after[k] != before[k]) == SMALL_FILES
    assert leftovers(small_repo) == []


# -- 1. the working tree fails part-way ------------------------------------------------------------


@pytest.mark.parametrize(
    ("hook", "code", "nth", "ends"),
    [
        # the temp files are all written; renaming the second one into place fails: the first is put back
        ("replace", errno.ENOSPC, 2, "; restored the files already written"),
        # the disk turns read-only before the last rename: two files are put back
        ("replace", errno.EROFS, 3, "; restored the files already written"),
        # the second temp file cannot even be created (read-only file system, no permission)
        ("mkstemp", errno.EROFS, 2, "; nothing written"),
        ("mkstemp", errno.EACCES, 1, "; nothing written"),
    ],
    ids=["rename-2nd-ENOSPC", "rename-3rd-EROFS", "create-2nd-EROFS", "create-1st-EACCES"],
)
def test_a_write_that_fails_part_way_leaves_every_file_as_it_was(
    small_repo: Path, small_usage: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, hook: str, code: int, nth: int, ends: str,
) -> None:
    """``--write`` is all-or-nothing: whichever file the disk fails on, gitbot exits 2 with one line
    naming the OS error, every file of the repository has its old bytes, no ``.gitbot-*`` temp
    file is left, and the ``--output`` file from an earlier run is not touched."""
    output = tmp_path / "plan.json"
    output.write_bytes(b'{"earlier": "run"}\n')
    before = tree(small_repo)
    fault = DiskFault(code, nth, small_repo)
    getattr(fault, f"on_{hook}")(monkeypatch)
    result = plan_write(small_repo, small_usage, "--output", str(output))
    monkeypatch.undo()
    assert fault.fired, f"the fault was never reached: {fault.seen}"
    assert_one_line_error(result, 2, f"cannot write changes: [Errno {code}] {os.strerror(code)}", ends)
    assert tree(small_repo) == before
    assert leftovers(small_repo) == []
    assert output.read_bytes() == b'{"earlier": "run"}\n'


def test_a_full_disk_while_writing_a_temp_file_leaves_no_temp_file(
    small_repo: Path, small_usage: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """ENOSPC when the second temp file's data is flushed to disk: the repository keeps its bytes
    (that part holds) and no temp file may stay behind (that part fails)."""
    before = tree(small_repo)
    fault = DiskFault(errno.ENOSPC, 2, small_repo)
    fault.on_fsync(monkeypatch)
    result = plan_write(small_repo, small_usage)
    monkeypatch.undo()
    assert fault.fired
    assert_one_line_error(result, 2, "cannot write changes: [Errno 28] No space left on device", "; nothing written")
    assert {k: v for k, v in tree(small_repo).items() if ".gitbot-" not in k} == before
    assert leftovers(small_repo) == []


def test_a_failed_last_rename_in_the_demo_undoes_new_and_edited_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The demo's ``plan --write`` edits 12 files and creates an overlay patch (staging's
    ``gitbot-resources.yaml``). The rename of the last file in path order fails with EROFS after
    the other 12 are in place: the edited files get their old bytes back, the new file is
    removed, and gitbot says so in one line with exit 2."""
    repo = tmp_path / "demo"
    shutil.copytree(DEMO, repo)
    before = tree(repo)
    fault = DiskFault(errno.EROFS, 13, repo)
    fault.on_replace(monkeypatch)
    result = plan_write(repo, DEMO_METRICS)
    monkeypatch.undo()
    assert fault.fired, fault.seen
    renamed = [Path(p).relative_to(repo.resolve()).as_posix() for p in fault.seen]
    assert renamed[-1] == "platform/pricing-engine/base/deployment.yaml"  # the one that failed
    assert {p for p in renamed if p.endswith("gitbot-resources.yaml")} == {
        "platform/checkout/overlays/staging/gitbot-resources.yaml",
    }  # the new file was already in place when the fault struck
    assert_one_line_error(result, 2, "cannot write changes: [Errno 30] Read-only file system", "; restored the files already written")
    assert tree(repo) == before
    assert leftovers(repo) == []


# -- --output -------------------------------------------------------------------------------------


def plan_output(repo: Path, usage: Path, output: Path, *extra: str) -> Result:
    return invoke("plan", repo, "--metrics-file", usage, "--format", "json", "--render-cache", "off", "-q", "--output", output, *extra)


def test_output_into_a_missing_directory_is_one_line_and_writes_nothing(small_repo: Path, small_usage: Path, tmp_path: Path) -> None:
    """``--output`` naming a directory that does not exist: exit 2, one line with the path and the
    OS reason; the directory is not created and the repository is not touched."""
    before = tree(small_repo)
    output = tmp_path / "missing" / "plan.json"
    result = plan_output(small_repo, small_usage, output)
    assert_one_line_error(result, 2, f"--output {output}: cannot write: No such file or directory")
    assert result.stdout == ""
    assert not output.parent.exists()
    assert tree(small_repo) == before


def test_output_that_is_a_directory_is_a_usage_error(small_repo: Path, small_usage: Path, tmp_path: Path) -> None:
    """``--output`` naming an existing directory is refused by option parsing (exit 2, click's
    usage message), before anything is planned or written."""
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    before = tree(small_repo)
    result = plan_output(small_repo, small_usage, out_dir, "--write")
    assert result.exit_code == 2
    assert result.stderr.rstrip("\n").splitlines()[-1] == (
        f"Error: Invalid value for '--output' (env var: 'GITBOT_OUTPUT'): File '{out_dir}' is a directory."
    )
    assert list(out_dir.iterdir()) == []
    assert tree(small_repo) == before


def test_an_unwritable_output_directory_is_one_line_and_writes_nothing(
    small_repo: Path, small_usage: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The output directory refuses new files (EACCES, what a non-writable directory gives a
    non-root user): exit 2, one line, no file created there, repository unchanged."""
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    before = tree(small_repo)
    fault = DiskFault(errno.EACCES, 1, out_dir)
    fault.on_mkstemp(monkeypatch)
    result = plan_output(small_repo, small_usage, out_dir / "plan.json")
    monkeypatch.undo()
    assert fault.fired
    assert_one_line_error(result, 2, f"--output {out_dir / 'plan.json'}: cannot write: Permission denied")
    assert list(out_dir.iterdir()) == []
    assert tree(small_repo) == before


def test_a_full_disk_on_output_keeps_the_previous_output(
    small_repo: Path, small_usage: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """ENOSPC when the finished output replaces the previous one: exit 2, one line, and the file
    still holds the previous run's bytes (never half of the new document)."""
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    output = out_dir / "plan.json"
    output.write_bytes(b'{"earlier": "run"}\n')
    fault = DiskFault(errno.ENOSPC, 1, out_dir)
    fault.on_replace(monkeypatch)
    result = plan_output(small_repo, small_usage, output)
    monkeypatch.undo()
    assert fault.fired
    assert_one_line_error(result, 2, f"--output {output}: cannot write: No space left on device")
    assert output.read_bytes() == b'{"earlier": "run"}\n'


def test_a_failed_output_write_leaves_no_temp_file(
    small_repo: Path, small_usage: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """After the ENOSPC above, the output directory holds only the previous output."""
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    fault = DiskFault(errno.ENOSPC, 1, out_dir)
    fault.on_replace(monkeypatch)
    result = plan_output(small_repo, small_usage, out_dir / "plan.json")
    monkeypatch.undo()
    assert result.exit_code == 2 and fault.fired
    assert sorted(p.name for p in out_dir.iterdir()) == []


def test_write_with_an_unwritable_output_edits_nothing(small_repo: Path, small_usage: Path, tmp_path: Path) -> None:
    """``plan --write --output <missing dir>/plan.json`` exits 2; a failed run must leave the
    repository as it was (as tests/test_bad_inputs.py requires of every failed run)."""
    before = tree(small_repo)
    output = tmp_path / "missing" / "plan.json"
    result = plan_output(small_repo, small_usage, output, "--write")
    assert_one_line_error(result, 2, f"--output {output}: cannot write: No such file or directory")
    assert tree(small_repo) == before


# -- 2. and 3. git and GitHub faults for `gitbot pr` ---------------------------------------------


@dataclass(frozen=True)
class Checkout:
    work: Path  # the clone gitbot runs in
    remote: Path  # its bare origin
    usage: Path

    @property
    def repo(self) -> Any:
        return git.Repo(self.work)

    def origin(self) -> Any:
        return git.Repo(self.remote)


@pytest.fixture
def checkout(tmp_path: Path, small_usage: Path) -> Checkout:
    """A clone of a bare ``origin`` holding the small repository on main, one pull request scope."""
    source = write_small_repo(tmp_path / "source", "history: 4d\npull_requests:\n  scope: repository\n  dashboard: false  # these tests are about the pull request; tests/test_pr_dashboard.py has the issue\n")
    work, remote = clone_of_new_origin(source, tmp_path, "apps")
    return Checkout(work, remote, small_usage)


@pytest.fixture
def github() -> Iterator[GitHubStandIn]:
    with GitHubStandIn("acme/gitops", token=TOKEN) as gh:
        yield gh


def gitbot_pr(c: Checkout, gh: GitHubStandIn, *extra: str, repository: str = "acme/gitops") -> Result:
    return invoke(
        "pr", c.work, "--metrics-file", c.usage, "--repo", repository, "--github-url", gh.base_url, "--base", "main",
        "--render-cache", "off", "-q", *extra, GITBOT_GITHUB_TOKEN=TOKEN,
    )


def assert_checkout_untouched(c: Checkout, head: str, before: dict[str, bytes], detached: bool = False) -> None:
    """The user's clone: same HEAD (and branch state), same files, no local branch or worktree added."""
    repo = c.repo
    assert repo.head.commit.hexsha == head
    assert repo.head.is_detached is detached
    assert [h.name for h in repo.heads] == ["main"]
    assert repo.is_dirty(untracked_files=True) is False
    assert tree(c.work) == before
    assert len(repo.git.worktree("list").splitlines()) == 1  # gitbot's scratch worktree is gone
    assert not (c.work / ".git" / "worktrees").exists() or not any((c.work / ".git" / "worktrees").iterdir())


def test_a_detached_head_checkout_is_published_and_left_detached(checkout: Checkout, github: GitHubStandIn) -> None:
    """CI checkouts are often detached. gitbot commits from a scratch worktree on origin/main, so
    it opens the pull request normally (exit 0) and the checkout stays detached at the same commit,
    with no branch created or checked out and no file changed."""
    checkout.repo.git.checkout("--detach")
    head, before = checkout.repo.head.commit.hexsha, tree(checkout.work)
    result = gitbot_pr(checkout, github)
    assert result.exit_code == 0, result.stderr
    assert result.stdout == "created   gitbot/all #1 https://github.com/acme/gitops/pull/1: pushed a new commit\n"
    assert_checkout_untouched(checkout, head, before, detached=True)
    pushed = checkout.origin().commit("gitbot/all")
    assert pushed.author.email == BOT_EMAIL and [p.hexsha for p in pushed.parents] == [head]
    assert sorted(d.a_path for d in pushed.parents[0].diff(pushed)) == SMALL_FILES


def _push_as_alice(remote: Path, clone: Path, branch: str) -> str:
    """Alice adds a commit to ``branch`` of ``remote`` (on top of it, or of main when it does not
    exist yet) and pushes it; its sha."""
    exists = branch in [h.name for h in git.Repo(remote).heads]
    repo = git.Repo.clone_from(str(remote), str(clone), **({"branch": branch} if exists else {}))
    (clone / "NOTES.md").write_text("alice: keep charlie's memory as it is\n")
    repo.git.add(A=True)
    alice = git.Actor("Alice", "alice@example.com")
    commit = repo.index.commit("a note", author=alice, committer=alice)
    repo.git.push("origin", f"HEAD:refs/heads/{branch}")
    return str(commit.hexsha)


@pytest.mark.parametrize("earlier", [False, True], ids=["branch-new", "branch-gitbot-pushed-before"])
def test_a_branch_moved_between_look_and_push_is_not_overwritten(
    checkout: Checkout, github: GitHubStandIn, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, earlier: bool,
) -> None:
    """Alice pushes to ``gitbot/all`` after gitbot looked at the branch but before it pushed (the
    branch did not exist yet, or held only gitbot's commit from an earlier run). gitbot's push
    carries a lease on what it saw, so git rejects it: exit 5, one line saying the push failed
    (stale info), Alice's commit stays on the branch, no pull request is opened and the checkout is
    as it was."""
    from gitbot.publish.gitrepo import GitRepository

    if earlier:
        first = gitbot_pr(checkout, github)
        assert first.exit_code == 0, first.stderr
        github.clear_requests()
        # main moves on (the platform team bumps an image), so gitbot has a new commit to push
        path = checkout.work / SMALL_FILES[0]
        path.write_text(path.read_text().replace("image: example/alpha:1.0", "image: example/alpha:1.1"))
        team = git.Actor("Platform Team", "platform@example.com")
        checkout.repo.git.add(A=True)
        checkout.repo.index.commit("alpha 1.1", author=team, committer=team)
        checkout.repo.git.push("origin", "main")
    head, before = checkout.repo.head.commit.hexsha, tree(checkout.work)
    real = GitRepository.branch_state
    moved: list[str] = []

    def look_then_race(self: Any, branch: str, base: str) -> Any:
        state = real(self, branch, base)
        moved.append(_push_as_alice(checkout.remote, tmp_path / "alice", branch))
        return state

    monkeypatch.setattr(GitRepository, "branch_state", look_then_race)
    result = gitbot_pr(checkout, github)
    monkeypatch.undo()
    assert len(moved) == 1
    assert_one_line_error(result, 5, "git push failed: ", contains=["[rejected]", "gitbot/all (stale info)"])
    alices = checkout.origin().commit("gitbot/all")
    assert alices.hexsha == moved[0]
    if earlier:  # on top of gitbot's commit of the first run, which is kept too
        assert alices.parents[0].author.email == BOT_EMAIL
    assert "POST /repos/acme/gitops/pulls" not in github.calls() and "PATCH /repos/acme/gitops/pulls/1" not in github.calls()
    assert_checkout_untouched(checkout, head, before)


def test_a_remote_name_that_is_not_configured_is_an_input_error(checkout: Checkout, github: GitHubStandIn) -> None:
    """``--remote upstream`` when the clone has only ``origin``: a bad option value, so exit 2 (the
    README's "usage or input error"), one line, before any planning, git or GitHub traffic."""
    head, before = checkout.repo.head.commit.hexsha, tree(checkout.work)
    result = gitbot_pr(checkout, github, "--remote", "upstream")
    line = assert_one_line_error(result, 2, f"{checkout.work}: no git remote named 'upstream'")
    assert line == f"gitbot: error: {checkout.work}: no git remote named 'upstream'"
    assert github.calls() == []
    assert [h.name for h in checkout.origin().heads] == ["main"]
    assert_checkout_untouched(checkout, head, before)


def test_a_remote_repository_that_does_not_exist_is_exit_5(checkout: Checkout, github: GitHubStandIn, tmp_path: Path) -> None:
    """``origin`` points at a path with no repository: the fetch fails, exit 5 with git's reason
    in one line; GitHub is not asked anything (no pull request without its branch)."""
    missing = tmp_path / "gone.git"
    checkout.repo.remote("origin").set_url(str(missing))
    head, before = checkout.repo.head.commit.hexsha, tree(checkout.work)
    result = gitbot_pr(checkout, github)
    assert_one_line_error(result, 5, f"git fetch failed: 'fatal: '{missing}' does not appear to be a git repository")
    assert github.calls() == []
    assert not missing.exists()
    assert_checkout_untouched(checkout, head, before)


def test_a_base_branch_missing_on_the_remote_is_exit_5(checkout: Checkout, github: GitHubStandIn) -> None:
    """``--base release`` when origin has no such branch: exit 5, one line with git's reason;
    nothing pushed, no GitHub request."""
    head, before = checkout.repo.head.commit.hexsha, tree(checkout.work)
    result = gitbot_pr(checkout, github, "--base", "release")
    assert_one_line_error(result, 5, "git fetch failed: ", contains=["couldn't find remote ref refs/heads/release"])
    assert github.calls() == []
    assert [h.name for h in checkout.origin().heads] == ["main"]
    assert_checkout_untouched(checkout, head, before)


def test_a_repository_github_does_not_know_is_exit_5_before_any_push(checkout: Checkout, github: GitHubStandIn) -> None:
    """``--repo acme/missing`` (a typo, or a token that cannot see it): GitHub answers 404 to the
    first request; exit 5, one line saying what to check, and nothing was pushed."""
    head, before = checkout.repo.head.commit.hexsha, tree(checkout.work)
    result = gitbot_pr(checkout, github, repository="acme/missing")
    line = assert_one_line_error(result, 5, "GitHub: cannot ")
    assert line == ("gitbot: error: GitHub: cannot read the repository: 404 Not Found: acme/missing does not exist "
                    "or the token cannot see it")
    assert github.calls() == ["GET /repos/acme/missing"]
    assert [h.name for h in checkout.origin().heads] == ["main"]
    assert_checkout_untouched(checkout, head, before)
    assert TOKEN not in result.output + result.stderr


def test_a_pull_request_a_person_opened_from_the_branch_is_a_422_and_left_alone(checkout: Checkout, github: GitHubStandIn) -> None:
    """A person opened a pull request from ``gitbot/all`` by hand (no gitbot marker, so it is not
    gitbot's): GitHub refuses a second one with 422 "already exists". Exit 5 with GitHub's reason
    in one line; the person's pull request is not edited, commented on or closed."""
    number = github.add_pull("gitbot/all", base="main", title="resize by hand", body="my notes", user="alice")
    result = gitbot_pr(checkout, github)
    line = assert_one_line_error(result, 5, "GitHub: cannot open a pull request from gitbot/all: ")
    assert line.endswith(": 422 Validation Failed: A pull request already exists for acme:gitbot/all.")
    assert [c for c in github.calls() if not c.startswith("GET")] == ["POST /repos/acme/gitops/pulls"]
    theirs = github.pulls[number]
    assert (theirs.title, theirs.body, theirs.state, len(github.pulls)) == ("resize by hand", "my notes", "open", 1)
    assert github.comments.get(number, []) == []


def test_a_transient_422_after_the_push_is_recovered_by_the_next_run(checkout: Checkout, github: GitHubStandIn) -> None:
    """Right after a push GitHub can answer 422 (``head`` invalid) while the branch replicates. The
    run exits 5 with the reason; the branch it pushed stays, and the next run opens the pull
    request without pushing again (same commit), so the failure left nothing that needs cleaning."""
    github.fail_next("POST", "/repos/acme/gitops/pulls", 422, {
        "message": "Validation Failed", "errors": [{"resource": "PullRequest", "field": "head", "code": "invalid"}],
    })
    first = gitbot_pr(checkout, github)
    line = assert_one_line_error(first, 5, "GitHub: cannot open a pull request from gitbot/all: ")
    assert line.endswith(": 422 Validation Failed: invalid")
    pushed = checkout.origin().commit("gitbot/all").hexsha
    assert github.pulls == {}

    second = gitbot_pr(checkout, github)
    assert second.exit_code == 0, second.stderr
    assert second.stdout == "created   gitbot/all #1 https://github.com/acme/gitops/pull/1: the branch already had this commit\n"
    assert checkout.origin().commit("gitbot/all").hexsha == pushed
    assert github.calls().count("POST /repos/acme/gitops/pulls") == 2


class SleepRecorder:
    """Stands in for urllib3's ``time`` module: records every retry sleep instead of sleeping."""

    def __init__(self) -> None:
        import time as real_time

        self.slept: list[float] = []
        self.time = real_time.time
        self.monotonic = real_time.monotonic

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)


@pytest.fixture
def sleeps(monkeypatch: pytest.MonkeyPatch) -> SleepRecorder:
    import urllib3.util.retry

    recorder = SleepRecorder()
    monkeypatch.setattr(urllib3.util.retry, "time", recorder)
    return recorder


def test_a_secondary_rate_limit_that_does_not_lift_is_exit_5_after_three_retries(
    checkout: Checkout, github: GitHubStandIn, sleeps: SleepRecorder,
) -> None:
    """Every attempt to open the pull request gets GitHub's secondary rate limit (403 with
    ``Retry-After: 1``): gitbot waits as told, retries three times, then gives up with exit 5 and an
    error naming what it could not do; no pull request exists and the token is never printed."""
    github.rate_limit_next("POST", "/repos/acme/gitops/pulls", secondary=True, retry_after=1, times=10)
    result = gitbot_pr(checkout, github)
    assert result.exit_code == 5, result.stderr
    assert sleeps.slept == [1, 1, 1]
    assert github.calls().count("POST /repos/acme/gitops/pulls") == 4
    assert result.stderr.splitlines()[-1].startswith("gitbot: error: GitHub: cannot open a pull request from gitbot/all: ")
    assert github.pulls == {}
    assert TOKEN not in result.output + result.stderr


def test_a_secondary_rate_limit_that_does_not_lift_is_one_line_that_says_so(
    checkout: Checkout, github: GitHubStandIn, sleeps: SleepRecorder,
) -> None:
    """README: GitHub errors are one line with what to fix; here that is the rate limit."""
    github.rate_limit_next("POST", "/repos/acme/gitops/pulls", secondary=True, retry_after=1, times=10)
    result = gitbot_pr(checkout, github)
    assert_one_line_error(result, 5, "GitHub: cannot open a pull request from gitbot/all: rate limited, and still after 3 retries; run again later")


@pytest.mark.parametrize("status", [403, 429])
def test_a_long_retry_after_is_not_waited_beyond_the_maximum(github: GitHubStandIn, sleeps: SleepRecorder, status: int) -> None:
    """A secondary rate limit asking for an hour (``Retry-After: 3600``) on every attempt: gitbot
    must give up rather than sleep longer than its maximum wait (120 s by default)."""
    from gitbot.errors import PublishError
    from gitbot.publish.github import GitHubPulls

    github.rate_limit_next("GET", "/repos/acme/gitops", secondary=True, status=status, retry_after=3600, times=10)
    with pytest.raises(PublishError):
        GitHubPulls("acme/gitops", TOKEN, github.base_url, throttle=False).default_branch()
    assert max(sleeps.slept, default=0) <= 120, sleeps.slept


# -- 4. usage data: counter resets, scrape gaps, skewed timestamps ------------------------------

WEB_POD = "web-5d8f7c9b4-abcde"
SAMPLE_EVERY = 60
FIRST_SAMPLE = END - HISTORY - 3600 + 17  # an hour before the window, 17 s past the minute
GRID = np.arange(END - HISTORY + 300, END + 1, 300, dtype=float)  # the plan's 1152 steps
WEB_MANIFEST = DEPLOYMENT.format(name="web", cpu=500, memory=512).replace("replicas: 2", "replicas: 1")


def prom_rate_m(times: Sequence[float], values: Sequence[float], at: float, window: float = 600.0) -> float:
    """Prometheus' ``rate(counter[window]) * 1000`` at ``at``, from its documented rules: samples in
    ``(at - window, at]`` (left-open, as Prometheus 3 and gitbot select them); a drop adds the value before it; the increase between the
    first and last sample is extended to each window edge when the gap to it is under 1.1x the
    average interval (for the start, first clamped to where the counter would have been zero),
    else by half an interval. NaN with fewer than two samples."""
    lo = bisect.bisect_right(times, at - window)
    hi = bisect.bisect_right(times, at)
    ts, vs = times[lo:hi], values[lo:hi]
    if len(ts) < 2:
        return math.nan
    increase = vs[-1] - vs[0] + sum(before for before, after in itertools.pairwise(vs) if after < before)
    sampled = ts[-1] - ts[0]
    average = sampled / (len(ts) - 1)
    to_start, to_end = ts[0] - (at - window), at - ts[-1]
    if increase > 0 and vs[0] >= 0:
        to_start = min(to_start, sampled * vs[0] / increase)
    extended = sampled + (to_start if to_start < 1.1 * average else average / 2) + (to_end if to_end < 1.1 * average else average / 2)
    return increase * extended / sampled / window * 1000.0


def prom_max(times: Sequence[float], values: Sequence[float], at: float, window: float = 300.0) -> float:
    """``max_over_time(gauge[window])`` at ``at``: the largest sample in ``(at - window, at]``."""
    lo = bisect.bisect_right(times, at - window)
    hi = bisect.bisect_right(times, at)
    return max(values[lo:hi]) if hi > lo else math.nan


@dataclass(frozen=True)
class Samples:
    """One series' samples, in the order they are written to the file."""

    times: list[float]
    values: list[float]

    def sorted_unique(self) -> Samples:
        last: dict[float, float] = {}
        for t, v in zip(self.times, self.values):
            last[t] = v
        ordered = sorted(last)
        return Samples(ordered, [last[t] for t in ordered])


def counter(times: Sequence[float], cores: Callable[[float], float], start: float = 1000.0, reset_after: float | None = None) -> Samples:
    """A CPU-seconds counter sampled at ``times``: each interval adds ``cores(t) * dt``; with
    ``reset_after``, the container restarts right after that sample and counts from zero."""
    values: list[float] = []
    for i, t in enumerate(times):
        if i == 0:
            values.append(start)
        elif times[i - 1] == reset_after:
            values.append(cores(t) * (t - times[i - 1]))
        else:
            values.append(values[-1] + cores(t) * (t - times[i - 1]))
    return Samples(list(times), values)


def working_set(times: Sequence[float]) -> Samples:
    """A sawtooth between 200Mi and 259Mi over each hour, in whole MiB."""
    return Samples(list(times), [float((200 + int(t // 60) % 60) * MI) for t in times])


def snapshot_text(cpu: Samples, memory: Samples, restarts: Samples | None = None) -> str:
    """An OpenMetrics snapshot of pod ``web-...`` of Deployment shop/web, samples in the given order."""
    pod = f'namespace="shop",pod="{WEB_POD}"'
    container = f'{pod},container="app"'
    lines = ["# TYPE container_cpu_usage_seconds counter"]
    lines += [f"container_cpu_usage_seconds_total{{{container}}} {v!r} {t!r}" for t, v in zip(cpu.times, cpu.values)]
    lines += ["# TYPE container_memory_working_set_bytes gauge"]
    lines += [f"container_memory_working_set_bytes{{{container}}} {v!r} {t!r}" for t, v in zip(memory.times, memory.values)]
    if restarts is not None:
        lines += ["# TYPE kube_pod_container_status_restarts counter"]
        lines += [f"kube_pod_container_status_restarts_total{{{container}}} {v!r} {t!r}" for t, v in zip(restarts.times, restarts.values)]
    lines += [
        "# TYPE kube_pod_owner gauge",
        f'kube_pod_owner{{{pod},owner_kind="ReplicaSet",owner_name="web-5d8f7c9b4",owner_is_controller="true"}} 1 {END}',
        "# TYPE kube_replicaset_owner gauge",
        f'kube_replicaset_owner{{namespace="shop",replicaset="web-5d8f7c9b4",owner_kind="Deployment",owner_name="web",owner_is_controller="true"}} 1 {END}',
        "# TYPE gitbot_snapshot_info gauge",
        f'gitbot_snapshot_info{{history_seconds="{HISTORY}",step_seconds="300"}} 1 {END}',
        "# EOF",
    ]
    return "\n".join(lines) + "\n"


@dataclass(frozen=True)
class Evaluated:
    cpu_m: np.ndarray  # per grid step, NaN where Prometheus has no value
    memory_bytes: np.ndarray


def expected(cpu: Samples, memory: Samples) -> Evaluated:
    """What Prometheus answers on the plan's grid for these samples (the oracle)."""
    c, m = cpu.sorted_unique(), memory.sorted_unique()
    return Evaluated(
        np.array([prom_rate_m(c.times, c.values, g) for g in GRID]),
        np.array([prom_max(m.times, m.values, g) for g in GRID]),
    )


def fetched(path: Path) -> Evaluated:
    """What gitbot's snapshot source makes of the file, for the one pod container."""
    data = SnapshotSource(path).fetch(UsageQuery(history_seconds=HISTORY, step_seconds=300))
    assert data.grid.tolist() == GRID.tolist() and data.warnings == ()
    (only,) = data.containers
    assert (only.namespace, only.pod, only.container) == ("shop", WEB_POD, "app")
    return Evaluated(only.cpu_m, only.memory_bytes)


def assert_same_series(got: np.ndarray, want: np.ndarray) -> None:
    assert np.array_equal(np.isnan(got), np.isnan(want)), np.flatnonzero(np.isnan(got) != np.isnan(want))
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-9, equal_nan=True)


def stats(values: np.ndarray) -> dict[str, int]:
    """The plan's usage statistics (p50 ... max), from the expected per-step values."""
    known = values[~np.isnan(values)]
    out = {f"p{q}": math.ceil(round(float(np.percentile(known, q)), 6)) for q in (50, 90, 95, 99)}
    out["max"] = math.ceil(round(float(known.max()), 6))
    return out


@pytest.fixture
def web_repo(tmp_path: Path) -> Path:
    repo = tmp_path / "web"
    (repo / "apps" / "web").mkdir(parents=True)
    (repo / "apps" / "web" / "deployment.yaml").write_text(WEB_MANIFEST)
    (repo / ".gitbot.yaml").write_text("history: 4d\n")
    return repo


def plan_usage(repo: Path, snapshot: Path) -> dict[str, Any]:
    """The web container's entry in ``gitbot plan`` JSON; the run must succeed without a word on stderr."""
    result = invoke("plan", repo, "--metrics-file", snapshot, "--format", "json", "--render-cache", "off", "-q")
    assert (result.exit_code, result.stderr) == (0, ""), result.stderr
    document = json.loads(result.stdout)
    assert document["warnings"] == []
    (entry,) = document["containers"]
    assert (entry["workload"], entry["container"]) == ("shop/Deployment/web", "app")
    return dict(entry)


def test_a_cpu_counter_reset_is_a_restart_not_a_negative_rate(web_repo: Path, tmp_path: Path) -> None:
    """The container uses 0.1 core, restarts halfway through the window right after a scrape (its
    CPU counter drops from ~1.7e4 s to zero) and then uses 0.4 core. Every step equals Prometheus'
    rate: exactly 100m before the restart, 400m after it, and the one window that spans the drop
    the mean of the usage between its first and last samples; never negative or a spike. The
    plan reports one restart and the usage statistics of exactly those values."""
    times = [float(t) for t in range(FIRST_SAMPLE, END + 1, SAMPLE_EVERY)]
    restart = times[len(times) // 2]
    cpu = counter(times, lambda t: 0.1 if t <= restart else 0.4, reset_after=restart)
    assert min(b - a for a, b in itertools.pairwise(cpu.values)) < -10_000  # the drop is in the file
    restarts = Samples(times[::5], [0.0 if t <= restart else 1.0 for t in times[::5]])
    path = tmp_path / "reset.om"
    path.write_text(snapshot_text(cpu, working_set(times), restarts))

    want, got = expected(cpu, working_set(times)), fetched(path)
    assert_same_series(got.cpu_m, want.cpu_m)
    assert_same_series(got.memory_bytes, want.memory_bytes)
    before, after = GRID < restart, GRID - 600 >= restart  # windows wholly before / after the restart
    np.testing.assert_allclose(got.cpu_m[before], 100.0, rtol=1e-12)
    np.testing.assert_allclose(got.cpu_m[after], 400.0, rtol=1e-12)
    # the two windows holding the restart: one has 300 s at 0.1 core and 240 s at 0.4 core between
    # its first and last samples; the other starts at the restart sample, so it is all 0.4 core
    spanning = ~before & ~after
    np.testing.assert_allclose(got.cpu_m[spanning], [(300 * 0.1 + 240 * 0.4) / 540 * 1000, 400.0], rtol=1e-12)

    usage = plan_usage(web_repo, path)["usage"]
    assert (usage["restarts"], usage["oom_events"], usage["samples"], usage["coverage"]) == (1, 0, 1152, 1.0)
    assert usage["cpu_m"] == stats(want.cpu_m)
    assert (usage["cpu_m"]["p50"], usage["cpu_m"]["max"]) == (400, 400)  # 580 steps after the restart, 570 before
    assert usage["memory_bytes"] == stats(want.memory_bytes)


def test_a_five_hour_scrape_gap_is_missing_data_not_zero_usage(web_repo: Path, tmp_path: Path) -> None:
    """No sample of either series for five hours in the middle of the window (the scraper was
    down; the counter kept counting). The steps in the gap have no value (not 0, and no rate
    spanning the gap); the steps at its edges follow Prometheus' extrapolation; coverage and the
    sample count in the plan drop by exactly the missing steps, and the statistics are those of
    the steps that have data."""
    times = [float(t) for t in range(FIRST_SAMPLE, END + 1, SAMPLE_EVERY)]
    gap_from = times[len(times) // 2]
    kept = [t for t in times if not gap_from <= t < gap_from + 5 * 3600]
    assert len(times) - len(kept) == 300  # five hours of one-minute scrapes
    full = counter(times, lambda t: 0.25)  # what the container really used, every minute
    seen = {t: v for t, v in zip(full.times, full.values)}
    cpu = Samples(kept, [seen[t] for t in kept])
    memory = working_set(kept)
    path = tmp_path / "gap.om"
    path.write_text(snapshot_text(cpu, memory))

    want, got = expected(cpu, memory), fetched(path)
    assert_same_series(got.cpu_m, want.cpu_m)
    assert_same_series(got.memory_bytes, want.memory_bytes)
    # the last sample before the gap is at a, the first after it at b = a + 5 h + 1 min. A step g has
    # no memory value when (g - 5m, g] holds no sample: g in [a + 300, b); no CPU value when
    # (g - 10m, g] holds fewer than two: g in [a + 540, b + 60) (none, only a, or only b)
    a, b = gap_from - SAMPLE_EVERY, gap_from + 5 * 3600
    no_memory, no_cpu = (GRID >= a + 300) & (GRID < b), (GRID >= a + 540) & (GRID < b + 60)
    assert np.array_equal(np.isnan(got.memory_bytes), no_memory) and np.array_equal(np.isnan(got.cpu_m), no_cpu)
    assert (int(no_memory.sum()), int(no_cpu.sum())) == (60, 59)
    whole = ~np.isnan(got.cpu_m) & (np.abs(GRID - gap_from) > 1200) & (np.abs(GRID - gap_from - 5 * 3600) > 1200)
    np.testing.assert_allclose(got.cpu_m[whole], 250.0, rtol=1e-12)  # away from the edges: exactly the usage

    usage = plan_usage(web_repo, path)["usage"]
    with_data = 1152 - int((no_memory & no_cpu).sum())  # steps with either value
    assert usage["coverage"] == round(with_data / 1152, 4) == 0.9488  # 1093 of 1152 steps
    assert usage["samples"] == max(1152 - int(no_cpu.sum()), 1152 - int(no_memory.sum())) == 1093
    assert usage["cpu_m"] == stats(want.cpu_m) and usage["memory_bytes"] == stats(want.memory_bytes)
    assert usage["span_hours"] == 96.0  # first to last step with data: the gap is inside the span


def test_jittered_shuffled_and_duplicated_timestamps_give_prometheus_values(web_repo: Path, tmp_path: Path) -> None:
    """The exporter's timestamps wander up to 20 s around the minute, the file lists each series'
    samples in random order, and one sample in 20 appears twice (same timestamp and value, as a
    retried remote write or an HA pair replaying it). gitbot evaluates exactly what Prometheus
    would on the sorted, de-duplicated samples, and the plan of this file is identical to the plan
    of the same samples written cleanly."""
    rng = np.random.default_rng(2026)
    times = [float(t + rng.integers(-20, 21)) for t in range(FIRST_SAMPLE, END - 60, SAMPLE_EVERY)]
    assert all(b > a for a, b in itertools.pairwise(times))
    cpu = counter(times, lambda t: 0.25)
    memory = working_set(times)

    def skewed(s: Samples) -> Samples:
        order = list(rng.permutation(len(s.times)))
        order += [int(i) for i in rng.choice(len(s.times), size=len(s.times) // 20, replace=False)]
        order = [order[int(i)] for i in rng.permutation(len(order))]
        return Samples([s.times[i] for i in order], [s.values[i] for i in order])

    messy_cpu, messy_memory = skewed(cpu), skewed(memory)
    assert len(set(messy_cpu.times)) < len(messy_cpu.times) and messy_cpu.times != sorted(messy_cpu.times)
    messy, clean = tmp_path / "messy.om", tmp_path / "clean.om"
    messy.write_text(snapshot_text(messy_cpu, messy_memory))
    clean.write_text(snapshot_text(cpu, memory))

    want, got = expected(cpu, memory), fetched(messy)
    assert_same_series(got.cpu_m, want.cpu_m)
    assert_same_series(got.memory_bytes, want.memory_bytes)
    assert not np.isnan(got.cpu_m).any() and not np.isnan(got.memory_bytes).any()

    from_messy, from_clean = plan_usage(web_repo, messy), plan_usage(web_repo, clean)
    assert from_messy == from_clean
    assert from_messy["usage"]["cpu_m"] == stats(want.cpu_m)
    assert from_messy["usage"]["memory_bytes"] == stats(want.memory_bytes)
    assert from_messy["usage"]["samples"] == 1152
