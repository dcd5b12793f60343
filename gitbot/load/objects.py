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
