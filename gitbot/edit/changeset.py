"""Recommendations -> verified text edits -> one ChangeSet for the run.

1. Every changed field of every ``change`` recommendation becomes an intent at its source location.
2. One location written for several targets (a Kustomize base used by two overlays) is edited only
   when they all want the same value; otherwise the changes move into per-overlay patches
   (``gitbot.edit.overlay``) where possible, else each becomes comment-only, with the values. A
   container that moves stops reading the shared places of the fields it changes, not of the ones
   it keeps: another overlay's edit there still needs its agreement.
3. Intents are spliced into the file text (``gitbot.edit.splice``), then the file is parsed again and
   compared with the original: exactly the intended values changed and nothing else, or the file is
   left alone and its recommendations become comment-only with the reason.
A container's fields are edited together or not at all, so a request never lands without its limit.
"""

from __future__ import annotations

import difflib
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping, Protocol, Sequence

from gitbot.edit.splice import CannotEdit, Splice, Tree, apply_splices, insert_fields, replace_scalar
from gitbot.errors import GitbotError, InputError, SourceError
from gitbot.model import Embedded, Field, Resource, Status, YamlPath
from gitbot.quantity import QuantityError, format_cpu, format_memory, parse_cpu_m, parse_memory_bytes
from gitbot.strategies.base import Recommendation
from gitbot.yamldoc import YamlDocument, YamlFile, embedded_yaml, parse_yaml, split_embedded

RecKey = tuple[str, str, str]  # (target name, workload id, container)


def rec_key(rec: Recommendation) -> RecKey:
    return (rec.workload.target.name, str(rec.workload.id), rec.container.name)


@dataclass(frozen=True)
class Intent:
    key: RecKey
    file: str
    doc_index: int
    path: YamlPath
    field: Field | None  # None: a companion value written as is (a preset's ephemeral-storage)
    value: int | None
    text: str  # the value as it will be written, in the file's idiom


@dataclass(frozen=True)
class FileChange:
    path: str
    before: str
    after: str
    created: bool = False  # a new file (before is "")
    # The splices (offsets in ``before``) that make ``after``: review suggestions are built from them,
    # so each replaces exactly the lines gitbot's edit replaces. () when not recorded (a new file).
    splices: tuple[Splice, ...] = field(default=(), compare=False, repr=False)

    def spliced(self) -> bool:
        """The recorded splices still make ``after``: a later step (a scheduling block) may have
        edited the text without them, and then they no longer tell which lines the edit replaces."""
        return bool(self.splices) and apply_splices(self.before, list(self.splices)) == self.after

    def diff(self) -> str:
        before = self.before.splitlines(keepends=True)
        after = self.after.splitlines(keepends=True)
        if self.created:
            return "".join(difflib.unified_diff(before, after, fromfile="/dev/null", tofile=f"b/{self.path}"))
        return _paired_diff(self.path, before, after)


def _paired_diff(path: str, before: list[str], after: list[str], context: int = 3) -> str:
    """A unified diff for edits that replace values and insert lines: lines are matched by what they
    hold before the value (indentation and key), so each changed value shows as its own -/+ pair and
    inserted lines as additions (a generic diff may pair an old limit with a new, equal request)."""
    rows = _aligned(before, after)
    changed = [i for i, (a, b) in enumerate(rows) if a != b]
    if not changed:
        return ""
    hunks: list[list[int]] = [[changed[0], changed[0]]]
    for i in changed[1:]:
        if i - hunks[-1][1] <= 2 * context:
            hunks[-1][1] = i
        else:
            hunks.append([i, i])
    out = [f"--- a/{path}\n", f"+++ b/{path}\n"]
    for first, last in hunks:
        lo, hi = max(0, first - context), min(len(rows), last + context + 1)
        old_start = sum(1 for a, _ in rows[:lo] if a is not None)
        new_start = sum(1 for _, b in rows[:lo] if b is not None)
        old_count = sum(1 for a, _ in rows[lo:hi] if a is not None)
        new_count = sum(1 for _, b in rows[lo:hi] if b is not None)
        out.append(f"@@ -{_range(old_start, old_count)} +{_range(new_start, new_count)} @@\n")
        i = lo
        while i < hi:
            a, b = rows[i]
            if a == b:
                out.append(" " + _with_newline(a or ""))
                i += 1
                continue
            j = i
            while j < hi and rows[j][0] != rows[j][1]:
                j += 1
            out.extend("-" + _with_newline(a) for a, _ in rows[i:j] if a is not None)
            out.extend("+" + _with_newline(b) for _, b in rows[i:j] if b is not None)
            i = j
    return "".join(out)


def _aligned(before: list[str], after: list[str]) -> list[tuple[str | None, str | None]]:
    """(old line, new line) rows; None where a line is only on one side."""
    matcher = difflib.SequenceMatcher(None, [_line_key(x) for x in before], [_line_key(x) for x in after], autojunk=False)
    rows: list[tuple[str | None, str | None]] = []
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag == "equal":
            rows.extend(zip(before[i1:i2], after[j1:j2]))
        else:
            rows.extend((line, None) for line in before[i1:i2])
            rows.extend((None, line) for line in after[j1:j2])
    return rows


def _line_key(line: str) -> str:
    """What a value edit leaves alone on a line: everything before its first ``:`` (or the whole line)."""
    text = line.rstrip("\r\n")
    return text.split(":", 1)[0] if ":" in text else text


def _range(start: int, count: int) -> str:
    """A hunk's line range as unified diffs write it (an empty range names the line before it)."""
    return f"{start + 1},{count}" if count else f"{start},0"


def _with_newline(line: str) -> str:
    return line if line.endswith("\n") else line + "\n\\ No newline at end of file\n"


@dataclass(frozen=True)
class ChangeSet:
    files: tuple[FileChange, ...]
    applied: frozenset[RecKey]
    downgraded: Mapping[RecKey, str]  # recommendations that became comment-only, and why
    written_text: Mapping[tuple[RecKey, Field], str]  # the text written for each applied field

    def diff(self) -> str:
        return "".join(change.diff() for change in self.files)


Verifier = Callable[[Sequence["FileChange"], frozenset[RecKey]], Mapping[RecKey, str]]


@dataclass(frozen=True)
class OverlayPlan:
    """How recommendations moved out of a shared base are written in their overlays."""

    files: list[FileChange]  # new patch files
    intents: list[Intent]  # values edited in place, fields and containers added to the overlays' patches, kustomization entries
    appends: dict[str, tuple[str, str]]  # existing gitbot patch file -> (its text, documents to append)
    written: dict[tuple[RecKey, Field], str]
    failures: dict[RecKey, str]
    sources: dict[str, YamlFile] = field(default_factory=dict)  # files the intents edit that the loader did not read


class Overlays(Protocol):
    """Moves a change out of a shared base into per-overlay patches (gitbot.edit.overlay)."""

    def eligible(self, rec: Recommendation) -> bool: ...

    def changes(self, recs: Sequence[Recommendation]) -> OverlayPlan: ...


def plan_changes(
    recs: Sequence[Recommendation], files: Mapping[str, YamlFile], verify: Verifier | None = None, overlays: Overlays | None = None,
    readers_of: Sequence[Recommendation] | None = None,
) -> ChangeSet:
    """``verify(changes, applied)``: recommendations whose edits fail a re-render check, and why.
    ``overlays``: where a shared base location needs different values, write overlay patches instead.
    ``readers_of``: every container that renders from the repository, when ``recs`` is a part of them
    (one pull request's scope): the others keep their values, so they count as readers of shared places."""
    intents = [i for rec in recs if rec.status is Status.CHANGE for i in _intents(rec)]
    by_key = {rec_key(rec): rec for rec in recs}
    readers = _readers(readers_of if readers_of is not None else recs)
    downgraded: dict[RecKey, str] = {}
    overlaid: set[RecKey] = set()
    while True:
        live = [i for i in intents if i.key not in downgraded and i.key not in overlaid]
        moved_reads = {(k, f) for k in overlaid for f in by_key[k].changed_fields}
        conflicts = _conflicts(live, readers, set(downgraded), files, ignore=moved_reads)
        if conflicts:
            movable = {k for k in conflicts if overlays is not None and overlays.eligible(by_key[k])}
            overlaid |= movable
            downgraded.update({k: why for k, why in conflicts.items() if k not in movable})
            continue
        moved = sorted(k for k in overlaid if k not in downgraded)
        extra = OverlayPlan([], [], {}, {}, {})
        if overlays is not None and moved:
            extra = overlays.changes([by_key[k] for k in moved])
            if extra.failures:
                downgraded.update(extra.failures)
                continue
        changes, failures = _apply_intents(live + extra.intents, {**files, **extra.sources} if extra.sources else files)
        if failures:
            downgraded.update(failures)
            continue
        changes = _with_appends(changes, extra.appends)
        changes = sorted([*changes, *extra.files], key=lambda c: c.path)
        applied = frozenset(i.key for i in live) | frozenset(moved)
        if verify is not None and changes:
            rejected = verify(changes, applied)
            if rejected:
                downgraded.update(rejected)
                continue
        written = {(i.key, i.field): i.text for i in live + extra.intents if i.field is not None} | extra.written
        return ChangeSet(tuple(changes), applied, downgraded, written)


def _with_appends(changes: list[FileChange], appends: Mapping[str, tuple[str, str]]) -> list[FileChange]:
    """Documents appended to an existing patch file, after any value edited in it."""
    out = []
    for change in changes:
        extra = appends.get(change.path)
        out.append(_appended(change, extra[1]) if extra else change)
    edited = {c.path for c in changes}
    out.extend(_appended(FileChange(path, text, text, splices=()), docs) for path, (text, docs) in sorted(appends.items())
               if path not in edited)
    return out


def _appended(change: FileChange, documents: str) -> FileChange:
    """``change`` with ``documents`` appended; the append is one more splice at the end of ``before``."""
    after = _append(change.after, documents)
    end = len(change.before)
    return FileChange(change.path, change.before, after, splices=(*change.splices, Splice(end, end, after[len(change.after):])))


def _append(text: str, documents: str) -> str:
    newline = "\r\n" if "\r\n" in text else "\n"
    body = text if text.endswith("\n") or not text else text + newline
    return body + "---" + newline + documents.replace("\n", newline)


def write_changes(changes: ChangeSet, repo: Path) -> None:
    """Write every changed file or none: temp files first, then renames; undo on failure."""
    staged: list[tuple[Path, Path, FileChange]] = []
    try:
        for change in changes.files:
            target = repo / change.path
            current = target.read_bytes().decode("utf-8") if target.exists() else None
            if current != (None if change.created else change.before):
                raise InputError(f"{change.path}: changed on disk while gitbot was planning; nothing written")
            handle, tmp = tempfile.mkstemp(prefix=".gitbot-", dir=target.parent)
            staged.append((Path(tmp), target, change))  # from now on it is removed whatever happens
            with os.fdopen(handle, "w", encoding="utf-8", newline="") as out:
                out.write(change.after)
                out.flush()
                os.fsync(out.fileno())
            if not change.created:
                os.chmod(tmp, target.stat().st_mode & 0o7777)
    except OSError as exc:
        _discard(staged)
        raise InputError(f"cannot write changes: {exc}; nothing written") from None
    except GitbotError:
        _discard(staged)
        raise
    done: list[tuple[Path, FileChange]] = []
    try:
        for tmp, target, change in staged:
            os.replace(tmp, target)
            done.append((target, change))
    except OSError as exc:
        for target, change in done:
            if change.created:
                target.unlink(missing_ok=True)
            else:
                target.write_text(change.before, encoding="utf-8", newline="")
        _discard(staged)
        raise InputError(f"cannot write changes: {exc}; restored the files already written") from None


def _discard(staged: Iterable[tuple[Path, Path, FileChange]]) -> None:
    for tmp, _, _ in staged:
        try:
            tmp.unlink()
        except FileNotFoundError:
            pass


def _intents(rec: Recommendation) -> list[Intent]:
    out: list[Intent] = []
    companions: dict[tuple[str, int, YamlPath], str] = {}
    for f in rec.changed_fields:
        current = rec.container.fields[f]
        source = current.source
        value = rec.fields[f].recommended
        if source.file is None or source.doc_index is None or source.yaml_path is None:
            continue
        for path, text in source.companions:
            companions[(source.file, source.doc_index, path)] = text
        if value is not None:
            out.append(Intent(rec_key(rec), source.file, source.doc_index, source.yaml_path, f, value, value_text(rec, f)))
    # a preset's other values, and the fields that keep their preset value or are dropped on purpose
    dropped = {
        (s.file, s.doc_index, s.yaml_path)
        for f in rec.changed_fields
        if rec.fields[f].recommended is None and (s := rec.container.fields[f].source).companions
    }
    written = {(i.file, i.doc_index, i.path) for i in out}
    for (file, doc_index, path), text in companions.items():
        if (file, doc_index, path) not in written and (file, doc_index, path) not in dropped:
            out.append(Intent(rec_key(rec), file, doc_index, path, None, None, text))
    return out


def value_text(rec: Recommendation, f: Field) -> str:
    """The recommended value as text, in the idiom the field is written in — or, for an inserted
    field, the idiom of the other field of the same resource (request <-> limit)."""
    value = rec.fields[f].recommended
    assert value is not None
    other = next(g for g in Field if g.resource is f.resource and g is not f)
    like = rec.container.fields[f].text or rec.container.fields[other].text
    return format_cpu(value, like) if f.resource is Resource.CPU else format_memory(value, like)


Location = tuple[str, int, YamlPath]  # (file, document, path in the document)


def _readers(recs: Sequence[Recommendation]) -> dict[Location, set[tuple[RecKey, Field]]]:
    """Every container field that renders from a location (a shared base is read by each overlay)."""
    out: dict[Location, set[tuple[RecKey, Field]]] = {}
    for rec in recs:
        for f, current in rec.container.fields.items():
            s = current.source
            if s.file is not None and s.doc_index is not None and s.yaml_path is not None:
                out.setdefault((s.file, s.doc_index, s.yaml_path), set()).add((rec_key(rec), f))
    return out


def _conflicts(
    intents: list[Intent], readers: Mapping[Location, set[tuple[RecKey, Field]]], downgraded: set[RecKey], files: Mapping[str, YamlFile],
    ignore: set[tuple[RecKey, Field]] = frozenset(),  # type: ignore[assignment]
) -> dict[RecKey, str]:
    """Edits of a shared location need every target that renders from it to want the same text.
    ``ignore``: fields that no longer read their location (they move into an overlay patch)."""
    by_location: dict[Location, list[Intent]] = {}
    for i in intents:
        by_location.setdefault((i.file, i.doc_index, i.path), []).append(i)
    out: dict[RecKey, str] = {}
    for (file, doc_index, path), group in by_location.items():
        values = sorted({i.text for i in group})
        others = {k for k, f in readers.get((file, doc_index, path), set()) if (k, f) not in ignore} - {i.key for i in group}
        blocked = sorted({key[0] for key in others if key in downgraded})
        keeping = sorted({key[0] for key in others if key not in downgraded})
        if len(values) == 1 and not others:
            continue
        readers_here = {i.key for i in group} | others
        where = _where(files, file, doc_index, path)
        if len(values) > 1 or keeping:
            wants = " vs ".join(values) + (" vs unchanged" if keeping else "")
            reason = f"{where} is shared by {_names(readers_here)}, which need different values ({wants})"
        else:
            reason = f"{where} is shared by {_names(readers_here)}; {', '.join(blocked)} cannot take its change (comment-only)"
        reason += "; set them apart by hand (an overlay patch, a separate values key)"
        for i in group:
            out.setdefault(i.key, reason)
    return out


def _names(keys: set[RecKey]) -> str:
    """The readers of a location: by target, or by container when they share one target."""
    targets = sorted({k[0] for k in keys})
    if len(targets) == len(keys):
        return ", ".join(targets)
    return ", ".join(f"{k[0]} {k[1].rsplit('/', 1)[-1]}/{k[2]}" for k in sorted(keys))


def _apply_intents(intents: list[Intent], files: Mapping[str, YamlFile]) -> tuple[list[FileChange], dict[RecKey, str]]:
    by_file: dict[str, list[Intent]] = {}
    for i in intents:
        by_file.setdefault(i.file, []).append(i)
    changes: list[FileChange] = []
    failures: dict[RecKey, str] = {}
    for file in sorted(by_file):
        group = _dedupe(by_file[file])
        yfile = files.get(file)
        try:
            if yfile is None:
                raise CannotEdit("the file was not read with positions")
            splices = _file_splices(yfile, group)
            after = apply_splices(yfile.text, splices)
            _verify(yfile, after, group)
        except CannotEdit as exc:
            for i in by_file[file]:  # every container with an edit here, also one whose intent was a duplicate
                failures.setdefault(i.key, f"cannot edit {file}: {exc}")
            continue
        changes.append(FileChange(file, yfile.text, after, splices=tuple(splices)))
    return changes, failures


def _dedupe(intents: list[Intent]) -> list[Intent]:
    seen: dict[tuple[int, YamlPath], Intent] = {}
    for i in intents:
        seen.setdefault((i.doc_index, i.path), i)
    return list(seen.values())


def _splice_file(yfile: YamlFile, intents: list[Intent]) -> str:
    return apply_splices(yfile.text, _file_splices(yfile, intents))


def _file_splices(yfile: YamlFile, intents: list[Intent]) -> list[Splice]:
    """The splices that write ``intents`` into the file's text (CannotEdit when they cannot)."""
    splices: list[Splice] = []
    inserts: dict[tuple[int, YamlPath], Tree] = {}
    created: set[tuple[int, YamlPath]] = set()
    named: set[tuple[int, YamlPath]] = set()
    for i in intents:
        doc = yfile.documents[i.doc_index]
        split = split_embedded(i.path)
        if split is not None:
            splices.append(_embedded_splice(yfile, doc, split, i.text))
            continue
        depth, _ = doc.deepest(i.path)
        if depth == len(i.path):
            splices.append(replace_scalar(yfile.text, doc, i.path, i.text))
            continue
        items = _add_insert(inserts.setdefault((i.doc_index, i.path[:depth]), {}), i.path[depth:], i.text)
        created |= {(i.doc_index, i.path[:depth] + item) for item in items}
        if i.field is None:
            named |= {(i.doc_index, i.path[:depth] + item) for item in items}
    # a new list item (a container in an overlay patch, a patches entry) is made only together with
    # what identifies it (a companion intent: its name, its path), never for a value alone
    unnamed = sorted(created - named, key=repr)
    if unnamed:
        raise CannotEdit(f"{_show(unnamed[0][1])} does not exist")
    for (doc_index, anchor), tree in inserts.items():
        splices.append(insert_fields(yfile.text, yfile.documents[doc_index], anchor, tree))
    return splices


def _add_insert(tree: Tree, missing: YamlPath, text: str) -> list[YamlPath]:
    """``missing`` (the keys below the deepest existing node) into ``tree``; the new list items on the
    way (an int key), as paths below that node."""
    if not isinstance(missing[-1], str) or any(not isinstance(k, (str, int)) for k in missing):
        raise CannotEdit(f"cannot create {_show(missing)}")
    for key in missing[:-1]:
        tree = tree.setdefault(key, {})
    tree[missing[-1]] = text
    return [missing[: n + 1] for n, key in enumerate(missing) if isinstance(key, int)]


def _embedded_splice(yfile: YamlFile, doc: YamlDocument, split: tuple[YamlPath, Embedded, YamlPath], text: str) -> Splice:
    """Replace a value inside an inline patch (YAML in a literal block scalar), in the outer text."""
    outer, step, inner = split
    try:
        embedded = embedded_yaml(yfile.text, doc, outer, yfile.path)
    except SourceError as exc:
        raise CannotEdit(exc.detail) from None
    inner_doc = embedded.documents[step.doc]
    if inner_doc.deepest(inner)[0] != len(inner):
        raise CannotEdit(f"the inline patch at {_show(outer)} does not set {_show(inner)}; add it there by hand")
    splice = replace_scalar(embedded.text, inner_doc, inner, text)
    if "\n" in embedded.text[splice.start:splice.end]:
        raise CannotEdit(f"{_show(inner)} spans lines in the inline patch")
    return Splice(embedded.outer_offset(splice.start), embedded.outer_offset(splice.start) + (splice.end - splice.start), splice.text)


_MISSING = object()


def _verify(yfile: YamlFile, after: str, intents: list[Intent]) -> None:
    """The edited text parses to the original data with exactly the intended values changed."""
    try:
        new_docs = parse_yaml(after, yfile.path)
    except SourceError as exc:
        raise CannotEdit(f"the edit would break the YAML ({exc.detail})") from None
    if len(new_docs) != len(yfile.documents):
        raise CannotEdit("the edit would change the number of YAML documents")
    expected: dict[tuple[int, YamlPath], Intent] = {(i.doc_index, i.path): i for i in intents}
    for old, new in zip(yfile.documents, new_docs):
        before = _flatten(old.data)
        now = _flatten(new.data)
        # an inline patch is compared as the YAML inside it, so only the intended values may differ
        for outer in {split[0] for i in intents if i.doc_index == old.index and (split := split_embedded(i.path)) is not None}:
            before.pop(outer, None)
            now.pop(outer, None)
            try:
                for data, side, text in ((before, old, yfile.text), (now, new, after)):
                    for inner in embedded_yaml(text, side, outer, yfile.path).documents:
                        data.update(_flatten(inner.data, outer + (Embedded(inner.index),)))
            except SourceError as exc:
                raise CannotEdit(f"the inline patch would not read back: {exc.detail}") from None
        wanted = {path: i for (doc, path), i in expected.items() if doc == old.index}
        for path in set(before) | set(now):
            a, b = before.get(path, _MISSING), now.get(path, _MISSING)
            if a == b and type(a) is type(b):
                continue
            if path in wanted:
                continue
            if b is _MISSING and a in ({}, None) and any(p[: len(path)] == path for p in wanted):
                continue  # an empty `resources: {}` that now holds the new fields
            raise CannotEdit(f"the edit would also change {_show(path)}")
        for path, intent in wanted.items():
            if not _equal_quantity(intent, now.get(path, _MISSING)):
                raise CannotEdit(f"{_show(path)} would read back as {now.get(path)!r}, not {intent.text}")


def _equal_quantity(intent: Intent, value: Any) -> bool:
    if value is _MISSING or value is None or isinstance(value, (bool, dict, list)):
        return False
    text = repr(value) if isinstance(value, float) else str(value)
    if intent.field is None:
        return text == intent.text
    try:
        parsed = parse_cpu_m(text) if intent.field.resource is Resource.CPU else parse_memory_bytes(text)
    except QuantityError:
        return False
    return parsed == intent.value


def _flatten(data: Any, prefix: YamlPath = ()) -> dict[YamlPath, Any]:
    out: dict[YamlPath, Any] = {}
    if isinstance(data, dict) and data:
        for key, value in data.items():
            out.update(_flatten(value, prefix + (key,)))
    elif isinstance(data, list) and data:
        for index, value in enumerate(data):
            out.update(_flatten(value, prefix + (index,)))
    else:
        out[prefix] = data
    return out


def _show(path: YamlPath) -> str:
    return ".".join(f"[{k}]" if isinstance(k, int) else ("::" if isinstance(k, Embedded) else str(k)) for k in path).replace(".[", "[").replace(".::.", "::")


def _where(files: Mapping[str, YamlFile], file: str, doc_index: int, path: YamlPath) -> str:
    yfile = files.get(file)
    if yfile is None:
        return file
    span = yfile.documents[doc_index].span(path)
    if span is None:
        depth, _ = yfile.documents[doc_index].deepest(path)
        span = yfile.documents[doc_index].span(path[:depth])
    return f"{file}:{span.line}" if span else file
