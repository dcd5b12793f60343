"""Placement suggestions written into the pod spec (``placement: edit`` in .gitbot.yaml).

The scheduling block a placement suggests (``affinity``, preferred unless ``placement.affinity`` is
``required``; for spot on GKE/AKS ``tolerations``, and with required affinity a ``nodeSelector``) is
inserted at the end of the workload's pod spec, in the file that defines the
object: a plain manifest or a Kustomize resource. It is never merged into what is there. The
placement stays a comment, with the reason, when the pod spec (as written, or as rendered after
overlay patches) already sets one of those keys or ``nodeName``, when other targets render the same
resource file (a shared base), when the pod spec comes from a Helm chart, or when it is a flow-style
mapping. The edited file must parse back to the original with exactly the new keys added, or
nothing is written for that workload. The CPU request is not rescaled here: after the move, the
next plan sizes it from the usage observed on the new cores.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from ruamel.yaml.nodes import MappingNode

from gitbot.edit.changeset import ChangeSet, FileChange
from gitbot.edit.splice import CannotEdit, indent_step, insert_after_mapping
from gitbot.errors import SourceError
from gitbot.model import RenderedObject, SourceKind, Workload
from gitbot.placement import Placement, to_yaml
from gitbot.model import POD_SPEC_PATH
from gitbot.workloads import value_at
from gitbot.yamldoc import YamlDocument, YamlFile, parse_yaml

EDITABLE_SOURCES = (SourceKind.PLAIN, SourceKind.BASE)
NODE_CONSTRAINTS = ("affinity", "nodeSelector", "nodeName")  # already choosing nodes: the block would have to be merged


@dataclass(frozen=True)
class PlacementOutcome:
    edited_file: str | None  # the file the scheduling block went into
    why_not: str | None  # why it stayed a comment


def apply_placements(changes: ChangeSet, placements: Sequence[Placement], files: Mapping[str, YamlFile],
                     objects: Sequence[RenderedObject], workloads: Sequence[Workload]) -> tuple[ChangeSet, dict[str, PlacementOutcome]]:
    """``changes`` plus one scheduling block per placement that can be written; each workload's outcome."""
    texts = {c.path: c.after for c in changes.files}
    outcomes: dict[str, PlacementOutcome] = {}
    for p in placements:
        w = p.workload
        why = _why_not(w, files, objects, workloads, p.scheduling)
        if why is None:
            try:
                texts[w.source.file] = _insert(w, texts.get(w.source.file, files[w.source.file].text), p.scheduling)
            except CannotEdit as exc:
                why = f"{w.source.file}: {exc}"
        outcomes[str(w.id)] = PlacementOutcome(None if why else w.source.file, why)
    edited = {c.path: c for c in changes.files}
    out = []
    for path in sorted(set(edited) | set(texts)):
        before = edited[path].before if path in edited else files[path].text
        if texts.get(path, before) != before:
            out.append(replace(edited[path], after=texts[path]) if path in edited else FileChange(path, before, texts[path]))
    return replace(changes, files=tuple(out)), outcomes


def _why_not(w: Workload, files: Mapping[str, YamlFile], objects: Sequence[RenderedObject], workloads: Sequence[Workload],
             scheduling: Mapping[str, Any]) -> str | None:
    src = w.source
    if src.kind not in EDITABLE_SOURCES or src.file not in files or src.doc_index is None:
        return f"the pod spec is not in a plain manifest or Kustomize resource ({src.kind.value}); paste the snippet where it is set"
    others = sorted({o.target.name for o in workloads if o.source.file == src.file and o.source.doc_index == src.doc_index
                     and o.source.yaml_path == src.yaml_path and o.target != w.target})
    if others:
        return f"{src.file} is also rendered by {', '.join(others)}; add the snippet in this target's overlay"
    rendered = next((o for o in objects if o.target == w.target and o.kind == w.id.kind and o.name == w.id.name), None)
    pod_spec = value_at(rendered.data if rendered is not None else {}, POD_SPEC_PATH[w.id.kind])
    taken = _taken(pod_spec, scheduling)
    if taken:
        return f"the pod spec already sets {', '.join(taken)}; merge the snippet by hand"
    return None


def _taken(pod_spec: Any, scheduling: Mapping[str, Any]) -> list[str]:
    """Keys of the pod spec that already constrain its nodes, or that the block would replace."""
    if not isinstance(pod_spec, dict):
        return []
    return sorted(k for k in {*scheduling, *NODE_CONSTRAINTS} if k in pod_spec)


def _insert(w: Workload, text: str, scheduling: Mapping[str, Any]) -> str:
    path = w.source.file
    try:
        docs = parse_yaml(text, path)
    except SourceError as exc:
        raise CannotEdit(f"cannot read it back ({exc.detail})") from None
    doc = docs[w.source.doc_index or 0]
    spec_path = (*w.source.yaml_path, *POD_SPEC_PATH[w.id.kind])
    node, shared = doc.node(spec_path)
    if shared or not isinstance(node, MappingNode) or node.flow_style or not node.value:
        raise CannotEdit("the pod spec is not a block mapping gitbot can add keys to")
    taken = _taken(value_at(doc.data, spec_path), scheduling)
    if taken:
        raise CannotEdit(f"the pod spec already sets {', '.join(taken)}")
    splice = insert_after_mapping(text, node, to_yaml(scheduling, node.start_mark.column, indent_step(doc.root)))
    after = text[: splice.start] + splice.text + text[splice.end:]
    _verify(docs, after, path, w.source.doc_index or 0, spec_path, scheduling)
    return after


def _verify(old: Sequence[YamlDocument], after: str, path: str, index: int, spec_path: tuple[Any, ...],
            scheduling: Mapping[str, Any]) -> None:
    try:
        new = parse_yaml(after, path)
    except SourceError as exc:
        raise CannotEdit(f"the scheduling block would break the YAML ({exc.detail})") from None
    expected = [copy.deepcopy(d.data) for d in old]
    spec = value_at(expected[index], spec_path)
    spec.update(copy.deepcopy(dict(scheduling)))
    if [d.data for d in new] != expected:
        raise CannotEdit("the scheduling block would not read back as written")
