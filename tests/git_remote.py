"""Real git repositories for the pull-request tests: a source tree committed and pushed to a bare
``origin`` in a temp dir, and a fresh clone of it to run gitbot in."""

from __future__ import annotations

from pathlib import Path

import git


def clone_of_new_origin(source: Path, tmp_path: Path, message: str) -> tuple[Path, Path]:
    """Commit everything in ``source`` on ``main``, push it to a new bare ``origin.git`` under
    ``tmp_path`` and clone that to ``tmp_path/work``; (work, remote)."""
    repo = git.Repo.init(source, initial_branch="main")
    repo.git.add(A=True)
    actor = git.Actor("Platform Team", "platform@example.com")
    repo.index.commit(message, author=actor, committer=actor)
    remote = tmp_path / "origin.git"
    git.Repo.init(remote, bare=True, initial_branch="main")
    repo.create_remote("origin", str(remote))
    repo.git.push("origin", "main")
    work = tmp_path / "work"
    git.Repo.clone_from(str(remote), str(work))
    return work, remote
