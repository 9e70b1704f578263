"""Tool calls streamed by an OpenAI-compatible upstream, held until they are complete.

Upstreams stream a call's arguments as deltas and do not promise they end as JSON (the
most reported bug of tool-calling servers). So calls are gathered per index and handed on
only when the upstream's reply ends: each call whole (its name and all its arguments in
one piece), after its arguments parse as a JSON object; one that does not ends the reply
with `invalid_tool_call`. The concatenated arguments of every call we emit parse.
"""

from __future__ import annotations

import json

from tickertape.engine.remote_sse import CallDelta
from tickertape.engine.types import EngineError, OutputPiece, PieceKind, new_call_id


class InvalidToolCall(EngineError):
    code = "invalid_tool_call"


class IncompleteToolCall(EngineError):
    code = "tool_call_incomplete"


class UpstreamCalls:
    def __init__(self) -> None:
        self._calls: dict[int, list[str]] = {}  # index -> id, name, arguments

    def add(self, deltas: tuple[CallDelta, ...]) -> None:
        for delta in deltas:
            # Our own id, not the upstream's: some restart at call_0 every round or send a
            # fixed one, and a repeated id would take the next round's result for a repeat.
            # The upstream only ever sees ids we send back to it in the history.
            call = self._calls.setdefault(delta.index, [new_call_id(), "", ""])
            if delta.name:
                call[1] += delta.name
            call[2] += delta.arguments

    def __bool__(self) -> bool:
        return bool(self._calls)

    def pieces(self) -> list[OutputPiece]:
        """Every call, complete and checked, as one piece each (raises InvalidToolCall)."""
        out = []
        for index, (call_id, name, arguments) in enumerate(
            self._calls[i] for i in sorted(self._calls)
        ):
            text = arguments or "{}"
            try:
                value = json.loads(text)
            except ValueError as exc:
                raise InvalidToolCall(
                    f"the upstream's call of {name!r} is not JSON: {exc}"
                ) from exc
            if not name or not isinstance(value, dict):
                raise InvalidToolCall(f"the upstream's call {index} has no name or no object")
            out.append(OutputPiece(PieceKind.TOOL_CALL, text, index, call_id, name))
        return out
