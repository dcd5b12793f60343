"""Text splices: change exactly the characters of a value, or insert a missing field in the file's style.

Nothing here re-emits YAML. A present value is replaced inside its scalar's span (quotes kept); a
missing field is inserted as new lines at the indentation of its siblings (block style) or as a
``key: value`` entry (flow style, JSON quoting when the mapping uses it), next to where a person
would put it: ``requests`` before ``limits``, ``cpu`` before ``memory``, ``resources`` last,
``initContainers`` before ``containers``. A new container in an overlay patch is a new item at the
end of a block list (``- name: ...`` at the dash column of the items already there), or a new list
indented the way the file indents its other lists.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Any

from ruamel.yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from gitbot.model import YamlPath
from gitbot.yamldoc import YamlDocument, find_node, mapping_items

NULL_TAG = "tag:yaml.org,2002:null"
KEY_ORDER = {"name": -1, "requests": 0, "limits": 1, "cpu": 0, "memory": 1, "initContainers": 0, "containers": 1}
DEFAULT_SEQUENCE_INDENT = 2  # "containers:" then "  - name: ...", when the file has no block list to copy
Tree = dict[Any, Any]  # str keys: mapping entries; int keys: new list items (mappings), in order


class CannotEdit(Exception):
    """The document's shape does not allow a safe splice here (the reason is the message)."""


@dataclass(frozen=True)
class Splice:
    start: int
    end: int
    text: str


def apply_splices(text: str, splices: list[Splice]) -> str:
    """``text`` with every splice applied; all were computed on ``text``. Insertions at one offset go
    deeper block first (a new ``memory`` under ``requests`` before a new ``limits`` after it).
    CannotEdit when two overlap."""
    ordered = sorted(splices, key=lambda s: (s.start, s.end, -_indent(s.text)))
    for a, b in zip(ordered, ordered[1:]):
        if b.start < a.end:
            raise CannotEdit("two edits overlap")
    for s in reversed(ordered):
        text = text[: s.start] + s.text + text[s.end:]
    return text


def _indent(text: str) -> int:
    line = text.lstrip("\r\n")
    return len(line) - len(line.lstrip(" "))


def replace_scalar(text: str, doc: YamlDocument, path: YamlPath, new_value: str) -> Splice:
    node, shared = doc.node(path)
    if not isinstance(node, ScalarNode):
        raise CannotEdit(f"{_dotted(path)} is not a scalar")
    if shared:
        raise CannotEdit(f"{_dotted(path)} is shared through a YAML anchor")
    start, end = node.start_mark.index, node.end_mark.index
    if node.style in ("'", '"'):
        if text[start] != node.style or text[end - 1] != node.style:
            raise CannotEdit(f"{_dotted(path)}: unexpected quoting")
        return Splice(start + 1, end - 1, new_value)
    if node.style in ("|", ">"):
        raise CannotEdit(f"{_dotted(path)} is a block scalar")
    if node.value == "" and start == end:  # `cpu:` with nothing after it: the value goes after a space
        if start == 0 or text[start - 1] != ":":
            raise CannotEdit(f"{_dotted(path)}: an empty value not right after its key")
        return Splice(start, end, " " + new_value)
    if text[start:end].strip() != node.value:
        raise CannotEdit(f"{_dotted(path)}: scalar text does not match its value (tag or anchor)")
    return Splice(start, end, new_value)


def insert_fields(text: str, doc: YamlDocument, anchor_path: YamlPath, tree: Tree) -> Splice:
    """Insert the nested mapping ``tree`` (keys -> values or sub-trees) under ``anchor_path``; a
    sub-tree with int keys is a list of new items (appended to the list at ``anchor_path``, or a new
    list under its key)."""
    anchor, shared = doc.node(anchor_path)
    if shared:
        raise CannotEdit(f"{_dotted(anchor_path)} is shared through a YAML anchor")
    step = indent_step(doc.root)
    dash = sequence_indent(doc.root)
    if isinstance(anchor, SequenceNode):
        return _append_items(text, anchor_path, anchor, tree, step, dash)
    if isinstance(anchor, MappingNode):
        if anchor.flow_style:
            if _any_items(tree):
                raise CannotEdit(f"{_dotted(anchor_path)}: no list items are added inside a flow mapping")
            if not anchor.value:
                return _replace_with_block(text, doc, anchor_path, anchor, tree, step, dash)
            return _insert_flow(text, anchor, tree)
        return _insert_block(text, anchor, tree, step, dash)
    if isinstance(anchor, ScalarNode) and anchor.tag == NULL_TAG:
        return _replace_with_block(text, doc, anchor_path, anchor, tree, step, dash)
    raise CannotEdit(f"{_dotted(anchor_path)} is not a mapping")


# -- block mappings --------------------------------------------------------------------------


def _insert_block(text: str, anchor: MappingNode, tree: Tree, step: int, dash: int = DEFAULT_SEQUENCE_INDENT) -> Splice:
    column = anchor.start_mark.column
    line_end = _line_ending(text)
    sibling = _first_sibling_after(anchor, tree)
    if sibling is not None:  # e.g. cpu goes before an existing memory
        line_start = text.rfind("\n", 0, sibling.start_mark.index) + 1
        if text[line_start:sibling.start_mark.index].strip():
            raise CannotEdit("sibling key does not start its line")
        return Splice(line_start, line_start, _block(tree, column, step, line_end, dash))
    return insert_after_mapping(text, anchor, _block(tree, column, step, "\n", dash))


def _append_items(text: str, path: YamlPath, anchor: SequenceNode, tree: Tree, step: int, dash: int) -> Splice:
    """New items after the last one of a block list, at the column of its dashes and with its items'
    indentation after the dash (``- name: envoy`` below ``- name: api``)."""
    if anchor.flow_style or not anchor.value:
        raise CannotEdit(f"{_dotted(path)} is not a block list")
    if text[anchor.start_mark.index:anchor.start_mark.index + 1] != "-":
        raise CannotEdit(f"{_dotted(path)}: its first item does not start with a dash")
    first = anchor.value[0]
    dash_column = anchor.start_mark.column
    after_dash = first.start_mark.column - dash_column if first.start_mark.line == anchor.start_mark.line else 2
    if after_dash < 2:
        raise CannotEdit(f"{_dotted(path)}: unexpected indentation of its items")
    block = _items(tree, len(anchor.value), dash_column, after_dash, step, "\n", dash)
    return insert_after_mapping(text, anchor, block)


def insert_after_mapping(text: str, anchor: MappingNode | SequenceNode, block: str) -> Splice:
    """Lines of ``block`` (already indented, ``\n``-separated) after the last entry of a block mapping
    or the last item of a block list."""
    line_end = _line_ending(text)
    block = block.replace("\n", line_end)
    end = _content_end(anchor)
    newline = text.find("\n", end)
    if _ends_with_block_scalar(anchor):
        if end == 0 or text[end - 1] != "\n":  # a block scalar ending the file: a newline would join its value
            raise CannotEdit("the mapping ends with a block scalar at the end of the file (no final newline)")
        return Splice(end, end, block)
    if newline == -1:
        return Splice(len(text), len(text), line_end + block.rstrip("\r\n"))
    return Splice(newline + 1, newline + 1, block)


def _replace_with_block(
    text: str, doc: YamlDocument, path: YamlPath, node: Node, tree: Tree, step: int, dash: int = DEFAULT_SEQUENCE_INDENT
) -> Splice:
    """``resources: {}`` / ``resources:`` (null) -> a block mapping below the key."""
    if not path:
        raise CannotEdit("the document itself is empty")
    parent, _ = find_node(doc.root, path[:-1])
    if not isinstance(parent, MappingNode) or parent.flow_style:
        raise CannotEdit(f"{_dotted(path)} is not in a block mapping")
    key_node = next((k for k, v in mapping_items(parent) if v is node), None)
    if key_node is None:
        raise CannotEdit(f"{_dotted(path)}: key not found")
    colon = text.find(":", key_node.end_mark.index)
    empty = isinstance(node, ScalarNode) and node.value == ""  # `key:` with nothing after it
    if colon == -1 or (not empty and colon > node.start_mark.index):
        raise CannotEdit(f"{_dotted(path)}: no ':' after the key")
    end = colon + 1 if empty else node.end_mark.index
    line_end = _line_ending(text)
    block = _block(tree, key_node.start_mark.column + step, step, line_end, dash).rstrip("\r\n")
    return Splice(colon + 1, end, line_end + block)


def _block(tree: Tree, column: int, step: int, line_end: str = "\n", dash: int = DEFAULT_SEQUENCE_INDENT) -> str:
    """``tree`` as block-style lines at ``column``; ``dash``: how far a new list's dashes sit right of its key."""
    if any(not isinstance(key, str) for key in tree):
        raise CannotEdit("a list item where a mapping key belongs")
    lines: list[str] = []
    for key in sorted(tree, key=_order):
        value = tree[key]
        if _has_items(value):
            lines.append(f"{' ' * column}{key}:{line_end}")
            lines.append(_items(value, 0, column + dash, 2, step, line_end, dash))
        elif isinstance(value, dict):
            lines.append(f"{' ' * column}{key}:{line_end}")
            lines.append(_block(value, column + step, step, line_end, dash))
        else:
            lines.append(f"{' ' * column}{key}: {value}{line_end}")
    return "".join(lines)


def _items(items: Tree, first: int, dash_column: int, after_dash: int, step: int, line_end: str, dash: int) -> str:
    """New list items ``first``, ``first + 1``, ... (each a mapping) as ``- key: value`` blocks."""
    if sorted(items) != list(range(first, first + len(items))):
        raise CannotEdit(f"new list items must follow the last one (item {first})")
    out: list[str] = []
    for index in sorted(items):
        item = items[index]
        if not isinstance(item, dict) or not item or _has_items(item):
            raise CannotEdit("a new list item must be a mapping")
        body = _block(item, dash_column + after_dash, step, line_end, dash)
        out.append(" " * dash_column + "-" + " " * (after_dash - 1) + body[dash_column + after_dash:])
    return "".join(out)


def _has_items(value: Any) -> bool:
    return isinstance(value, dict) and any(isinstance(k, int) for k in value)


def _any_items(tree: Tree) -> bool:
    """New list items anywhere in ``tree``."""
    return _has_items(tree) or any(_any_items(v) for v in tree.values() if isinstance(v, dict))


# -- flow mappings ---------------------------------------------------------------------------


def _insert_flow(text: str, anchor: MappingNode, tree: Tree) -> Splice:
    quoted = any(k.style == '"' for k, _ in mapping_items(anchor))
    rendered = ", ".join(_flow_entry(k, tree[k], quoted) for k in sorted(tree, key=_order))
    sibling = _first_sibling_after(anchor, tree)
    if sibling is not None:
        start = sibling.start_mark.index
        return Splice(start, start, rendered + ", ")
    close = text.rfind("}", anchor.start_mark.index, anchor.end_mark.index)
    if close == -1:
        raise CannotEdit("flow mapping without a closing brace")
    last_value_end = _content_end(anchor)
    return Splice(last_value_end, last_value_end, ", " + rendered)


def _flow_entry(key: str, value: Any, quoted: bool) -> str:
    q = '"' if quoted else ""
    if isinstance(value, dict):
        inner = ", ".join(_flow_entry(k, value[k], quoted) for k in sorted(value, key=_order))
        return f"{q}{key}{q}: {{{inner}}}"
    return f"{q}{key}{q}: {q}{value}{q}"


# -- helpers -----------------------------------------------------------------------------------


def _order(key: str) -> tuple[int, str]:
    return (KEY_ORDER.get(key, 99), key)


def _first_sibling_after(anchor: MappingNode, tree: Tree) -> ScalarNode | None:
    """The first existing key that belongs after all the new keys (memory after cpu ...), if any."""
    last_new = max(KEY_ORDER.get(k, 99) for k in tree)
    for key_node, _ in mapping_items(anchor):
        if KEY_ORDER.get(key_node.value, -1) > last_new:
            return key_node
    return None


def _content_end(node: Node) -> int:
    """End index of the last scalar inside ``node`` (or of a flow collection inside it), ignoring
    trailing comments. CannotEdit when it ends with an alias: its marks are the anchored node's."""
    if isinstance(node, ScalarNode):
        return node.end_mark.index
    if getattr(node, "flow_style", False) and not isinstance(node, MappingNode):
        return node.end_mark.index
    if isinstance(node, MappingNode):
        if node.flow_style and not node.value:
            return node.end_mark.index
        if not node.value:
            return node.start_mark.index
        key, last = node.value[-1]
        if last.start_mark.index < key.end_mark.index:
            raise CannotEdit(f"the mapping ends with an alias (*{last.anchor or '...'}); nothing is inserted after it")
        if isinstance(last, (MappingNode, SequenceNode)) and last.flow_style:
            return last.end_mark.index  # after its closing bracket, not inside it
        return _content_end(last)
    if isinstance(node, SequenceNode):
        if node.flow_style or not node.value:
            return node.end_mark.index
        return _content_end(node.value[-1])
    return node.end_mark.index


def _ends_with_block_scalar(node: Node) -> bool:
    while isinstance(node, (MappingNode, SequenceNode)) and node.value and not node.flow_style:
        last = node.value[-1]
        node = last[1] if isinstance(node, MappingNode) else last
    return isinstance(node, ScalarNode) and node.style in ("|", ">")


def indent_step(root: Node | None) -> int:
    """The file's mapping indentation: the most common (child column - key column), default 2."""
    return _most_common_offset(root, MappingNode, minimum=1, default=2)


def sequence_indent(root: Node | None) -> int:
    """How far the file puts a block list's dashes right of its key (0: ``containers:`` / ``- name``),
    the most common offset, default 2."""
    return _most_common_offset(root, SequenceNode, minimum=0, default=DEFAULT_SEQUENCE_INDENT)


def _most_common_offset(root: Node | None, kind: type[MappingNode] | type[SequenceNode], minimum: int, default: int) -> int:
    """The most common (value column - key column) over the file's non-empty block values of ``kind``
    that are at least ``minimum`` right of their key; ``default`` when there are none."""
    offsets: Counter[int] = Counter()

    def walk(node: Node | None, depth: int = 0) -> None:
        if node is None or depth > 64:
            return
        if isinstance(node, MappingNode):
            for key, value in node.value:
                if isinstance(value, kind) and not value.flow_style and value.value:
                    offset = value.start_mark.column - key.start_mark.column
                    if offset >= minimum:
                        offsets[offset] += 1
                walk(value, depth + 1)
        elif isinstance(node, SequenceNode):
            for item in node.value:
                walk(item, depth + 1)

    walk(root)
    return offsets.most_common(1)[0][0] if offsets else default


def _line_ending(text: str) -> str:
    return "\r\n" if "\r\n" in text else "\n"


def _dotted(path: YamlPath) -> str:
    out = ""
    for key in path:
        out += f"[{key}]" if isinstance(key, int) else (f".{key}" if out else str(key))
    return out
