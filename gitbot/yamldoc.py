"""YAML documents that remember where every value is written.

ruamel.yaml composes each document into a node tree whose marks index into the original text (CRLF
line ends and all). gitbot keeps that tree beside the plain Python data so that it can report
``file:line`` for any value, read the exact text a value was written as (``0.5`` not ``0.5``-the-float),
and splice new text into exactly the characters of a value.
"""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

from ruamel.yaml import YAML
from ruamel.yaml.error import MarkedYAMLError, YAMLError
from ruamel.yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from gitbot.errors import SourceError
from gitbot.model import Embedded, YamlPath

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
    with _yaml_errors(name):
        for index, root in enumerate(composer.compose_all(text)):
            data = constructor.construct_document(root) if root is not None else None
            docs.append(YamlDocument(index=index, data=data, root=root))
    return tuple(docs)


def load_all(text: str, name: str) -> list[Any]:
    """The data of every document of ``text``, without positions: for renderer output (kustomize,
    Helm), which is read, never edited. The same values as ``parse_yaml`` (YAML 1.2, duplicate keys
    refused), several times faster through libyaml when ruamel.yaml.clib is installed."""
    with _yaml_errors(name):
        docs = list(YAML(typ="safe").load_all(text))
    return docs


@contextmanager
def _yaml_errors(name: str) -> Iterator[None]:
    """ruamel's errors as one-line ``SourceError`` naming ``name:line``."""
    try:
        yield
    except MarkedYAMLError as exc:
        raise _source_error(name, exc) from None
    except YAMLError as exc:
        raise SourceError(name, f"invalid YAML: {_one_line(str(exc))}") from None
    except RecursionError:
        raise SourceError(name, "YAML nesting is too deep") from None


@dataclass(frozen=True, eq=False)
class EmbeddedYaml:
    """The YAML inside a literal block scalar, parsed, with offsets that map back to the outer text.

    Line ``i`` of the inner text is line ``i`` of the block with its indentation removed, so an inner
    offset on a non-blank line is ``line_starts[i] + indent`` plus its column in the outer text."""

    text: str
    documents: tuple[YamlDocument, ...]
    line_starts: tuple[int, ...]  # outer offset where each block line starts
    indent: int
    first_line: int  # 1-based outer line of the block's first content line

    def outer_offset(self, inner: int) -> int:
        line = self.text.count("\n", 0, inner)
        column = inner - (self.text.rfind("\n", 0, inner) + 1)
        return self.line_starts[line] + self.indent + column


def embedded_yaml(text: str, doc: YamlDocument, path: YamlPath, name: str) -> EmbeddedYaml:
    """Parse the literal block scalar at ``path`` of ``doc`` (whose file text is ``text``).
    Raises SourceError when it is not a literal block (``|``, ``|-``, ``|+``) or not YAML."""
    node, shared = doc.node(path)
    if not isinstance(node, ScalarNode) or node.style != "|" or shared:
        raise SourceError(name, "not a literal block scalar (|); cannot read the YAML inside")
    header_end = text.find("\n", node.start_mark.index)
    header = text[node.start_mark.index:header_end if header_end != -1 else node.end_mark.index]
    if any(ch.isdigit() for ch in header) or header_end == -1:
        raise SourceError(name, "a block scalar with an explicit indentation indicator; not read")
    start = header_end + 1
    lines = text[start:node.end_mark.index].split("\n")
    indent = next((len(line) - len(line.lstrip(" ")) for line in lines if line.strip()), 0)
    starts: list[int] = []
    inner: list[str] = []
    offset = start
    for line in lines:
        starts.append(offset)
        inner.append(line[indent:] if line[:indent].strip() == "" and len(line) >= indent else line.strip(" "))
        offset += len(line) + 1
    inner_text = "\n".join(inner)
    return EmbeddedYaml(inner_text, parse_yaml(inner_text, name), tuple(starts), indent, text.count("\n", 0, start) + 1)


def split_embedded(path: YamlPath) -> tuple[YamlPath, Embedded, YamlPath] | None:
    """``outer + (Embedded(n),) + inner`` -> (outer, the step, inner); None for a plain path."""
    for i, key in enumerate(path):
        if isinstance(key, Embedded):
            return path[:i], key, path[i + 1:]
    return None


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
