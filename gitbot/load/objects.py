"""Turn parsed YAML documents into Kubernetes objects (shared by every loader)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterator, Mapping

from gitbot.model import YamlPath


@dataclass(frozen=True)
class FoundObject:
    data: Mapping[str, Any]
    doc_index: int
    path: YamlPath  # path inside the document: () or ("items", i) for kind: List


def kubernetes_objects(doc_index: int, data: Any) -> Iterator[FoundObject]:
    """Objects in one document: the document itself, or the items of a ``kind: List``."""
    if not is_object(data):
        return
    if str(data["kind"]).endswith("List") and isinstance(data.get("items"), list):
        for i, item in enumerate(data["items"]):
            if is_object(item):
                yield FoundObject(item, doc_index, ("items", i))
        return
    yield FoundObject(data, doc_index, ())


def is_object(data: Any) -> bool:
    return (
        isinstance(data, dict)
        and isinstance(data.get("kind"), str)
        and isinstance(data.get("apiVersion"), str)
        and bool(data["kind"])
    )


def object_name(data: Mapping[str, Any]) -> str:
    meta = data.get("metadata") or {}
    return str(meta.get("name", "")) if isinstance(meta, dict) else ""


def pod_containers(data: Mapping[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    """(name, spec) of every init and app container of a workload object, in order."""
    spec: Any = data.get("spec") or {}
    kind = data.get("kind")
    if kind == "CronJob":
        spec = ((spec.get("jobTemplate") or {}).get("spec") or {}).get("template", {}).get("spec") or {}
    elif kind != "Pod":
        spec = (spec.get("template") or {}).get("spec") or {}
    if not isinstance(spec, dict):
        return
    for list_key in ("initContainers", "containers"):
        for c in spec.get(list_key) or []:
            if isinstance(c, dict) and isinstance(c.get("name"), str):
                yield c["name"], c
