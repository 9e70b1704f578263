"""A conversation's message tree, from its messages in creation order.

Every message has a parent (None: a root, a conversation's first user message or an edit
of it). Siblings are the branches: the replies of one user message (regenerate) and the
user messages that answer one reply (edit). The active path runs from a root to the
conversation's active leaf. Pure functions over anything with `id` and `parent_id`, given
oldest first (by `ordinal`), so "newest" means "created last".
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Generic, Protocol, TypeVar


class Node(Protocol):
    @property
    def id(self) -> str: ...
    @property
    def parent_id(self) -> str | None: ...


N = TypeVar("N", bound=Node)


class Tree(Generic[N]):
    """An index over one conversation's messages (oldest first)."""

    def __init__(self, nodes: Sequence[N]) -> None:
        self.nodes = nodes
        self.by_id: dict[str, N] = {n.id: n for n in nodes}
        self.children: dict[str | None, list[str]] = {}
        for n in nodes:
            self.children.setdefault(n.parent_id, []).append(n.id)

    def path_to(self, message_id: str | None) -> list[N]:
        """Root -> `message_id`, inclusive (empty for None or an unknown id)."""
        path: list[N] = []
        seen: set[str] = set()
        node = self.by_id.get(message_id) if message_id is not None else None
        while node is not None and node.id not in seen:  # `seen`: never loop on bad data
            seen.add(node.id)
            path.append(node)
            node = self.by_id.get(node.parent_id) if node.parent_id is not None else None
        path.reverse()
        return path

    def subtree(self, message_id: str) -> list[str]:
        """`message_id` and every message below it."""
        ids, todo = [], [message_id]
        while todo:
            node = todo.pop()
            if node in self.by_id and node not in ids:
                ids.append(node)
                todo.extend(self.children.get(node, ()))
        return ids

    def newest_leaf_under(self, message_id: str) -> str:
        """Follow the most recently created child at each step down from `message_id`."""
        leaf, seen = message_id, {message_id}
        while (kids := self.children.get(leaf)) and kids[-1] not in seen:
            leaf = kids[-1]
            seen.add(leaf)
        return leaf

    def sibling_ids(self, message_id: str) -> list[str]:
        """The message and its siblings (same parent), oldest first."""
        node = self.by_id.get(message_id)
        if node is None:
            return []
        return list(self.children.get(node.parent_id, [message_id]))

    def active_leaf(self, stored: str | None) -> str | None:
        """The stored active leaf, or (for a conversation that has none) its last message."""
        if stored is not None and stored in self.by_id:
            return stored
        return self.nodes[-1].id if self.nodes else None

    def active_path(self, stored_leaf: str | None) -> list[N]:
        return self.path_to(self.active_leaf(stored_leaf))
