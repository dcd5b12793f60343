"""A new overlay patch where a Kustomize base is shared by overlays that need different values.

The base stays as it is. Each overlay that wants a change gets ``gitbot-resources.yaml`` (a
strategic-merge patch with only the fields that change, one document per workload) and a
``patches: - path: gitbot-resources.yaml`` entry in its kustomization, appended in the file's own
indentation. On the next run those fields are found in the patch file and edited there; a workload
that needs moving later is appended to the same file as one more document.
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path
from typing import Any, Mapping, Sequence

from gitbot.edit.changeset import FileChange, Intent, OverlayPlan, RecKey, rec_key, value_text
from gitbot.edit.splice import CannotEdit
from gitbot.errors import SourceError
from gitbot.load.discover import KUSTOMIZATION_FILES, PatchRef
from gitbot.model import ContainerType, Field, SourceKind, TargetKind, YamlPath
from gitbot.strategies.base import Recommendation
from gitbot.model import POD_SPEC_PATH
from gitbot.yamldoc import YamlFile, load_yaml_file, split_embedded

PATCH_FILE = "gitbot-resources.yaml"


class OverlayPatcher:
    def __init__(self, repo: Path, files: Mapping[str, YamlFile], patches: Mapping[str, tuple[PatchRef, ...]] | None = None) -> None:
        self.repo = repo
        self.files = files
        self.patches = patches or {}

    def eligible(self, rec: Recommendation) -> bool:
        """A change to a Kustomize base that another overlay reads: it can move into an overlay patch.
        Fields the overlay's own patch files already set move with it (they are edited there)."""
        target = rec.workload.target
        if target.kind is not TargetKind.KUSTOMIZE or not target.path:
            return False
        own = f"{target.path}/"
        return all(
            (s := rec.container.fields[f].source).kind is SourceKind.BASE
            or (s.kind is SourceKind.PATCH and s.file is not None and s.file.startswith(own) and split_embedded(s.yaml_path or ()) is None)
            for f in rec.changed_fields
        )

    def changes(self, recs: Sequence[Recommendation]) -> OverlayPlan:
        by_overlay: dict[str, list[Recommendation]] = defaultdict(list)
        for rec in recs:
            by_overlay[rec.workload.target.path].append(rec)
        plan = OverlayPlan([], [], {}, {}, {})
        for overlay, group in sorted(by_overlay.items()):
            path = f"{overlay}/{PATCH_FILE}"
            fresh: list[Recommendation] = []
            for rec in group:
                try:
                    found = self._patch_document(overlay, rec)
                except CannotEdit as exc:
                    plan.failures[rec_key(rec)] = f"cannot move the change into {overlay}: {exc}"
                    continue
                if found is None:
                    fresh.append(rec)
                    continue
                file, doc_index, container_path = found
                for f in rec.changed_fields:
                    value = rec.fields[f].recommended
                    if value is not None:
                        text = value_text(rec, f)
                        plan.intents.append(Intent(rec_key(rec), file, doc_index, container_path + f.resources_path, f, value, text))
                        plan.written[(rec_key(rec), f)] = text
            if not fresh:
                continue
            try:
                existing = self._existing(path)
                patch_text, texts = self._patch(overlay, fresh, extend=existing is not None)
                kfile, before, after = self._register(overlay)
            except (CannotEdit, SourceError) as exc:
                for rec in fresh:
                    plan.failures[rec_key(rec)] = f"cannot add an overlay patch in {overlay}: {exc}"
                continue
            if existing is None:
                plan.files.append(FileChange(path, "", patch_text, created=True))
            else:  # gitbot's patch from an earlier run: one more document per workload
                plan.appends[path] = (existing, patch_text)
            if after != before:
                plan.files.append(FileChange(kfile, before, after))
            plan.written.update(texts)
        return plan

    def _patch_document(self, overlay: str, rec: Recommendation) -> tuple[str, int, YamlPath] | None:
        """A strategic-merge document in one of the overlay's own patch files that already patches
        this container: the fields go there, as a person would add them."""
        base = self._base_object(rec)
        name = (base.get("metadata") or {}).get("name")
        list_key = "containers" if rec.container.type is ContainerType.APP else "initContainers"
        pod_path = POD_SPEC_PATH.get(str(base.get("kind")))
        if pod_path is None:
            return None
        for kname in KUSTOMIZATION_FILES:
            for ref in self.patches.get(f"{overlay}/{kname}", ()):
                yfile = self.files.get(ref.file) if ref.file is not None and ref.file.startswith(f"{overlay}/") else None
                for doc in yfile.documents if yfile is not None else ():
                    data = doc.data
                    if not isinstance(data, dict) or data.get("kind") != base.get("kind") or (data.get("metadata") or {}).get("name") != name:
                        continue
                    items: Any = data
                    for key in (*pod_path, list_key):
                        items = items.get(key) if isinstance(items, dict) else None
                    for index, item in enumerate(items if isinstance(items, list) else []):
                        if isinstance(item, dict) and item.get("name") == rec.container.name:
                            return yfile.path, doc.index, (*pod_path, list_key, index)
        return None

    def _existing(self, path: str) -> str | None:
        target = self.repo / path
        if not target.exists():
            return None
        try:
            return target.read_bytes().decode("utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise CannotEdit(f"cannot read {path}: {exc}") from None

    def _patch(self, overlay: str, recs: Sequence[Recommendation], extend: bool = False) -> tuple[str, dict[tuple[RecKey, Field], str]]:
        by_object: dict[tuple[str, str, str], list[Recommendation]] = defaultdict(list)
        for rec in recs:
            base = self._base_object(rec)
            meta = base.get("metadata") or {}
            by_object[(str(base.get("apiVersion", "")), str(base.get("kind", "")), str(meta.get("name", "")))].append(rec)
        docs: list[str] = []
        texts: dict[tuple[RecKey, Field], str] = {}
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
                members = [r for r in group if (r.container.type is ContainerType.APP) == (list_key == "containers")]
                if not members:
                    continue
                lines.append(f"{indent}{list_key}:")
                for rec in sorted(members, key=lambda r: r.container.name):
                    lines += [f"{indent}  - name: {rec.container.name}", f"{indent}    resources:"]
                    for bound in ("requests", "limits"):
                        fields = [f for f in rec.changed_fields if f.bound.value == bound and rec.fields[f].recommended is not None]
                        if not fields:
                            continue
                        lines.append(f"{indent}      {bound}:")
                        for f in sorted(fields, key=lambda f: f.resource.value):
                            text = value_text(rec, f)
                            texts[(rec_key(rec), f)] = text
                            lines.append(f"{indent}        {f.resource.value}: {text}")
            docs.append("\n".join(lines) + "\n")
        if extend:
            return "---\n".join(docs), texts
        others = sorted({r.workload.target.name for r in recs})
        header = f"# Resources for {', '.join(others)}, set here by gitbot: the base is shared with overlays that need other values.\n"
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

    def _register(self, overlay: str) -> tuple[str, str, str]:
        """``patches: - path: gitbot-resources.yaml`` appended to the overlay's kustomization."""
        name = next((n for n in KUSTOMIZATION_FILES if (self.repo / overlay / n).is_file()), None)
        if name is None:
            raise CannotEdit("no kustomization file")
        kfile = f"{overlay}/{name}"
        yfile = load_yaml_file(self.repo / kfile, kfile)
        if len(yfile.documents) != 1 or not isinstance(yfile.documents[0].data, dict):
            raise CannotEdit(f"{kfile} is not one mapping")
        text = yfile.text
        newline = "\r\n" if "\r\n" in text else "\n"
        body = text if text.endswith(("\n", "\r")) or not text else text + newline
        doc = yfile.documents[0]
        patches = doc.data.get("patches")
        listed = [p.get("path") if isinstance(p, dict) else p for p in patches] if isinstance(patches, list) else []
        if PATCH_FILE in listed or f"./{PATCH_FILE}" in listed:
            return kfile, text, text  # registered by an earlier run
        if patches is None and "patches" not in doc.data:
            return kfile, text, f"{body}patches:{newline}  - path: {PATCH_FILE}{newline}"
        node, _ = doc.node(("patches",))
        if not isinstance(patches, list) or not patches or getattr(node, "flow_style", False):
            raise CannotEdit(f"{kfile}: patches is not a block list")
        first, last = node.value[0], node.value[-1]  # type: ignore[union-attr]
        line_start = text.rfind("\n", 0, first.start_mark.index) + 1
        dash = text.index("-", line_start)
        indent = text[line_start:dash]
        end = last.end_mark.index
        line_end = text.find("\n", end - 1 if text[end - 1:end] == "\n" else end)
        insert_at = len(text) if line_end < 0 else line_end + 1
        prefix = text[:insert_at] if line_end >= 0 else text + newline
        return kfile, text, f"{prefix}{indent}- path: {PATCH_FILE}{newline}{text[insert_at:]}"

