"""The git side of a pull request: a commit on ``gitbot/<scope>`` pushed to the remote.

The user's checkout is never modified: the commit is made in a temporary worktree checked out at
``<remote>/<base>``, then pushed. A branch that holds only gitbot's commits is replaced (force, with
a lease on the head gitbot saw); a branch someone else pushed to is left alone and reported, so a
person's work is never overwritten. Pushing the same edits onto the same base again is a no-op.
"""

from __future__ import annotations

import base64
import contextlib
import os
import tempfile
import urllib.parse
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

from gitbot.edit.changeset import ChangeSet, write_changes
from gitbot.errors import GitbotError, InputError, PublishError, redact_urls


@dataclass(frozen=True)
class Identity:
    name: str = "gitbot[bot]"
    email: str = "gitbot[bot]@users.noreply.github.com"


@dataclass(frozen=True)
class BranchState:
    exists: bool
    head: str | None  # commit sha on the remote
    foreign: tuple[str, ...]  # "sha author <email>" of commits on it that gitbot did not make


@dataclass(frozen=True)
class Pushed:
    commit: str
    changed: bool  # False: the branch already held exactly this commit's content on this base


def _auth_env(url: str, token: str | None) -> dict[str, str] | None:
    """git config, as environment, that sends ``token`` to ``url``'s host (GitHub's form: basic
    ``x-access-token:<token>``). The empty value first clears the headers a config file set for
    that URL prefix (git's rule for ``http.extraHeader``)."""
    parts = urllib.parse.urlsplit(url)
    if not token or parts.scheme not in ("http", "https") or not parts.hostname:
        return None
    host = parts.hostname + (f":{parts.port}" if parts.port else "")
    key = f"http.{parts.scheme}://{host}/.extraheader"
    header = "AUTHORIZATION: basic " + base64.b64encode(f"x-access-token:{token}".encode()).decode()
    env = {"GIT_CONFIG_COUNT": "2", "GIT_CONFIG_KEY_0": key, "GIT_CONFIG_VALUE_0": "", "GIT_CONFIG_KEY_1": key,
           "GIT_CONFIG_VALUE_1": header, "GIT_TERMINAL_PROMPT": "0"}
    return {**os.environ, **env}


def remote_urls(path: Path) -> tuple[str, ...]:
    """The URLs of every remote of the git repository that holds ``path``; () outside one."""
    try:
        import git

        repo = git.Repo(path, search_parent_directories=True)
        return tuple(url for remote in repo.remotes for url in remote.urls)
    except Exception:  # not a repository, no git, a broken config: the URLs are just unknown
        return ()


class GitRepository:
    """The user's repository and its remote. With ``token``, every fetch and push over http(s)
    authenticates with it, in place of whatever credentials the checkout left in the repository's
    config (``actions/checkout`` leaves an ``extraheader`` with the workflow's GITHUB_TOKEN: pushes
    made with that token start no workflows, an App token's do). The token travels in git's
    environment (``GIT_CONFIG_*``), never on a command line another process could read."""

    def __init__(self, path: Path, remote: str = "origin", identity: Identity = Identity(), token: str | None = None) -> None:
        try:
            import git
        except ImportError as exc:  # pragma: no cover - a declared dependency
            raise InputError(f"GitPython is not importable: {exc}") from None
        self._git = git
        try:
            self.repo = git.Repo(path, search_parent_directories=True)
        except (git.InvalidGitRepositoryError, git.NoSuchPathError):
            raise InputError(f"{path}: not inside a git repository") from None
        self.root = Path(self.repo.working_tree_dir or path).resolve()
        self.prefix = Path(path).resolve().relative_to(self.root).as_posix()  # PATH inside the repository
        self.remote = remote
        self.identity = identity
        if remote not in [r.name for r in self.repo.remotes]:
            raise InputError(f"{self.root}: no git remote named {remote!r}")
        self._env = _auth_env(next(iter(self.repo.remote(remote).urls), ""), token)

    def check_clean(self) -> None:
        """Refuse a checkout with uncommitted changes to tracked files: the plan would read them."""
        if self.repo.is_dirty(untracked_files=False):
            changed = sorted({d.a_path for d in self.repo.index.diff(None)} | {d.a_path for d in self.repo.index.diff("HEAD")})
            raise InputError(
                f"{self.root}: uncommitted changes ({', '.join(changed[:3])}{' ...' if len(changed) > 3 else ''}); "
                "commit or stash them, or pass --allow-dirty"
            )

    def fetch(self, base: str) -> str:
        """Fetch ``base`` from the remote; the sha it points at."""
        self._run("fetch", "--quiet", self.remote, f"+refs/heads/{base}:refs/remotes/{self.remote}/{base}")
        return self.repo.commit(f"{self.remote}/{base}").hexsha

    def branch_state(self, branch: str, base: str) -> BranchState:
        listed = self._run("ls-remote", "--heads", self.remote, f"refs/heads/{branch}")
        if not listed.strip():
            return BranchState(False, None, ())
        head = listed.split()[0]
        self._run("fetch", "--quiet", self.remote, f"+refs/heads/{branch}:refs/remotes/{self.remote}/{branch}")
        foreign = tuple(
            f"{c.hexsha[:12]} {c.author.name} <{c.author.email}>"
            for c in self.repo.iter_commits(f"{self.remote}/{base}..{self.remote}/{branch}")
            if (c.author.email, c.committer.email) != (self.identity.email, self.identity.email)
        )
        return BranchState(True, head, foreign)

    def push(self, changes: ChangeSet, branch: str, base: str, message: str, state: BranchState) -> Pushed:
        """Commit ``changes`` on top of ``<remote>/<base>`` and push it to ``branch``."""
        if state.foreign:
            raise PublishError(f"{branch} has commits gitbot did not make; not pushing")  # callers check first
        base_sha = self.repo.commit(f"{self.remote}/{base}").hexsha
        with tempfile.TemporaryDirectory(prefix="gitbot-worktree-") as tmp:
            work = Path(tmp, "tree")
            self._run("worktree", "add", "--detach", "--quiet", str(work), base_sha)
            try:
                tree = self._git.Repo(work)
                target = work / self.prefix if self.prefix != "." else work
                try:
                    write_changes(changes, target)
                except InputError as exc:
                    raise InputError(
                        f"the checkout differs from {self.remote}/{base} ({exc}); run gitbot pr on an up-to-date {base}"
                    ) from None
                paths = [str(Path(self.prefix, c.path)) if self.prefix != "." else c.path for c in changes.files]
                tree.git.add("--", *paths)
                actor = self._git.Actor(self.identity.name, self.identity.email)
                commit = tree.index.commit(message, author=actor, committer=actor, parent_commits=[tree.commit(base_sha)])
                if state.head is not None:
                    old = self.repo.commit(state.head)
                    if old.tree.hexsha == commit.tree.hexsha and [p.hexsha for p in old.parents] == [base_sha]:
                        return Pushed(state.head, False)
                lease = f"--force-with-lease=refs/heads/{branch}:{state.head or ''}"
                self._run_in(tree, "push", "--quiet", lease, self.remote, f"{commit.hexsha}:refs/heads/{branch}")
                return Pushed(commit.hexsha, True)
            finally:
                self._run("worktree", "remove", "--force", str(work))

    @contextlib.contextmanager
    def checkout_of(self, revision: str) -> Iterator[Path]:
        """A throwaway worktree at ``revision`` (fetched from the remote if it is not here yet);
        yields where PATH is inside it."""
        try:
            self.repo.commit(revision)
        except (ValueError, self._git.BadName):
            self._run("fetch", "--quiet", self.remote, revision)
        with tempfile.TemporaryDirectory(prefix="gitbot-worktree-") as tmp:
            work = Path(tmp, "tree")
            self._run("worktree", "add", "--detach", "--quiet", str(work), revision)
            try:
                yield work / self.prefix if self.prefix != "." else work
            finally:
                self._run("worktree", "remove", "--force", str(work))

    def _run(self, *args: str) -> str:
        return self._run_in(self.repo, *args)

    def _run_in(self, repo: object, *args: str) -> str:
        try:
            return str(repo.git.execute(["git", *args], with_extended_output=False, env=self._env))  # type: ignore[attr-defined]
        except self._git.GitCommandError as exc:
            detail = " ".join(str(exc.stderr or exc).split()).replace("stderr: ", "")
            raise PublishError(f"git {args[0]} failed: {redact_urls(detail)[:300]}") from None
        except GitbotError:
            raise
