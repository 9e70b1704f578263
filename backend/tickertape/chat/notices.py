"""Notices about a user's conversations for every open connection of that user (a turn
started on another device, a title change, a deletion).

The chat service publishes; each WebSocket session subscribes for its user and renders a
notice as a frame. `LocalNoticeBus` reaches the sessions of this process; a shared bus
(Redis) implements the same protocol to reach every replica.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol


@dataclass(frozen=True, slots=True)
class Notice:
    user_id: str
    frame: dict[str, Any]  # the WebSocket frame: `type`, `conversation_id`, ...
    origin: str | None = None  # the session it came from, which already knows


Subscriber = Callable[[Notice], None]


class NoticeBus(Protocol):
    def publish(self, notice: Notice) -> None: ...

    def subscribe(self, user_id: str, deliver: Subscriber) -> Callable[[], None]:
        """Call `deliver` (on the event loop) for each notice to `user_id`; returns the
        function that ends the subscription."""


class LocalNoticeBus:
    def __init__(self) -> None:
        self._subscribers: dict[str, set[Subscriber]] = {}

    def publish(self, notice: Notice) -> None:
        for deliver in list(self._subscribers.get(notice.user_id, ())):
            deliver(notice)

    def subscribe(self, user_id: str, deliver: Subscriber) -> Callable[[], None]:
        self._subscribers.setdefault(user_id, set()).add(deliver)

        def unsubscribe() -> None:
            subscribers = self._subscribers.get(user_id)
            if subscribers is not None:
                subscribers.discard(deliver)
                if not subscribers:
                    del self._subscribers[user_id]

        return unsubscribe
