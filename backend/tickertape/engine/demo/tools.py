"""The demo model's example tools: their JSON schemas and fake, offline implementations.

The demo model was trained to call exactly these three tools (OpenAI function format, as
`tools=[...]` of `/v1/chat/completions` and of `apply_chat_template`):

- `calculator {"expression": "12 * (3 + 4)"}`: a safe arithmetic evaluator (`ast`, no
  `eval`): numbers, `+ - * / // % **`, unary signs and parentheses, nothing else;
- `get_weather {"city": "Paris"}`: a fixed fake table of 20 cities (`WEATHER`), never a
  network call;
- `convert_units {"value": 5, "from": "km", "to": "miles"}`: km/miles, kg/pounds,
  celsius/fahrenheit, litres/gallons (US) and m/feet.

`run_tool(name, arguments)` runs one of them and returns the `tool` message content, a JSON
object as a string: the result, or `{"error": "..."}`. It never raises for bad input, so a
server can pass the model's call straight through. Importing this module is cheap (no torch).
"""

from __future__ import annotations

import ast
import json
import math
import operator
from collections.abc import Callable, Mapping
from typing import Any

CALCULATOR: dict[str, Any] = {
    "type": "function",
    "function": {
        "name": "calculator",
        "description": "Evaluate an arithmetic expression.",
        "parameters": {
            "type": "object",
            "properties": {
                "expression": {
                    "type": "string",
                    "description": "Numbers with + - * / ** and parentheses, like 12 * (3 + 4)",
                }
            },
            "required": ["expression"],
        },
    },
}
GET_WEATHER: dict[str, Any] = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Get the current weather in a city.",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string", "description": "The city name"}},
            "required": ["city"],
        },
    },
}
UNITS = ("km", "miles", "kg", "pounds", "celsius", "fahrenheit", "litres", "gallons", "m", "feet")
CONVERT_UNITS: dict[str, Any] = {
    "type": "function",
    "function": {
        "name": "convert_units",
        "description": "Convert a value from one unit to another.",
        "parameters": {
            "type": "object",
            "properties": {
                "value": {"type": "number"},
                "from": {"type": "string", "enum": list(UNITS)},
                "to": {"type": "string", "enum": list(UNITS)},
            },
            "required": ["value", "from", "to"],
        },
    },
}
TOOLS: list[dict[str, Any]] = [CALCULATOR, GET_WEATHER, CONVERT_UNITS]
TOOLS_BY_NAME: dict[str, dict[str, Any]] = {t["function"]["name"]: t for t in TOOLS}

# The fake weather: fixed, so the README and the tests can show exact answers.
# city -> (condition, temperature in °C, humidity in %, wind in km/h)
WEATHER: dict[str, tuple[str, int, int, int]] = {
    "Paris": ("sunny", 18, 55, 12),
    "London": ("rainy", 12, 82, 20),
    "Tokyo": ("cloudy", 24, 70, 9),
    "Rome": ("sunny", 27, 48, 7),
    "New York": ("windy", 15, 60, 31),
    "Berlin": ("cloudy", 14, 66, 15),
    "Lisbon": ("sunny", 23, 58, 18),
    "Sydney": ("clear", 21, 64, 22),
    "Madrid": ("hot and sunny", 33, 25, 10),
    "Cairo": ("hot and dry", 36, 18, 14),
    "Amsterdam": ("rainy", 11, 87, 26),
    "Vienna": ("partly cloudy", 16, 62, 11),
    "Oslo": ("snowy", -3, 80, 16),
    "Toronto": ("foggy", 8, 91, 6),
    "Chicago": ("windy", 5, 57, 38),
    "Mexico City": ("stormy", 19, 77, 24),
    "Cape Town": ("clear", 20, 52, 29),
    "Mumbai": ("humid", 31, 88, 13),
    "Singapore": ("thundery", 30, 84, 8),
    "Seoul": ("cold and clear", -1, 41, 17),
}

# Conversions as (factor, offset) into a base unit per quantity: base = value * factor + offset.
_UNIT_BASE: dict[str, tuple[str, float, float]] = {
    "km": ("length", 1000.0, 0.0),
    "miles": ("length", 1609.344, 0.0),
    "m": ("length", 1.0, 0.0),
    "feet": ("length", 0.3048, 0.0),
    "kg": ("mass", 1.0, 0.0),
    "pounds": ("mass", 0.45359237, 0.0),
    "litres": ("volume", 1.0, 0.0),
    "gallons": ("volume", 3.785411784, 0.0),  # US gallon
    "celsius": ("temperature", 1.0, 0.0),
    "fahrenheit": ("temperature", 5 / 9, -32 * 5 / 9),
}

MAX_EXPRESSION_CHARS = 200
MAX_EXPONENT = 100
MAX_MAGNITUDE = 1e100  # results and operands beyond this are refused, not computed
MAX_DEPTH = 120  # a left-deep sum of 100 terms is 100 levels


class ToolError(ValueError):
    """A tool refused its input; the message is what the model is told."""


def format_number(value: float | int) -> int | float:
    """The number a tool reports: an int when whole, else at most 6 significant digits."""
    if isinstance(value, bool):
        raise ToolError("not a number")
    if isinstance(value, int):
        return value
    if not math.isfinite(value):
        raise ToolError("the result is not a finite number")
    if value.is_integer() and abs(value) < 1e15:
        return int(value)
    return float(f"{value:.6g}")


# ---- calculator ----------------------------------------------------------------------

_BINARY: dict[type[ast.operator], Callable[[Any, Any], Any]] = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
    ast.FloorDiv: operator.floordiv,
    ast.Mod: operator.mod,
    ast.Pow: operator.pow,
}
_UNARY: dict[type[ast.unaryop], Callable[[Any], Any]] = {
    ast.UAdd: operator.pos,
    ast.USub: operator.neg,
}


def _check(value: int | float) -> int | float:
    if isinstance(value, float) and not math.isfinite(value):
        raise ToolError("the result is too large")
    if abs(value) > MAX_MAGNITUDE:
        raise ToolError("the result is too large")
    return value


def _power(base: int | float, exponent: int | float) -> int | float:
    if abs(exponent) > MAX_EXPONENT:
        raise ToolError(f"exponents above {MAX_EXPONENT} are not allowed")
    if base == 0 and exponent < 0:
        raise ToolError("division by zero")
    # Estimate the size first: 10 ** 99 is fine, 99 ** 99 is refused before it is computed.
    if base != 0 and exponent > 0 and exponent * math.log10(abs(base)) > math.log10(MAX_MAGNITUDE):
        raise ToolError("the result is too large")
    result = base**exponent
    if isinstance(result, complex):
        raise ToolError("the result is not a real number")
    return result


def _eval(node: ast.AST, depth: int) -> int | float:
    if depth > MAX_DEPTH:
        raise ToolError("the expression is nested too deeply")
    if isinstance(node, ast.Expression):
        return _eval(node.body, depth + 1)
    if isinstance(node, ast.Constant):
        if isinstance(node.value, bool) or not isinstance(node.value, (int, float)):
            raise ToolError("only numbers are allowed")
        return _check(node.value)
    if isinstance(node, ast.UnaryOp) and type(node.op) in _UNARY:
        return _check(_UNARY[type(node.op)](_eval(node.operand, depth + 1)))
    if isinstance(node, ast.BinOp) and type(node.op) in _BINARY:
        left = _eval(node.left, depth + 1)
        right = _eval(node.right, depth + 1)
        if isinstance(node.op, ast.Pow):
            return _check(_power(left, right))
        if isinstance(node.op, (ast.Div, ast.FloorDiv, ast.Mod)) and right == 0:
            raise ToolError("division by zero")
        return _check(_BINARY[type(node.op)](left, right))
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.BitXor):
        raise ToolError("use ** for powers, not ^")
    raise ToolError("only numbers, + - * / // % ** and parentheses are allowed")


def calculate(expression: str) -> int | float:
    """Evaluate arithmetic safely: the expression is parsed, never executed."""
    if not isinstance(expression, str):
        raise ToolError("the expression must be a string")
    text = expression.strip().replace("×", "*").replace("÷", "/")
    if not text:
        raise ToolError("the expression is empty")
    if len(text) > MAX_EXPRESSION_CHARS:
        raise ToolError(f"the expression is longer than {MAX_EXPRESSION_CHARS} characters")
    try:
        tree = ast.parse(text, mode="eval")
    except SyntaxError:
        raise ToolError("that is not an arithmetic expression") from None
    return format_number(_eval(tree, 0))


# ---- weather and units -----------------------------------------------------------------

_CITY_KEYS = {name.casefold(): name for name in WEATHER}


def weather(city: str) -> dict[str, Any]:
    if not isinstance(city, str) or not city.strip():
        raise ToolError("the city must be a non-empty string")
    name = _CITY_KEYS.get(" ".join(city.split()).casefold())
    if name is None:
        raise ToolError(f"no weather data for {city.strip()}")
    condition, temperature, humidity, wind = WEATHER[name]
    return {
        "city": name,
        "condition": condition,
        "temperature_c": temperature,
        "humidity": humidity,
        "wind_kph": wind,
    }


def convert(value: float, from_unit: str, to_unit: str) -> int | float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ToolError("the value must be a number")
    if abs(value) > MAX_MAGNITUDE:
        raise ToolError("the value is too large")
    source, target = _UNIT_BASE.get(from_unit), _UNIT_BASE.get(to_unit)
    if source is None or target is None:
        unknown = from_unit if source is None else to_unit
        raise ToolError(f"unknown unit {unknown}; use one of {', '.join(UNITS)}")
    if source[0] != target[0]:
        raise ToolError(f"cannot convert {from_unit} to {to_unit}")
    base = value * source[1] + source[2]
    result = (base - target[2]) / target[1]
    return format_number(round(result, 2) if abs(result) >= 1 else round(result, 4))


# ---- validation and dispatch ------------------------------------------------------------

_JSON_TYPES: dict[str, Callable[[Any], bool]] = {
    "string": lambda v: isinstance(v, str),
    "number": lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),
    "integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
    "boolean": lambda v: isinstance(v, bool),
    "object": lambda v: isinstance(v, dict),
    "array": lambda v: isinstance(v, list),
}


def schema_errors(name: str, arguments: Any) -> list[str]:
    """Why `arguments` do not match tool `name`'s parameters (empty when they do).

    Enough JSON Schema for these three tools: object, required, property types, enum;
    properties the schema does not name are errors too.
    """
    tool = TOOLS_BY_NAME.get(name)
    if tool is None:
        return [f"unknown tool {name!r}"]
    schema = tool["function"]["parameters"]
    if not isinstance(arguments, dict):
        return ["arguments must be a JSON object"]
    errors = [f"missing {key!r}" for key in schema["required"] if key not in arguments]
    for key, value in arguments.items():
        spec = schema["properties"].get(key)
        if spec is None:
            errors.append(f"unexpected {key!r}")
            continue
        if not _JSON_TYPES[spec["type"]](value):
            errors.append(f"{key!r} must be a {spec['type']}")
        elif "enum" in spec and value not in spec["enum"]:
            errors.append(f"{key!r} must be one of {', '.join(spec['enum'])}")
    return errors


def _run(name: str, args: Mapping[str, Any]) -> dict[str, Any]:
    if name == "calculator":
        return {"expression": args["expression"], "result": calculate(args["expression"])}
    if name == "get_weather":
        return weather(args["city"])
    value = format_number(args["value"])
    result = convert(value, args["from"], args["to"])
    return {"value": value, "from": args["from"], "to": args["to"], "result": result}


def run_tool(name: str, arguments: Mapping[str, Any] | str) -> str:
    """Run a demo tool; the `tool` message content (a JSON object as a string).

    `arguments` may be the decoded object or the JSON string of a tool call. Bad JSON, an
    unknown tool, arguments off the schema and refused input all come back as
    `{"error": "..."}`, never as an exception.
    """
    try:
        args = json.loads(arguments) if isinstance(arguments, str) else arguments
    except json.JSONDecodeError:
        return tool_result({"error": "the arguments are not valid JSON"})
    if not isinstance(args, Mapping):
        return tool_result({"error": "the arguments must be a JSON object"})
    errors = schema_errors(name, dict(args))
    if errors:
        return tool_result({"error": "; ".join(errors)})
    try:
        return tool_result(_run(name, args))
    except ToolError as exc:
        return tool_result({"error": str(exc)})


def tool_result(payload: Mapping[str, Any]) -> str:
    return json.dumps(payload, ensure_ascii=False)


__all__ = [
    "CALCULATOR",
    "CONVERT_UNITS",
    "GET_WEATHER",
    "TOOLS",
    "UNITS",
    "WEATHER",
    "ToolError",
    "calculate",
    "convert",
    "run_tool",
    "schema_errors",
    "weather",
]
