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

Values are what kubectl reads (sigs.k8s.io/yaml, go-yaml), so every file kubectl applies loads
here too: a local tag (``!Ref``, ``!reference``) or any other unknown tag gives the plain value
under it, ``!!binary`` the decoded text, ``!!timestamp`` (and a plain date) the text as written,
``!!set`` a mapping of nulls, ``!!omap`` / ``!!pairs`` a list of one-key mappings. What ruamel
would print as a Python warning (an anchor defined twice, which go-yaml accepts, the later
definition winning) becomes a note (``Skipped``) naming the file and line instead, never text on
stderr.
"""

from __future__ import annotations

import re
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

from ruamel.yaml import YAML
from ruamel.yaml.composer import Composer
from ruamel.yaml.constructor import SafeConstructor
from ruamel.yaml.error import MarkedYAMLError, YAMLError
from ruamel.yaml.events import AliasEvent
from ruamel.yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from gitbot.errors import SourceError
from gitbot.model import Embedded, Skipped, YamlPath

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
    notes: tuple[Skipped, ...] = ()  # what the file does that kubectl accepts but is worth knowing (an anchor defined twice)


DEFAULT_MAX_FILE_BYTES = 10 * 2**20  # .gitbot.yaml limits.max_file_size
MAX_DEPTH = 200  # nesting levels; Kubernetes objects use about 20
MAX_EXPANDED_NODES = 100_000  # nodes once aliases are expanded (a "billion laughs" file has 10^9) ...
ALIAS_EXPANSION = 10  # ... or this many times the nodes written, when that is more


def parse_yaml(text: str, name: str, notes: list[Skipped] | None = None) -> tuple[YamlDocument, ...]:
    """Parse every document of ``text``. Errors become one-line ``SourceError`` naming ``name:line``,
    including nesting deeper than ``MAX_DEPTH`` and alias bombs (see ``_check_tree``). What kubectl
    accepts but is worth a look (an anchor defined twice) is added to ``notes`` when given."""
    if _depth_bound(text) <= MAX_DEPTH and not text.startswith("\ufeff"):  # libyaml's marks skip a byte-order mark
        try:
            return _parse(text, _yaml(pure=False), name)  # libyaml when ruamel.yaml.clib is installed
        except YAMLError:
            pass  # a syntax error, or an anchor defined twice (libyaml refuses it, go-yaml does not)
    # in Python: its messages say what was found ("but found '}'"), and deep nesting stops at the
    # recursion limit there, where libyaml's C recursion could overflow the process stack
    yaml = _yaml(pure=True)
    with _yaml_errors(name):
        docs = _parse(text, yaml, name)
    _add_notes(yaml, name, notes)
    return docs


def _parse(text: str, composer: YAML, name: str) -> tuple[YamlDocument, ...]:
    constructor = _yaml(pure=True).constructor
    docs: list[YamlDocument] = []
    for index, root in enumerate(composer.compose_all(text)):
        _check_tree(root, text, name)
        data = constructor.construct_document(root) if root is not None else None
        docs.append(YamlDocument(index=index, data=data, root=root))
    return tuple(docs)


class _KubectlConstructor(SafeConstructor):
    """ruamel's safe constructor, giving the values kubectl reads: sigs.k8s.io/yaml decodes with
    go-yaml into JSON-like data, which has no bytes, dates, sets or ordered pairs, and takes a tag it
    does not know (a local ``!Ref`` ...) as no tag at all. Refusing those files would leave out
    objects the cluster runs."""

    def construct_untagged(self, node: Node) -> Any:
        """An unknown tag (a local ``!Ref``, ``!!value`` on ``=``): the value under it, untyped."""
        if isinstance(node, MappingNode):
            return self.construct_yaml_map(node)
        if isinstance(node, SequenceNode):
            return self.construct_yaml_seq(node)
        return node.value  # go-yaml resolves only its own tags; the rest stay the text written

    def construct_text_binary(self, node: ScalarNode) -> str:
        """``!!binary``: go-yaml decodes the base64 into a string (invalid base64 is still refused)."""
        data: bytes = super().construct_yaml_binary(node)
        return data.decode("utf-8", errors="replace")

    def construct_text_timestamp(self, node: ScalarNode) -> str:
        """``!!timestamp`` and plain dates: go-yaml keeps a timestamp's text when decoding into JSON data."""
        return str(node.value)

    def construct_yaml_float(self, node: ScalarNode) -> float:
        """A float without a dot in a ``%YAML 1.1`` document (``1e5``): go-yaml reads it, where ruamel
        would print a ``MantissaNoDotYAML1_1Warning`` on stderr first."""
        mantissa, exponent, _ = str(node.value).lower().partition("e")
        if exponent and "." not in mantissa:
            try:
                return float(str(node.value))
            except ValueError:
                pass
        value: float = super().construct_yaml_float(node)
        return value


_KubectlConstructor.add_constructor(None, _KubectlConstructor.construct_untagged)
_KubectlConstructor.add_constructor("tag:yaml.org,2002:binary", _KubectlConstructor.construct_text_binary)
_KubectlConstructor.add_constructor("tag:yaml.org,2002:timestamp", _KubectlConstructor.construct_text_timestamp)
_KubectlConstructor.add_constructor("tag:yaml.org,2002:float", _KubectlConstructor.construct_yaml_float)
_KubectlConstructor.add_constructor("tag:yaml.org,2002:set", SafeConstructor.construct_yaml_map)  # keys with null values
_KubectlConstructor.add_constructor("tag:yaml.org,2002:omap", SafeConstructor.construct_yaml_seq)  # [{k: v}, ...] as written
_KubectlConstructor.add_constructor("tag:yaml.org,2002:pairs", SafeConstructor.construct_yaml_seq)


class _NotingComposer(Composer):
    """ruamel's composer, recording an anchor defined twice in a document (go-yaml accepts it, the
    later definition winning) instead of printing a ``ReusedAnchorWarning`` on stderr."""

    def __init__(self, loader: Any = None) -> None:
        super().__init__(loader)
        self.warn_double_anchors = False
        self.reused: list[tuple[str, int, int]] = []  # (anchor, line first defined, line defined again)
        self._first_line: dict[str, int] = {}

    def compose_document(self) -> Any:
        self._first_line = {}  # anchors belong to one document
        return super().compose_document()

    def compose_node(self, parent: Any, index: Any) -> Any:
        if not self.parser.check_event(AliasEvent):
            event = self.parser.peek_event()
            if event.anchor is not None:
                line = event.start_mark.line + 1
                if event.anchor in self._first_line:
                    self.reused.append((event.anchor, self._first_line[event.anchor], line))
                else:
                    self._first_line[event.anchor] = line
        return super().compose_node(parent, index)


def _yaml(pure: bool) -> YAML:
    """A safe loader giving kubectl's values; through libyaml unless ``pure``."""
    yaml = YAML(typ="safe", pure=pure)
    yaml.Constructor = _KubectlConstructor
    if pure:
        yaml.Composer = _NotingComposer
    return yaml


def _add_notes(yaml: YAML, name: str, notes: list[Skipped] | None) -> None:
    composer = getattr(yaml, "_composer", None)
    if notes is None or not isinstance(composer, _NotingComposer):
        return
    for anchor, first, line in composer.reused:
        notes.append(Skipped(name, f"anchor &{anchor} is defined again (first at line {first}); the later definition wins", line))


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


def load_all(text: str, name: str, notes: list[Skipped] | None = None) -> list[Any]:
    """The data of every document of ``text``, without positions: for renderer output (kustomize,
    Helm), which is read, never edited. The same values and ``notes`` as ``parse_yaml`` (YAML 1.2,
    duplicate keys refused), several times faster through libyaml when ruamel.yaml.clib is installed."""
    if _depth_bound(text) <= MAX_DEPTH:
        try:
            return list(_yaml(pure=False).load_all(text))
        except YAMLError:
            pass  # as in parse_yaml: the Python path says what is wrong, or takes an anchor defined twice
    yaml = _yaml(pure=True)
    with _yaml_errors(name):
        docs = list(yaml.load_all(text))
    _add_notes(yaml, name, notes)
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
    notes: list[Skipped] = []
    documents = parse_yaml(text, name, notes)
    return YamlFile(path=name, text=text, documents=documents, notes=tuple(notes))


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
