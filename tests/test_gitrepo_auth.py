"""gitbot fetches and pushes with the token it was given, not the one the checkout left.

``actions/checkout`` writes the workflow's GITHUB_TOKEN into the repository's config as an
``http.<url>.extraheader``; pushes made with that token start no other workflow. A real git server
over smart HTTP (tests/git_http.py) records which token each request carried.
"""

from __future__ import annotations

from pathlib import Path

import git
import pytest

from git_http import GitHttpServer, basic
from gitbot.edit.changeset import ChangeSet, FileChange
from gitbot.errors import PublishError
from gitbot.publish.gitrepo import GitRepository, Identity

WORKFLOW, APP = "ghs_workflowtoken0001", "ghs_apptoken00000002"


@pytest.fixture
def served(tmp_path: Path) -> tuple[GitHttpServer, Path]:
    """A bare repository with one commit on main, served over HTTP, and a clone of it whose config
    carries the workflow token the way actions/checkout leaves it."""
    source = tmp_path / "source"
    source.mkdir()
    (source / "app.yaml").write_text("cpu: 100m\n")
    repo = git.Repo.init(source, initial_branch="main")
    repo.git.add(A=True)
    actor = git.Actor("t", "t@example.com")
    repo.index.commit("init", author=actor, committer=actor)
    root = tmp_path / "served"
    bare = root / "gitops.git"
    git.Repo.init(bare, bare=True, initial_branch="main")
    repo.git.push(str(bare), "main")
    server = GitHttpServer(root, {WORKFLOW, APP})
    work = tmp_path / "work"
    clone = git.Repo.init(work, initial_branch="main")
    url = server.url("gitops.git")
    clone.create_remote("origin", url)
    prefix = url.split("/gitops.git")[0] + "/"
    clone.git.config(f"http.{prefix}.extraheader", basic(WORKFLOW))
    clone.git.fetch("origin", "main")
    clone.git.checkout("-b", "main", "--track", "origin/main")
    yield server, work
    server.close()


def change(work: Path) -> ChangeSet:
    before = (work / "app.yaml").read_text()
    return ChangeSet((FileChange("app.yaml", before, "cpu: 50m\n"),), frozenset(), {}, {})


def test_the_push_carries_the_token_gitbot_was_given(served: tuple[GitHttpServer, Path]) -> None:
    server, work = served
    server.requests.clear()
    repo = GitRepository(work, identity=Identity(), token=APP)
    repo.fetch("main")
    pushed = repo.push(change(work), "gitbot/app", "main", "right-size", repo.branch_state("gitbot/app", "main"))
    assert pushed.changed
    assert {r.token for r in server.requests} == {APP}
    assert any(r.method == "POST" and r.path.endswith("/git-receive-pack") for r in server.requests)
    bare = git.Repo(server.root / "gitops.git")
    assert bare.commit("gitbot/app").tree["app.yaml"].data_stream.read() == b"cpu: 50m\n"
    # the repository's own config is untouched: the checkout's header is still the workflow token
    assert git.Repo(work).git.config("--get-regexp", "extraheader").endswith(basic(WORKFLOW))


def test_without_a_token_the_checkout_credentials_are_used(served: tuple[GitHttpServer, Path]) -> None:
    server, work = served
    server.requests.clear()
    GitRepository(work).fetch("main")
    assert {r.token for r in server.requests} == {WORKFLOW}


def test_a_refused_token_is_a_publish_error_without_the_token(served: tuple[GitHttpServer, Path]) -> None:
    server, work = served
    with pytest.raises(PublishError) as info:
        GitRepository(work, token="ghs_revoked000000003").fetch("main")
    assert str(info.value).startswith("git fetch failed: ")
    assert "ghs_revoked000000003" not in str(info.value)
