"""gitbot review against real git (a clone of a bare origin) and the local GitHub stand-in.

What a review posts is asserted from the stand-in's request log: the review's ``commit_id`` and each
comment's ``path``/``line``/``start_line``/``side`` and exact suggestion. A suggestion is committed the
way GitHub's "Commit suggestion" does (the commented lines of the head file replaced) and read back.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path
from typing import Any, Iterator

import pytest

git = pytest.importorskip("git")

from click.testing import CliRunner  # noqa: E402
from git_remote import clone_of_new_origin  # noqa: E402
from github_standin import GitHubStandIn  # noqa: E402

from gitbot.cli import main  # noqa: E402
from gitbot.edit.splice import Splice  # noqa: E402
from gitbot.errors import EXIT_INPUT, InputError  # noqa: E402
from gitbot.pipeline import PlanRequest, PullRequestRun, ReviewOutcome, plan, review  # noqa: E402
from gitbot.publish.review import (  # noqa: E402
    SUMMARY_MARKER,
    Finding,
    changed_file,
    check_suggestion,
    placeable,
    suggestions,
)
from gitbot.yamldoc import parse_yaml  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
DEMO = ROOT / "fixtures" / "demo-repo"
METRICS = ROOT / "fixtures" / "demo-metrics.om.gz"
TOKEN = "ghs_s3cr3tT0kenValue"
CART = "apps/cart/deployment.yaml"
RESIZER = "apps/image-resizer/deployment.yaml"
REVIEW_BODY = "gitbot sized the resources this pull request changes; details in the comments."
CART_USAGE = ("Usage: 8064 samples over 14d from 2 pods (100% coverage); CPU: daily cycle (autocorrelation 0.90), "
              "median level 80m; model alone: sMAPE 5.0% vs 5.2% for ½(model + a day earlier) on the last 5 days; "
              "memory: median level 143.41Mi; model alone: sMAPE 3.3% vs 3.7% for ½(model + a day earlier) on the last 5 days.")
# cart as the demo writes its resources (lines 19-23)
CART_RESOURCES = "          requests:\n            memory: 256Mi\n          limits:\n            memory: 512Mi\n"


@pytest.fixture
def github() -> Iterator[GitHubStandIn]:
    with GitHubStandIn("acme/gitops", token=TOKEN) as gh:
        yield gh


@pytest.fixture
def work(tmp_path: Path) -> Path:
    """A clone of a bare ``origin`` whose main holds the demo repo."""
    source = tmp_path / "source"
    shutil.copytree(DEMO, source)
    return clone_of_new_origin(source, tmp_path, "demo")[0]


def push_as_alice(work: Path, branch: str) -> str:
    """Commit everything as Alice and push it to ``branch``; the commit's sha."""
    repo = git.Repo(work)
    repo.git.add(A=True)
    actor = git.Actor("Alice", "alice@example.com")
    commit = repo.index.commit(f"edit {branch}", author=actor, committer=actor)
    repo.git.push("origin", f"HEAD:{branch}")
    return commit.hexsha


def edit(work: Path, file: str, old: str, new: str) -> None:
    path = work / file
    text = path.read_text()
    assert text.count(old) == 1, old
    path.write_text(text.replace(old, new))


def open_pull(work: Path, github: GitHubStandIn, file: str, old: str, new: str, *, main: tuple[str, str] | None = None) -> tuple[int, str]:
    """Alice's pull request from ``alice/x`` that replaces ``old`` by ``new`` in ``file`` (after
    ``main``, a replacement pushed to main first); the checkout is left at its head, as
    actions/checkout does with ``ref: ${{ github.event.pull_request.head.sha }}``. (number, head sha)"""
    repo = git.Repo(work)
    if main is not None:
        edit(work, file, *main)
        push_as_alice(work, "main")
        repo.git.fetch("origin")
    repo.git.checkout("-b", "alice/x")
    edit(work, file, old, new)
    head = push_as_alice(work, "alice/x")
    patch = repo.git.diff("origin/main", "HEAD", "--", file).split("\n@@", 1)[1]
    number = github.add_pull("alice/x", title="resources", user="alice", head_sha=head)
    github.set_files(number, [{"filename": file, "patch": "@@" + patch}])
    return number, head


def review_run(work: Path, github: GitHubStandIn, number: int) -> ReviewOutcome:
    run = PullRequestRun(repository="acme/gitops", api_url=github.base_url, token=TOKEN, throttle=False)
    return review(PlanRequest(repo=work, metrics_file=METRICS), run, number)


def posted_review(github: GitHubStandIn) -> Any:
    """The body of the one review POST."""
    (request,) = [r for r in github.requests if r.method == "POST" and r.path.endswith("/reviews")]
    return request.body


def commit_suggestion(head: str, comment: dict[str, Any]) -> str:
    """``head`` with the comment's suggestion committed: lines start_line (else line) .. line replaced."""
    lines = head.splitlines(keepends=True)
    (suggested,) = re.findall(r"```suggestion\n(.*?)\n```", comment["body"], re.DOTALL)
    first = comment.get("start_line", comment["line"])
    return "".join(lines[: first - 1]) + suggested + "\n" + "".join(lines[comment["line"]:])


def data(text: str) -> list[Any]:
    return [d.data for d in parse_yaml(text, "x.yaml")]


def gitbots_edit(work: Path, file: str) -> tuple[str, str]:
    """(before, after) of gitbot's edit of ``file`` when it plans the checkout."""
    result, _ = plan(PlanRequest(repo=work, metrics_file=METRICS))
    (change,) = [c for c in result.changes.files if c.path == file]
    return change.before, change.after


# -- suggestions from gitbot's own edit ----------------------------------------------------------


def test_a_changed_cpu_request_gets_a_suggestion_that_reads_as_gitbots_edit(work, github) -> None:
    """Alice raises image-resizer's CPU request to 300m (line 21); gitbot would write 370m there. The
    review is on her head commit and the suggestion replaces exactly line 21: committed, the file
    reads as her head with gitbot's CPU request, the one value of gitbot's edit on her lines (the
    memory values it also changes are on lines she did not write)."""
    number, head = open_pull(work, github, RESIZER, "cpu: 200m", "cpu: 300m")
    outcome = review_run(work, github, number)
    assert (outcome.findings, outcome.comments, outcome.in_summary, outcome.summary) == (1, 1, 0, "created")
    assert posted_review(github) == {
        "body": f'<!-- gitbot:review ["79173091b5ee"] -->\n{REVIEW_BODY}',
        "event": "COMMENT",
        "commit_id": head,
        "comments": [{
            "path": RESIZER, "line": 21, "side": "RIGHT",
            "body": "**gitbot** for `shop/Deployment/image-resizer` `resizer`: cpu req 300m → 370m (p97 of the 7-day forecast 370m). "
                    "Usage: 8064 samples over 14d from 2 pods (100% coverage); CPU: median level 124m; model alone: sMAPE 16.5% "
                    "vs 21.0% for ½(model + a day earlier) on the last 5 days; memory: median level 186.84Mi; model alone: "
                    "sMAPE 18.4% vs 19.5% for ½(model + a day earlier) on the last 5 days; 14 OOM kills at 256Mi.\n\n"
                    "```suggestion\n              cpu: 370m\n```",
        }],
    }
    (stored,) = github.reviews[number]
    assert stored.commit_id == head
    before, after = gitbots_edit(work, RESIZER)
    assert before == (work / RESIZER).read_text()
    committed = commit_suggestion(before, posted_review(github)["comments"][0])
    assert committed == before.replace("cpu: 300m", "cpu: 370m")
    assert "              cpu: 370m\n" in after
    ((resources,),) = [[c["resources"] for c in d["spec"]["template"]["spec"]["containers"]] for d in data(committed)]
    ((edited,),) = [[c["resources"] for c in d["spec"]["template"]["spec"]["containers"]] for d in data(after)]
    assert resources["requests"]["cpu"] == edited["requests"]["cpu"] == "370m"


def test_a_request_only_container_gets_cpu_and_a_limits_block_in_one_suggestion(work, github) -> None:
    """The issue's case: Alice leaves cart with ``requests: {memory: 300Mi}`` only. gitbot adds a
    CPU request above it and a limits block after it; the suggestion on line 21 holds exactly those
    lines, and committed it gives gitbot's edited file, text and data (no second ``limits:``)."""
    number, head = open_pull(work, github, CART, CART_RESOURCES, "          requests:\n            memory: 300Mi\n")
    review_run(work, github, number)
    assert posted_review(github)["commit_id"] == head
    (comment,) = posted_review(github)["comments"]
    assert comment == {
        "path": CART, "line": 21, "side": "RIGHT",
        "body": "**gitbot** for `shop/Deployment/cart` `cart`: cpu req — → 155m (p97 of the 7-day forecast 154m); mem req 300Mi → 160Mi "
                f"(p99 of the 7-day forecast 159.61Mi, no margin: the limit covers the peak). {CART_USAGE}\n\n"
                "```suggestion\n            cpu: 155m\n            memory: 160Mi\n          limits:\n            memory: 256Mi\n```",
    }
    before, after = gitbots_edit(work, CART)
    committed = commit_suggestion(before, comment)
    assert committed == after and data(committed) == data(after)


def test_a_memory_request_above_a_cpu_only_limits_block_is_not_paired_with_the_new_limit(work, github) -> None:
    """Main has ``requests: {memory: 128Mi}`` and ``limits: {cpu: "1"}``; Alice sets the request to
    256Mi, the memory limit gitbot writes. A line diff of gitbot's edit pairs her request line with
    the new limit line and suggests, on line 21, the lines up to that limit: committed, the old
    ``limits:`` stays below and the key is there twice. From the splices, line 21 gets the request
    lines only, and the check refuses the line-diff suggestion before anything is posted."""
    requests_128 = "          requests:\n            memory: 128Mi\n          limits:\n            cpu: \"1\"\n"
    number, head = open_pull(work, github, CART, "memory: 128Mi", "memory: 256Mi", main=(CART_RESOURCES, requests_128))
    review_run(work, github, number)
    body = posted_review(github)
    assert body["commit_id"] == head
    assert [(c["path"], c["line"], c.get("start_line"), c["side"]) for c in body["comments"]] == [(CART, 21, None, "RIGHT")]
    (comment,) = body["comments"]
    assert comment["body"].endswith("\n\n```suggestion\n            cpu: 155m\n            memory: 160Mi\n```")
    before, after = gitbots_edit(work, CART)
    committed = commit_suggestion(before, comment)
    assert committed == before.replace("            memory: 256Mi\n", "            cpu: 155m\n            memory: 160Mi\n")
    assert data(committed)  # parses: every key once
    assert after.endswith('          limits:\n            cpu: "500m"\n            memory: 256Mi\n')  # the rest of gitbot's edit: line 23

    from gitbot.publish.review import Suggestion

    # what the line diff suggested on line 21, and what committing it would leave
    paired = Suggestion(21, 21, ("            cpu: 155m", "            memory: 160Mi", "          limits:", '            cpu: "500m"',
                                 "            memory: 256Mi"), ())
    why = check_suggestion(paired, CART, before, before)
    assert why is not None and why.startswith('committed, it would not parse (') and 'found duplicate key "limits"' in why


def test_every_suggestion_of_a_file_committed_together_gives_gitbots_edit(work, github) -> None:
    """Alice raises both memory values of cart (lines 21 and 23): two suggestions, each committed
    alone reads back, and both together are gitbot's edited file."""
    number, _ = open_pull(work, github, CART, CART_RESOURCES, CART_RESOURCES.replace("256Mi", "1Gi").replace("512Mi", "2Gi"))
    review_run(work, github, number)
    comments = posted_review(github)["comments"]
    assert [(c["line"], c.get("start_line")) for c in comments] == [(21, None), (23, None)]
    before, after = gitbots_edit(work, CART)
    assert all(data(commit_suggestion(before, c)) for c in comments)
    assert commit_suggestion(commit_suggestion(before, comments[1]), comments[0]) == after


# -- the head commit ------------------------------------------------------------------------------


def cli(work: Path, github: GitHubStandIn, number: int) -> tuple[int, str, str]:
    runner = CliRunner(env={"GITBOT_RENDER_CACHE": "off", "GITBOT_GITHUB_TOKEN": TOKEN, "GITHUB_TOKEN": None})
    result = runner.invoke(main, ["review", str(work), "--pr", str(number), "--metrics-file", str(METRICS), "--repo", "acme/gitops",
                                  "--github-url", github.base_url], catch_exceptions=False)
    return result.exit_code, result.stdout, result.stderr


def test_a_merge_commit_checkout_is_refused_naming_both_commits(work, github) -> None:
    """actions/checkout's default for pull_request events is the merge of the pull request into its
    base. Once main has moved, its lines are not the head's: gitbot refuses (exit 2) before planning
    and writes nothing."""
    number, head = open_pull(work, github, CART, "memory: 512Mi", "memory: 2Gi")
    repo = git.Repo(work)
    repo.git.checkout("main")
    edit(work, RESIZER, "replicas: 2", "replicas: 3")  # main moves on
    push_as_alice(work, "main")
    repo.git.checkout("--detach", "main")
    repo.git.merge("--no-ff", "-m", f"Merge {head} into main", "alice/x")
    merge = repo.head.commit.hexsha
    assert [p.hexsha for p in repo.head.commit.parents][1] == head
    code, out, err = cli(work, github, number)
    assert (code, out) == (EXIT_INPUT, "")
    assert err == (
        f"gitbot: error: {work.resolve()}: HEAD is {merge}, the merge of pull request #{number} into main, not its head {head}: "
        "review comments refer to the head's lines; check out the head commit "
        "(in GitHub Actions: actions/checkout with ref: ${{ github.event.pull_request.head.sha }})\n"
    )
    assert github.calls() == ["GET /repos/acme/gitops", f"GET /repos/acme/gitops/pulls/{number}", f"GET /repos/acme/gitops/pulls/{number}/files"]


def test_a_checkout_behind_the_head_is_refused(work, github) -> None:
    """Alice pushed again after the checkout was made: the review would name lines of an older commit."""
    number, first = open_pull(work, github, CART, "memory: 512Mi", "memory: 2Gi")
    edit(work, CART, "memory: 2Gi", "memory: 3Gi")
    second = push_as_alice(work, "alice/x")
    github.push_head(number, second)
    git.Repo(work).git.checkout("--detach", first)
    with pytest.raises(InputError) as info:
        review_run(work, github, number)
    assert str(info.value) == (
        f"{work.resolve()}: HEAD is {first}, not the head of pull request #{number} ({second}): review comments refer to the head's "
        "lines; check out the head commit (in GitHub Actions: actions/checkout with ref: ${{ github.event.pull_request.head.sha }})"
    )
    assert info.value.exit_code == EXIT_INPUT == 2


# -- when nothing is posted -------------------------------------------------------------------------


def test_an_image_only_pull_request_gets_no_summary_and_no_review(work, github) -> None:
    """YAML changes, no resources: nothing to say, so nothing is posted; a summary an earlier run
    posted (when the pull request still changed resources) is brought up to date, not left saying so."""
    number, head = open_pull(work, github, RESIZER, "image-resizer:0.8.2", "image-resizer:0.9.0")
    outcome = review_run(work, github, number)
    assert (outcome.findings, outcome.comments, outcome.summary) == (0, 0, "")
    assert github.calls() == [
        "GET /repos/acme/gitops", f"GET /repos/acme/gitops/pulls/{number}", f"GET /repos/acme/gitops/pulls/{number}/files",
        f"GET /repos/acme/gitops/issues/{number}/comments",
    ]
    assert github.reviews == {} and github.comments == {}

    earlier = github.add_comment(number, f"{SUMMARY_MARKER}\n## gitbot: resources in this pull request\n\nAs written, ...")
    github.clear_requests()
    assert review_run(work, github, number).summary == "updated"
    assert [c for c in github.calls() if not c.startswith("GET")] == [f"PATCH /repos/acme/gitops/issues/comments/{earlier}"]
    (summary,) = github.comments[number]
    assert summary.body == (
        f"{SUMMARY_MARKER}\n## gitbot: resources in this pull request\n\n"
        "This pull request does not change any container's resources that gitbot can size.\n\n"
        f"0 suggestion(s) for the lines this pull request adds.\n\n<sub>Checked at {head[:12]}.</sub>\n"
    )


@pytest.mark.parametrize(("branch", "body"), [
    ("gitbot/apps-cart", "Right-size apps/cart"),
    ("alice/rebased", '<!-- gitbot:pr {"fingerprint": "0123", "scope": "apps-cart"} -->\nrebased by hand'),
])
def test_gitbots_own_pull_requests_get_nothing(work, github, branch, body) -> None:
    """Its own branches, or a body with its marker: the numbers are gitbot's already. Nothing is
    planned or checked (the checkout is not even the head) and nothing is written."""
    number = github.add_pull(branch, title="gitbot: right-size apps/cart", body=body)
    github.set_files(number, [{"filename": CART, "patch": "@@ -23 +23 @@\n-            memory: 512Mi\n+            memory: 256Mi"}])
    code, out, err = cli(work, github, number)
    assert (code, out, err) == (0, f"gitbot: #{number}: gitbot's own pull request ({branch}); not reviewed\n", "")
    assert github.calls() == ["GET /repos/acme/gitops", f"GET /repos/acme/gitops/pulls/{number}", f"GET /repos/acme/gitops/pulls/{number}/files"]


# -- suggestions, line by line --------------------------------------------------------------------

RESOURCES = "r:\n  requests:\n    memory: 1Gi\n  limits:\n    memory: 2Gi\nnext: 1\n"


def test_inserted_lines_go_with_the_sibling_below_or_the_line_above() -> None:
    """``cpu`` inserted above its sibling ``memory`` rewrites the memory line; a block after the last
    line of a mapping (a new limit) rewrites that last line. Each suggestion is whole lines."""
    line_3, value, line_6 = RESOURCES.index("    memory: 1Gi"), RESOURCES.index("1Gi"), RESOURCES.index("next")
    splices = [
        Splice(line_3, line_3, "    cpu: 155m\n"),  # above line 3, a sibling at the same indentation
        Splice(value, value + 3, "181Mi"),
        Splice(line_6, line_6, "    cpu: 500m\n"),  # after line 5, above a line less indented
    ]
    got = [(s.first, s.last, s.lines) for s in suggestions(RESOURCES, splices)]
    assert got == [(3, 3, ("    cpu: 155m", "    memory: 181Mi")), (5, 5, ("    memory: 2Gi", "    cpu: 500m"))]


@pytest.mark.parametrize(("text", "splice", "expected"), [
    # a flow mapping's new entry, inside the line
    ("r: {memory: 1Gi}\n", lambda t: Splice(t.index("memory"), t.index("memory"), "cpu: 1, "), (1, 1, ("r: {cpu: 1, memory: 1Gi}",))),
    # a last line without a newline
    ("r:\n  memory: 1Gi", lambda t: Splice(len(t), len(t), "\n  cpu: 1"), (2, 2, ("  memory: 1Gi", "  cpu: 1"))),
    # after the last line
    ("r:\n  memory: 1Gi\n", lambda t: Splice(len(t), len(t), "  cpu: 1\n"), (2, 2, ("  memory: 1Gi", "  cpu: 1"))),
    # CRLF: the lines come without their \r
    ("r:\r\n  memory: 1Gi\r\n", lambda t: Splice(t.index("1Gi"), t.index("1Gi") + 3, "2Gi"), (2, 2, ("  memory: 2Gi",))),
    # a comment below the insertion point is not a sibling
    ("r:\n  memory: 1Gi\n  # cpu: later\n", lambda t: Splice(t.index("  #"), t.index("  #"), "  cpu: 1\n"),
     (2, 2, ("  memory: 1Gi", "  cpu: 1"))),
])
def test_one_splice_as_whole_lines(text: str, splice: Any, expected: tuple[int, int, tuple[str, ...]]) -> None:
    (s,) = suggestions(text, [splice(text)])
    assert (s.first, s.last, s.lines) == expected
    assert check_suggestion(s, "x.yaml", text, text) is None


def test_a_suggestion_over_several_lines_is_a_multi_line_comment_inside_one_hunk() -> None:
    """A splice that spans lines (a plain scalar folded over two) is one suggestion from its first to
    its last line: ``start_line`` and ``line``, both on the new side, both in one hunk."""
    text = "a: 1\nb: one\n  two\nc: 3\n"
    (s,) = suggestions(text, [Splice(text.index("one"), text.index("two") + 3, "three")])
    assert (s.first, s.last, s.lines) == (2, 3, ("b: three",))
    assert check_suggestion(s, "x.yaml", text, text) is None
    finding = Finding("x.yaml", s.last, "w", "c", "note", s.text(), "k", s.first)
    assert finding.comment() == {"path": "x.yaml", "line": 3, "side": "RIGHT", "start_line": 2, "start_side": "RIGHT",
                                 "body": "note\n\n```suggestion\nb: three\n```"}
    inside = changed_file("x.yaml", "@@ -1,4 +1,4 @@\n a: 1\n-b: 1\n+b: one\n   two\n c: 3")
    split = changed_file("x.yaml", "@@ -1,2 +1,2 @@\n a: 1\n-b: 1\n+b: one\n@@ -3 +3 @@\n-  too\n+  two")
    assert placeable([finding], [inside], set()) == ([finding], [])
    assert placeable([finding], [split], set()) == ([], [Finding("x.yaml", 3, "w", "c", "note", "b: three", "k", 2, "outside the diff")])


def test_a_suggestion_that_does_not_read_as_the_edit_is_held_back() -> None:
    """The head file is not what gitbot planned (the checkout had local changes): the suggestion for
    its line would write something else there, so it is not offered."""
    text = "r:\n  memory: 1Gi\n"
    (s,) = suggestions(text, [Splice(text.index("1Gi"), text.index("1Gi") + 3, "2Gi")])
    assert check_suggestion(s, "x.yaml", text, "r:\n  memory: 1Gi\n") is None
    assert check_suggestion(s, "x.yaml", text, "q:\n  memory: 1Gi\n") == (
        "committed on the pull request's head, it would not read as gitbot's edit")
    assert check_suggestion(s, "x.yaml", text, None) == "the file is not in the pull request's head commit"
    assert check_suggestion(s, "x.yaml", text, "r: 1\n") == "the head file has 1 lines, the suggestion is for lines 2-2"


def test_the_suggestions_of_every_demo_edit_together_are_the_edit() -> None:
    """Over every file the demo plan edits (manifests, values files, overlay patches, a
    kustomization): all suggestions of a file committed together give exactly gitbot's text, and
    each one alone reads back as its own splices do."""
    result, _ = plan(PlanRequest(repo=DEMO, metrics_file=METRICS))
    edited = [c for c in result.changes.files if not c.created]
    assert len(edited) > 10
    for change in edited:
        assert change.spliced(), change.path
        found = suggestions(change.before, change.splices)
        lines = change.before.splitlines(keepends=True)
        for s in reversed(found):
            assert check_suggestion(s, change.path, change.before, change.before) is None, (change.path, s.first)
            ending = lines[s.last - 1][len(lines[s.last - 1].rstrip("\r\n")):]
            lines[s.first - 1:s.last] = [line + (ending or "\n") for line in s.lines[:-1]] + [s.lines[-1] + ending]
        assert "".join(lines) == change.after, change.path


def test_documents_appended_to_a_patch_file_are_one_more_splice() -> None:
    """An overlay patch file gitbot made earlier gets documents appended after its value edits: the
    append is a splice at the end of the file, so it is a suggestion on the last line."""
    from gitbot.edit.changeset import FileChange, _with_appends

    text = "kind: A\nspec:\n  cpu: 1"  # no newline at the end
    one = text.index("1")
    edited = FileChange("p.yaml", text, "kind: A\nspec:\n  cpu: 2", splices=(Splice(one, one + 1, "2"),))
    (change,) = _with_appends([edited], {"p.yaml": (text, "kind: B\n")})
    assert change.after == "kind: A\nspec:\n  cpu: 2\n---\nkind: B\n" and change.spliced()
    (s,) = suggestions(change.before, change.splices)
    assert (s.first, s.last, s.lines) == (3, 3, ("  cpu: 2", "---", "kind: B"))
    assert check_suggestion(s, "p.yaml", change.before, change.before) is None
    (fresh,) = _with_appends([], {"q.yaml": ("kind: A\n", "kind: B\n")})
    assert fresh.after == "kind: A\n---\nkind: B\n" and fresh.spliced()
    assert [(s.first, s.last, s.lines) for s in suggestions(fresh.before, fresh.splices)] == [(1, 1, ("kind: A", "---", "kind: B"))]
