"""YAML documents that remember where every value is written.

ruamel.yaml composes each document into a node tree whose marks index into the original text (CRLF
line ends and all), through libyaml when ruamel.yaml.clib is installed (about 9x faster than the
round-trip composer, which also gathers comments gitbot does not use). gitbot keeps that tree
beside the plain Python data so that it can report ``file:line`` for any value, read the exact text
a value was written as (``0.5`` not ``0.5``-the-float), and splice new text into exactly the
characters of a value.

Repository files are untrusted: ``read_text`` refuses files that are too large, binary or not
UTF-8, and ``parse_yaml`` refuses nesting deeper than ``MAX_DEPTH`` and alias bombs, each as a
one-line ``SourceError`` naming the file (and line).
"""

from __future__ import annotations

import re
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


DEFAULT_MAX_FILE_BYTES = 10 * 2**20  # .gitbot.yaml limits.max_file_size
MAX_DEPTH = 200  # nesting levels; Kubernetes objects use about 20
MAX_EXPANDED_NODES = 100_000  # nodes once aliases are expanded (a "billion laughs" file has 10^9) ...
ALIAS_EXPANSION = 10  # ... or this many times the nodes written, when that is more


def parse_yaml(text: str, name: str) -> tuple[YamlDocument, ...]:
    """Parse every document of ``text``. Errors become one-line ``SourceError`` naming ``name:line``,
    including nesting deeper than ``MAX_DEPTH`` and alias bombs (see ``_check_tree``)."""
    if _depth_bound(text) <= MAX_DEPTH and not text.startswith("\ufeff"):  # libyaml's marks skip a byte-order mark
        try:
            return _parse(text, YAML(typ="safe"), name)  # libyaml when ruamel.yaml.clib is installed
        except YAMLError:
            pass
    # in Python: its messages say what was found ("but found '}'"), and deep nesting stops at the
    # recursion limit there, where libyaml's C recursion could overflow the process stack
    with _yaml_errors(name):
        return _parse(text, YAML(typ="safe", pure=True), name)


def _parse(text: str, composer: YAML, name: str) -> tuple[YamlDocument, ...]:
    constructor = YAML(typ="safe", pure=True).constructor
    docs: list[YamlDocument] = []
    for index, root in enumerate(composer.compose_all(text)):
        _check_tree(root, text, name)
        data = constructor.construct_document(root) if root is not None else None
        docs.append(YamlDocument(index=index, data=data, root=root))
    return tuple(docs)


def _depth_bound(text: str) -> int:
    """An upper bound of the nesting depth, cheap enough to run before parsing: the most flow
    brackets open at once (quoted ones count too: it is a bound) plus the deepest line's
    indentation and ``- `` markers."""
    flow = deepest = 0
    for match in _BRACKETS.finditer(text):
        if match.group() in "[{":
            flow += 1
            deepest = max(deepest, flow)
        elif flow:
            flow -= 1
    widest = max((len(line) - len(line.lstrip(" -")) for line in text.splitlines()), default=0)
    return deepest + widest


_BRACKETS = re.compile(r"[\[\]{}]")
_ANCHOR = re.compile(r"(?:![^\s]*\s+)?&([^\s,\[\]{}]+)")


def _check_tree(root: Node | None, text: str, name: str) -> None:
    """Refuse nesting deeper than MAX_DEPTH and aliases that multiply the document (beyond
    MAX_EXPANDED_NODES and ALIAS_EXPANSION times the nodes written); set
    ``anchor`` on the nodes written with one (``&name``): libyaml's composer leaves it unset, and an
    anchored value is shared, so never spliced in place."""
    if root is None:
        return
    expanded: dict[int, int] = {}  # id(node) -> its node count with aliases expanded
    stack: list[tuple[Node, int, bool]] = [(root, 1, False)]
    while stack:
        node, depth, counted_children = stack.pop()
        children = _children(node)
        if counted_children:
            expanded[id(node)] = 1 + sum(expanded[id(child)] for child in children)
            continue
        if id(node) in expanded:
            continue  # an alias: the anchored node, counted where it is written
        if depth > MAX_DEPTH:
            raise SourceError(name, f"YAML nesting is too deep (over {MAX_DEPTH} levels)", line=node.start_mark.line + 1)
        expanded[id(node)] = 0  # seen; its count follows once its children have theirs
        if text.startswith(("&", "!"), node.start_mark.index):
            found = _ANCHOR.match(text, node.start_mark.index)
            if found is not None:
                node.anchor = found.group(1)
        stack.append((node, depth, True))
        stack.extend((child, depth + 1, False) for child in children)
    limit = max(MAX_EXPANDED_NODES, ALIAS_EXPANSION * len(expanded))
    if expanded[id(root)] > limit:
        raise SourceError(name, f"YAML aliases expand {len(expanded):,} nodes to {expanded[id(root)]:,} (over {limit:,}): "
                                "an alias bomb?", line=root.start_mark.line + 1)


def _children(node: Node) -> list[Node]:
    if isinstance(node, MappingNode):
        return [n for pair in node.value for n in pair]
    if isinstance(node, SequenceNode):
        return list(node.value)
    return []


def load_all(text: str, name: str) -> list[Any]:
    """The data of every document of ``text``, without positions: for renderer output (kustomize,
    Helm), which is read, never edited. The same values as ``parse_yaml`` (YAML 1.2, duplicate keys
    refused), several times faster through libyaml when ruamel.yaml.clib is installed."""
    with _yaml_errors(name):
        docs = list(YAML(typ="safe", pure=_depth_bound(text) > MAX_DEPTH).load_all(text))
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


def load_yaml_file(path: Path, name: str, max_bytes: int = DEFAULT_MAX_FILE_BYTES) -> YamlFile:
    """Read and parse a file, keeping its text byte-for-byte (line ends included)."""
    text = read_text(path, name, max_bytes)
    return YamlFile(path=name, text=text, documents=parse_yaml(text, name))


_UTF16_32_BOMS = {b"\xff\xfe\x00\x00": "UTF-32", b"\x00\x00\xfe\xff": "UTF-32", b"\xff\xfe": "UTF-16", b"\xfe\xff": "UTF-16"}


def read_text(path: Path, name: str, max_bytes: int = DEFAULT_MAX_FILE_BYTES) -> str:
    """A text file's content, exactly (no newline translation). SourceError when it is larger than
    ``max_bytes``, binary (NUL bytes), or not UTF-8."""
    try:
        size = path.stat().st_size
        if size > max_bytes:
            raise SourceError(name, f"larger than {human_bytes(max_bytes)} ({human_bytes(size)}); not read (limits.max_file_size)")
        with open(path, "rb") as handle:
            data = handle.read(max_bytes + 1)
    except OSError as exc:
        raise SourceError(name, f"cannot read: {exc.strerror or exc}") from None
    if len(data) > max_bytes:  # grew since the stat
        raise SourceError(name, f"larger than {human_bytes(max_bytes)}; not read (limits.max_file_size)")
    encoding = next((enc for bom, enc in _UTF16_32_BOMS.items() if data.startswith(bom)), None)
    if encoding is not None:
        raise SourceError(name, f"not UTF-8 text ({encoding}); save it as UTF-8")
    if b"\x00" in data:
        raise SourceError(name, "binary file (NUL bytes); not read")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise SourceError(name, f"not UTF-8 text (byte 0x{data[exc.start]:02x})", line=line) from None


def human_bytes(value: int) -> str:
    """``10 MiB``, ``2 KiB``, ``512 bytes``: one decimal at most."""
    for unit, size in (("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if value >= size:
            return f"{value / size:.1f}".removesuffix(".0") + f" {unit}"
    return f"{value} bytes"


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
