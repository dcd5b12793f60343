"""Per-overlay values where a Kustomize base is shared by overlays that need different values.

The base stays as it is. A container that moves out of it keeps the values its own overlay already
sets where they are written (a strategic-merge patch or a JSON 6902 op, in a patch file or inline
in the kustomization: edited in place). The fields it still reads from a shared place go into a
strategic-merge patch of the overlay, where a person would add them:

1. a patch document of the overlay's own patch files that already lists the container: the fields
   are added to its item;
2. else one that patches the object's pod spec: the container is appended to its ``containers`` /
   ``initContainers`` list (the list is added when missing) as ``- name: ...`` with only the
   fields that change; Kustomize merges it into the base's container by name, so a native
   sidecar's ``restartPolicy`` and everything else stay the base's;
3. else ``gitbot-resources.yaml`` (one document per workload) and a ``patches: - path:
   gitbot-resources.yaml`` entry in the kustomization, appended in the file's own indentation;
   when an earlier run wrote that file, one more document is appended to it.

On the next run those fields are found in the overlay's patches and edited there.
"""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator, Mapping, Sequence

from gitbot.edit.changeset import FileChange, Intent, OverlayPlan, RecKey, rec_key, value_text
from gitbot.edit.splice import CannotEdit
from gitbot.errors import SourceError
from gitbot.load.discover import KUSTOMIZATION_FILES, PatchRef
from gitbot.model import POD_SPEC_PATH, ContainerType, Field, SourceKind, TargetKind, YamlPath
from gitbot.strategies.base import Recommendation
from gitbot.yamldoc import YamlDocument, YamlFile, load_yaml_file

PATCH_FILE = "gitbot-resources.yaml"
# a container name written as a plain scalar that reads back as that string in YAML 1.1 and 1.2
_PLAIN_NAME = re.compile(r"[a-z]([-a-z0-9]*[a-z0-9])?")
_YAML_WORDS = frozenset({"y", "n", "yes", "no", "on", "off", "true", "false", "null"})
_MOVABLE = (SourceKind.BASE, SourceKind.PATCH, SourceKind.JSON6902)
_SELECTOR_KEYS = frozenset({"group", "version", "kind", "name"})


@dataclass(frozen=True)
class _Slot:
    """Where a container's moved fields go in a patch document the overlay already has."""

    file: str
    doc_index: int
    list_path: YamlPath  # the document's containers / initContainers list
    index: int | None  # the container's item; None: a new item after the last one
    names: tuple[str, ...]  # the containers the list names now (none: the list is added)


class OverlayPatcher:
    def __init__(self, repo: Path, files: Mapping[str, YamlFile], patches: Mapping[str, tuple[PatchRef, ...]] | None = None) -> None:
        self.repo = repo
        self.files = files
        self.patches = patches or {}

    def eligible(self, rec: Recommendation) -> bool:
        """A change to a place other targets read too (a Kustomize base, a shared component) that its
        overlay can take: every changed field is either written in the overlay's own files (edited
        there) or comes from the base or a patch the overlay builds on (set in an overlay patch)."""
        target = rec.workload.target
        if target.kind is not TargetKind.KUSTOMIZE or not target.path:
            return False
        fields = rec.changed_fields
        if any(rec.fields[f].recommended is None for f in fields):
            return False  # a field to remove: a strategic-merge patch cannot drop what the base sets
        return any(not self._own(rec, f) for f in fields) and all(self._own(rec, f) or self._movable(rec, f) for f in fields)

    @staticmethod
    def _own(rec: Recommendation, f: Field) -> bool:
        """Written in one of the overlay's own files: only this overlay reads it, so it is edited there."""
        s = rec.container.fields[f].source
        own = f"{rec.workload.target.path}/"
        return s.file is not None and s.file.startswith(own) and s.doc_index is not None and s.yaml_path is not None

    @staticmethod
    def _movable(rec: Recommendation, f: Field) -> bool:
        """A value a strategic-merge patch in the overlay can override."""
        return rec.container.fields[f].source.kind in _MOVABLE

    def changes(self, recs: Sequence[Recommendation]) -> OverlayPlan:
        """Everything that gives the moved containers their own values, overlay by overlay; a
        container that cannot move is in ``failures`` with the reason (it becomes comment-only)."""
        by_overlay: dict[str, list[Recommendation]] = defaultdict(list)
        for rec in recs:
            by_overlay[rec.workload.target.path].append(rec)
        plan = OverlayPlan([], [], {}, {}, {})
        for overlay, group in sorted(by_overlay.items()):
            targets = sorted({r.workload.target.name for r in group})
            if len(targets) > 1:  # e.g. two Flux Kustomizations deploying one directory
                for rec in group:
                    plan.failures[rec_key(rec)] = f"{overlay} is rendered by {', '.join(targets)}; an overlay patch there would be theirs together"
                continue
            self._overlay(overlay, sorted(group, key=_container_order), plan)
        return plan

    def _overlay(self, overlay: str, group: Sequence[Recommendation], plan: OverlayPlan) -> None:
        """The intents and files that give one overlay's containers their own values."""
        fresh: list[tuple[Recommendation, list[Field]]] = []
        additions: dict[tuple[str, int, YamlPath], list[tuple[Recommendation, list[Field]]]] = defaultdict(list)
        slots: dict[tuple[str, int, YamlPath], _Slot] = {}
        for rec in group:
            moved = [f for f in rec.changed_fields if not self._own(rec, f)]
            try:
                slot = self._slot(overlay, rec) if moved else None
            except CannotEdit as exc:
                plan.failures[rec_key(rec)] = f"cannot move the change into {overlay}: {exc}"
                continue
            plan.intents.extend(self._in_place(rec, f) for f in rec.changed_fields if self._own(rec, f))
            if not moved:
                continue
            if slot is None:
                fresh.append((rec, moved))
            elif slot.index is not None:
                plan.intents.extend(_field_intents(rec, moved, slot.file, slot.doc_index, (*slot.list_path, slot.index)))
            else:
                where = (slot.file, slot.doc_index, slot.list_path)
                slots[where] = slot
                additions[where].append((rec, moved))
        for where, members in additions.items():
            try:
                plan.intents.extend(_new_items(slots[where], members))
            except CannotEdit as exc:
                for rec, _ in members:
                    plan.failures[rec_key(rec)] = f"cannot move the change into {overlay}: {exc}"
        if fresh:
            self._new_patch(overlay, fresh, plan)

    @staticmethod
    def _in_place(rec: Recommendation, f: Field) -> Intent:
        """A value the overlay's own files set, edited where it is written (inside an inline patch too)."""
        s = rec.container.fields[f].source
        value = rec.fields[f].recommended
        assert s.file is not None and s.doc_index is not None and s.yaml_path is not None and value is not None
        return Intent(rec_key(rec), s.file, s.doc_index, s.yaml_path, f, value, value_text(rec, f))

    def _new_patch(self, overlay: str, fresh: Sequence[tuple[Recommendation, list[Field]]], plan: OverlayPlan) -> None:
        path = f"{overlay}/{PATCH_FILE}"
        keys = [rec_key(rec) for rec, _ in fresh]
        try:
            existing = self._existing(path)
            patch_text, texts = self._patch(fresh, extend=existing is not None)
            kfile, entries = self._register(overlay, keys)
        except (CannotEdit, SourceError) as exc:
            for key in keys:
                plan.failures[key] = f"cannot add an overlay patch in {overlay}: {exc}"
            return
        if existing is None:
            plan.files.append(FileChange(path, "", patch_text, created=True))
        else:  # gitbot's patch from an earlier run: one more document per workload
            plan.appends[path] = (existing, patch_text)
        if entries and kfile.path not in self.files:
            plan.sources[kfile.path] = kfile
        plan.intents.extend(entries)
        plan.written.update(texts)

    def _slot(self, overlay: str, rec: Recommendation) -> _Slot | None:
        """A strategic-merge document of the overlay's own patch files for this object: the one that
        lists the container, else the last one with its list (no later patch puts other containers
        first), else the last one that patches its pod spec (the list is added there). Kustomize
        puts a patch's items first in the merged list, so a document is extended only when the
        containers it names are the first ones of the overlay's pod, in order; the new items keep
        it so. None: the overlay has no such document."""
        base = self._base_object(rec)
        kind, name = str(base.get("kind")), str((base.get("metadata") or {}).get("name", ""))
        pod_path = POD_SPEC_PATH.get(kind)
        if pod_path is None:
            return None
        list_path = (*pod_path, "containers" if rec.container.type is ContainerType.APP else "initContainers")
        docs = list(self._patch_documents(overlay, kind, name))
        for file, doc in docs:
            items = _value_at(doc.data, list_path)
            for index, item in enumerate(items if isinstance(items, list) else []):
                if isinstance(item, dict) and item.get("name") == rec.container.name:
                    return _Slot(file, doc.index, list_path, index, _names(items))
        with_list = [(f, d) for f, d in docs if isinstance(_value_at(d.data, list_path), list)]
        if with_list:
            file, doc = with_list[-1]
            items = _value_at(doc.data, list_path)
            node, _ = doc.node(list_path)
            names = _names(items)
            if not items or getattr(node, "flow_style", True) or names != tuple(_pod_order(rec)[: len(names)]):
                return None
            return _Slot(file, doc.index, list_path, None, names)
        with_spec = [(f, d) for f, d in docs if isinstance(_value_at(d.data, pod_path), dict) and list_path[-1] not in _value_at(d.data, pod_path)]
        if with_spec:
            file, doc = with_spec[-1]
            return _Slot(file, doc.index, list_path, None, ())
        return None

    def _patch_documents(self, overlay: str, kind: str, name: str) -> Iterator[tuple[str, YamlDocument]]:
        """The strategic-merge documents in the overlay's own patch files that patch exactly this
        object (an entry whose target selector could pick other objects too is left alone: a
        container added there would be added to them as well)."""
        for kname in KUSTOMIZATION_FILES:
            for ref in self.patches.get(f"{overlay}/{kname}", ()):
                if ref.file is None or not ref.file.startswith(f"{overlay}/") or not _selects_only(ref.target, kind, name):
                    continue
                yfile = self.files.get(ref.file)
                for doc in yfile.documents if yfile is not None else ():
                    data = doc.data
                    if isinstance(data, dict) and data.get("kind") == kind and _value_at(data, ("metadata", "name")) == name:
                        yield ref.file, doc

    def _existing(self, path: str) -> str | None:
        target = self.repo / path
        if not target.exists():
            return None
        try:
            return target.read_bytes().decode("utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise CannotEdit(f"cannot read {path}: {exc}") from None

    def _patch(self, fresh: Sequence[tuple[Recommendation, list[Field]]], extend: bool = False) -> tuple[str, dict[tuple[RecKey, Field], str]]:
        by_object: dict[tuple[str, str, str], list[tuple[Recommendation, list[Field]]]] = defaultdict(list)
        for rec, fields in fresh:
            base = self._base_object(rec)
            meta = base.get("metadata") or {}
            by_object[(str(base.get("apiVersion", "")), str(base.get("kind", "")), str(meta.get("name", "")))].append((rec, fields))
        docs: list[str] = []
        texts: dict[tuple[RecKey, Field], str] = {}
        name_only = False
        for (api_version, kind, name), group in sorted(by_object.items()):
            lines = [f"apiVersion: {api_version}", f"kind: {kind}", "metadata:", f"  name: {name}", "spec:"]
            indent = "  "  # where the container lists go: under the pod spec
            if kind == "CronJob":
                lines += ["  jobTemplate:", "    spec:", "      template:", "        spec:"]
                indent = "          "
            elif kind != "Pod":
                lines += ["  template:", "    spec:"]
                indent = "      "
            for list_key in ("initContainers", "containers"):
                members = {r.container.name: (r, fs) for r, fs in group if (r.container.type is ContainerType.APP) == (list_key == "containers")}
                if not members:
                    continue
                lines.append(f"{indent}{list_key}:")
                order = _pod_order(next(iter(members.values()))[0])
                for container in order[: max(order.index(n) for n in members) + 1]:  # the ones before keep their place
                    lines.append(f"{indent}  - name: {_name_text(container)}")
                    if container not in members:
                        name_only = True
                        continue
                    rec, fields = members[container]
                    lines.append(f"{indent}    resources:")
                    for bound in ("requests", "limits"):
                        chosen = sorted((f for f in fields if f.bound.value == bound), key=lambda f: f.resource.value)
                        if chosen:
                            lines.append(f"{indent}      {bound}:")
                        for f in chosen:
                            text = value_text(rec, f)
                            texts[(rec_key(rec), f)] = text
                            lines.append(f"{indent}        {f.resource.value}: {text}")
            docs.append("\n".join(lines) + "\n")
        if extend:
            return "---\n".join(docs), texts
        others = sorted({r.workload.target.name for r, _ in fresh})
        header = f"# Resources for {', '.join(others)}, set here by gitbot: the base is shared with overlays that need other values.\n"
        if name_only:
            header += "# A container listed by name only keeps the base's resources; it is there to keep its place (a patch's containers go first).\n"
        return header + "---\n".join(docs), texts

    def _base_object(self, rec: Recommendation) -> dict[str, Any]:
        source = rec.workload.source
        yfile = self.files.get(source.file)
        if yfile is None or source.doc_index is None:
            raise CannotEdit(f"the base object's file {source.file} was not read")
        data: Any = yfile.documents[source.doc_index].data
        for key in source.yaml_path:
            data = data[key]
        if not isinstance(data, dict):
            raise CannotEdit(f"the base object in {source.file} is not a mapping")
        return data

    def _register(self, overlay: str, keys: Sequence[RecKey]) -> tuple[YamlFile, list[Intent]]:
        """The overlay's kustomization, and the ``patches: - path: gitbot-resources.yaml`` entry it
        needs as an intent for each container that goes there (none when an earlier run added it):
        spliced like any value, after the last entry in the list's own indentation, or as a new
        ``patches`` list, so an inline patch edited in the same file in the same run stays edited."""
        name = next((n for n in KUSTOMIZATION_FILES if (self.repo / overlay / n).is_file()), None)
        if name is None:
            raise CannotEdit("no kustomization file")
        kfile = f"{overlay}/{name}"
        yfile = self.files.get(kfile) or load_yaml_file(self.repo / kfile, kfile)
        if len(yfile.documents) != 1 or not isinstance(yfile.documents[0].data, dict):
            raise CannotEdit(f"{kfile} is not one mapping")
        patches = yfile.documents[0].data.get("patches", [])
        if not isinstance(patches, list):
            raise CannotEdit(f"{kfile}: patches is not a list")
        listed = [p.get("path") if isinstance(p, dict) else p for p in patches]
        if PATCH_FILE in listed or f"./{PATCH_FILE}" in listed:
            return yfile, []  # registered by an earlier run
        return yfile, [Intent(key, kfile, 0, ("patches", len(patches), "path"), None, None, PATCH_FILE) for key in keys]


def _field_intents(rec: Recommendation, fields: Sequence[Field], file: str, doc_index: int, item: YamlPath) -> list[Intent]:
    """The fields of the container's item at ``item`` in a patch document."""
    out = []
    for f in fields:
        value = rec.fields[f].recommended
        assert value is not None
        out.append(Intent(rec_key(rec), file, doc_index, (*item, *f.resources_path), f, value, value_text(rec, f)))
    return out


def _new_items(slot: _Slot, members: Sequence[tuple[Recommendation, list[Field]]]) -> list[Intent]:
    """Items appended to a patch document's list (or a new list): every container of the pod up to
    the last one that changes, in the pod's order, those that keep the base's values by name only
    (a strategic merge changes nothing in them but keeps them first, where they are)."""
    order = _pod_order(members[0][0])
    wanted = {rec.container.name: (rec, fields) for rec, fields in members}
    last = max(order.index(name) for name in wanted)
    out: list[Intent] = []
    for index in range(len(slot.names), last + 1):
        name = order[index]
        owner = wanted.get(name) or next(wanted[n] for n in order[index:] if n in wanted)  # a name-only item is there for the next one
        item = (*slot.list_path, index)
        out.append(Intent(rec_key(owner[0]), slot.file, slot.doc_index, (*item, "name"), None, None, _name_text(name)))
        if name in wanted:
            out.extend(_field_intents(owner[0], owner[1], slot.file, slot.doc_index, item))
    return out


def _pod_order(rec: Recommendation) -> list[str]:
    """The names of the containers in the list ``rec``'s container is in, in the overlay's order."""
    app = rec.container.type is ContainerType.APP
    members = sorted((c for c in rec.workload.containers if (c.type is ContainerType.APP) == app), key=lambda c: c.index)
    if [c.index for c in members] != list(range(len(members))):
        raise CannotEdit("a container of the pod was left out (see the skipped inputs), so its containers' order cannot be kept")
    return [c.name for c in members]


def _names(items: Any) -> tuple[str, ...]:
    return tuple(str(item.get("name")) for item in items if isinstance(item, dict)) if isinstance(items, list) else ()


def _container_order(rec: Recommendation) -> tuple[str, str, int, int]:
    """A workload's containers in pod order: init containers (and native sidecars) first."""
    return (rec.workload.target.name, str(rec.workload.id), 0 if rec.container.type is not ContainerType.APP else 1, rec.container.index)


def _selects_only(target: Mapping[str, Any] | None, kind: str, name: str) -> bool:
    """A patch entry without a target selector, or one that names exactly this object."""
    if target is None:
        return True
    return set(target) <= _SELECTOR_KEYS and target.get("name") == name and target.get("kind") in (None, kind)


def _name_text(name: str) -> str:
    """The container's name as written in a patch: a plain scalar that cannot read back as anything else."""
    if not _PLAIN_NAME.fullmatch(name) or name in _YAML_WORDS:
        raise CannotEdit(f"container name {name!r} would need quoting in a patch; set it apart by hand")
    return name


def _value_at(data: Any, path: YamlPath) -> Any:
    for key in path:
        if isinstance(data, dict) and isinstance(key, str):
            data = data.get(key)
        elif isinstance(data, list) and isinstance(key, int) and 0 <= key < len(data):
            data = data[key]
        else:
            return None
    return data
