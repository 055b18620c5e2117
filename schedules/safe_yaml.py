"""YAML that cannot hurt: a size limit, and aliases counted as expanded before anything is built.

PyYAML shares an aliased node instead of copying it, so a 1 KB file of nested aliases ("billion laughs")
loads quickly, and then costs minutes and gigabytes in whatever walks the result (validation, ``str()``).
:func:`load_bounded` measures the document as if every alias were copied (linear in the file, using the
shared structure) and refuses it when that is over ``max_nodes``, before constructing anything.
"""

from __future__ import annotations

from typing import Any

import yaml
from yaml.nodes import MappingNode, Node, SequenceNode

MAX_YAML_BYTES = 1024 * 1024
MAX_YAML_NODES = 200_000


class YamlLimitError(ValueError):
    """A YAML file over a limit; the message names the limit."""


def load_bounded(
    text: str | bytes,
    loader: type[yaml.SafeLoader] = yaml.SafeLoader,
    *,
    max_bytes: int = MAX_YAML_BYTES,
    max_nodes: int = MAX_YAML_NODES,
) -> Any:
    """``yaml.load`` with ``loader`` (a SafeLoader), refusing files over the limits with YamlLimitError."""
    size = len(text.encode("utf-8")) if isinstance(text, str) else len(text)
    if size > max_bytes:
        raise YamlLimitError(f"the file is larger than the limit of {max_bytes // 1024} KB")
    reader = loader(text)
    try:
        try:
            node = reader.get_single_node()
        except RecursionError:
            raise YamlLimitError("the file nests deeper than YAML files here may") from None
        if node is None:
            return None
        if expanded_size(node, max_nodes) > max_nodes:
            raise YamlLimitError(
                f"the file expands to more than the limit of {max_nodes} values (too many aliases)"
            )
        return reader.construct_document(node)
    finally:
        reader.dispose()


def expanded_size(root: Node, limit: int) -> int:
    """Nodes in the document with every alias copied out, counted up to just past ``limit``.

    Each distinct node is measured once (its size is remembered), so the cost is linear in the file; a
    node that contains itself (``&a [*a]``) has no finite size and counts as over the limit."""
    sizes: dict[int, int] = {}
    active: set[int] = set()
    stack: list[tuple[Node, bool]] = [(root, False)]
    while stack:
        node, children_done = stack.pop()
        key = id(node)
        if key in sizes and not children_done:
            continue
        children = _children(node)
        if not children_done:
            if key in active:
                return limit + 1  # recursive alias
            active.add(key)
            stack.append((node, True))
            for child in children:
                if id(child) in active:
                    return limit + 1
                if id(child) not in sizes:
                    stack.append((child, False))
            continue
        active.discard(key)
        total = 1 + sum(sizes[id(child)] for child in children)
        sizes[key] = min(total, limit + 1)
        if key == id(root):
            break
    return sizes[id(root)]


def _children(node: Node) -> list[Node]:
    if isinstance(node, SequenceNode):
        return list(node.value)
    if isinstance(node, MappingNode):
        return [part for pair in node.value for part in pair]
    return []
