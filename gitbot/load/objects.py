"""Turn parsed YAML documents into Kubernetes objects (shared by every loader)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterator, Mapping

from gitbot.errors import type_name
from gitbot.model import POD_SPEC_PATH, YamlPath


@dataclass(frozen=True)
class FoundObject:
    data: Mapping[str, Any]
    doc_index: int
    path: YamlPath  # path inside the document: () or ("items", i) for kind: List


def kubernetes_objects(doc_index: int, data: Any, problems: list[tuple[YamlPath, str]] | None = None) -> Iterator[FoundObject]:
    """Objects in one document: the document itself, or the items of a ``kind: List``. With
    ``problems``, what looks like an object but is not usable is described there: (path, why)."""
    why = object_problem(data)
    if why is not None:
        if problems is not None and isinstance(data, dict) and ("kind" in data or "apiVersion" in data):
            problems.append(((), why))
        return
    if str(data["kind"]).endswith("List") and isinstance(data.get("items"), list):
        for i, item in enumerate(data["items"]):
            why = object_problem(item)
            if why is None:
                yield FoundObject(item, doc_index, ("items", i))
            elif problems is not None:
                problems.append((("items", i), why))
        return
    yield FoundObject(data, doc_index, ())


def object_problem(data: Any) -> str | None:
    """Why ``data`` is not a usable Kubernetes object; None when it is."""
    if not isinstance(data, dict):
        return f"not a Kubernetes object ({type_name(data)})"
    kind, api = data.get("kind"), data.get("apiVersion")
    if "kind" not in data:
        return "not a Kubernetes object (no kind)"
    if not isinstance(kind, str) or not kind:
        return "no kind" if not kind else f"kind is {type_name(kind)}, not a name"
    if not isinstance(api, str) or not api:
        return f"{kind} without apiVersion" if api is None else f"{kind}: apiVersion is {type_name(api)}, not a string"
    for key in ("metadata", "spec"):
        if data.get(key) is not None and not isinstance(data[key], dict):
            return f"{kind}: {key} is {type_name(data[key])}, not a mapping"
    return None


def is_object(data: Any) -> bool:
    return object_problem(data) is None


def object_name(data: Mapping[str, Any]) -> str:
    meta = data.get("metadata") or {}
    return str(meta.get("name", "")) if isinstance(meta, dict) else ""


def pod_containers(data: Mapping[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    """(name, spec) of every init and app container of a workload object, in order; parts of the
    wrong type (a string where a mapping belongs ...) hold no containers."""
    kind = data.get("kind")
    spec: Any = data
    for key in POD_SPEC_PATH.get(str(kind), POD_SPEC_PATH["Deployment"]):
        spec = spec.get(key) if isinstance(spec, dict) else None
    if not isinstance(spec, dict):
        return
    for list_key in ("initContainers", "containers"):
        items = spec.get(list_key)
        for c in items if isinstance(items, list) else []:
            if isinstance(c, dict) and isinstance(c.get("name"), str):
                yield c["name"], c
