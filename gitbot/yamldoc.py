"""YAML documents that remember where every value is written.

ruamel.yaml composes each document into a node tree whose marks index into the original text (CRLF
line ends and all). gitbot keeps that tree beside the plain Python data so that it can report
``file:line`` for any value, read the exact text a value was written as (``0.5`` not ``0.5``-the-float),
and splice new text into exactly the characters of a value.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

from ruamel.yaml import YAML
from ruamel.yaml.error import MarkedYAMLError, YAMLError
from ruamel.yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from gitbot.errors import SourceError
from gitbot.model import YamlPath

MERGE_TAG = "tag:yaml.org,2002:merge"


@dataclass(frozen=True)
class Span:
    """Where a node's text is: ``text[start:end]``; line and column are 1-based."""

    start: int
    end: int
    line: int
    column: int
    style: str | None  # None for plain scalars, "'" / '"' quoted, "|" / ">" block, "flow"/"block" collections
    shared: bool  # the node is reached through an alias or a merge key, so it is written once for many uses


@dataclass(frozen=True, eq=False)
class YamlDocument:
    index: int
    data: Any
    root: Node | None

    def node(self, path: YamlPath) -> tuple[Node | None, bool]:
        """The node at ``path`` and whether reaching it went through an alias or merge key."""
        return find_node(self.root, path)

    def span(self, path: YamlPath) -> Span | None:
        node, shared = self.node(path)
        return None if node is None else span_of(node, shared)

    def scalar_text(self, path: YamlPath) -> str | None:
        """The scalar's source text without quotes (``"250m"`` -> ``250m``), None if not a scalar."""
        node, _ = self.node(path)
        return node.value if isinstance(node, ScalarNode) else None

    def deepest(self, path: YamlPath) -> tuple[int, Node | None]:
        """How many leading elements of ``path`` exist, and the node they reach."""
        node: Node | None = self.root
        for depth, key in enumerate(path):
            child, _ = find_node(node, (key,))
            if child is None:
                return depth, node
            node = child
        return len(path), node


@dataclass(frozen=True, eq=False)
class YamlFile:
    path: str  # repo-relative posix path (or a display name)
    text: str
    documents: tuple[YamlDocument, ...]


def parse_yaml(text: str, name: str) -> tuple[YamlDocument, ...]:
    """Parse every document of ``text``. Errors become one-line ``SourceError`` naming ``name:line``."""
    composer = YAML(typ="rt")
    constructor = YAML(typ="safe", pure=True).constructor
    docs: list[YamlDocument] = []
    try:
        for index, root in enumerate(composer.compose_all(text)):
            data = constructor.construct_document(root) if root is not None else None
            docs.append(YamlDocument(index=index, data=data, root=root))
    except MarkedYAMLError as exc:
        raise _source_error(name, exc) from None
    except YAMLError as exc:
        raise SourceError(name, f"invalid YAML: {_one_line(str(exc))}") from None
    except RecursionError:
        raise SourceError(name, "YAML nesting is too deep") from None
    return tuple(docs)


def load_yaml_file(path: Path, name: str) -> YamlFile:
    """Read and parse a file, keeping its text byte-for-byte (line ends included)."""
    try:
        with open(path, encoding="utf-8", newline="") as handle:
            text = handle.read()
    except UnicodeDecodeError:
        raise SourceError(name, "not UTF-8 text") from None
    except OSError as exc:
        raise SourceError(name, f"cannot read: {exc.strerror or exc}") from None
    return YamlFile(path=name, text=text, documents=parse_yaml(text, name))


def find_node(root: Node | None, path: YamlPath) -> tuple[Node | None, bool]:
    node = root
    shared = False
    for key in path:
        if node is None:
            return None, shared
        if isinstance(node, MappingNode) and isinstance(key, str):
            found, via_merge = _mapping_get(node, key)
            node = found
            shared = shared or via_merge
        elif isinstance(node, SequenceNode) and isinstance(key, int):
            node = node.value[key] if 0 <= key < len(node.value) else None
        else:
            return None, shared
        if node is not None and node.anchor is not None:
            shared = True
    return node, shared


def mapping_items(node: MappingNode) -> Iterator[tuple[ScalarNode, Node]]:
    """Key/value node pairs written directly in this mapping (merge keys excluded)."""
    for key, value in node.value:
        if isinstance(key, ScalarNode) and key.tag != MERGE_TAG:
            yield key, value


def span_of(node: Node, shared: bool = False) -> Span:
    start, end = node.start_mark.index, node.end_mark.index
    style: str | None
    if isinstance(node, ScalarNode):
        style = node.style if node.style in ("'", '"', "|", ">") else None
    else:
        style = "flow" if node.flow_style else "block"
    return Span(
        start=start,
        end=end,
        line=node.start_mark.line + 1,
        column=node.start_mark.column + 1,
        style=style,
        shared=shared or node.anchor is not None,
    )


def _mapping_get(node: MappingNode, key: str) -> tuple[Node | None, bool]:
    for k, v in mapping_items(node):
        if k.value == key:
            return v, False
    for k, v in node.value:  # then what merge keys bring in
        if isinstance(k, ScalarNode) and k.tag == MERGE_TAG:
            sources = v.value if isinstance(v, SequenceNode) else [v]
            for source in sources:
                if isinstance(source, MappingNode):
                    found, _ = _mapping_get(source, key)
                    if found is not None:
                        return found, True
    return None, False


def _source_error(name: str, exc: MarkedYAMLError) -> SourceError:
    mark = exc.problem_mark or exc.context_mark
    line = mark.line + 1 if mark is not None else None
    problem = exc.problem or exc.context or "invalid YAML"
    if "duplicate key" in problem:
        problem = problem.split(" with value")[0]
    return SourceError(name, f"invalid YAML: {_one_line(problem)}", line=line)


def _one_line(text: str) -> str:
    return " ".join(text.split())
