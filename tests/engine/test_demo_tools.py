"""The demo model's example tools: a safe calculator, fixed fake weather, unit conversions."""

from __future__ import annotations

import json

import pytest

from tickertape.engine.demo import tools
from tickertape.engine.demo.tools import ToolError, calculate, convert, run_tool, schema_errors


@pytest.mark.parametrize(
    ("expression", "value"),
    [
        ("347 * 29", 10063),
        ("12 + 7 * 3", 33),
        ("(15 + 25) * 4", 160),
        ("144 / 12", 12),  # a whole quotient is reported as an int
        ("10 / 4", 2.5),
        ("10 / 3", 3.33333),  # six significant digits
        ("2 ** 10", 1024),
        ("2 ** 0.5", 1.41421),
        ("-3 + +5", 2),
        ("17 // 5", 3),
        ("17 % 5", 2),
        ("20 / 100 * 350", 70),
        ("1.5 * 4", 6),
        ("2 × 3 ÷ 4", 1.5),
        ("9 ** 9 ** -1", 1.27652),
        ("+".join(["1"] * 100), 100),  # a long sum is a deep tree: still fine
    ],
)
def test_calculator_computes(expression: str, value: float) -> None:
    assert calculate(expression) == value
    assert type(calculate(expression)) is type(value)


@pytest.mark.parametrize(
    ("expression", "reason"),
    [
        ("__import__('os').system('true')", "only numbers"),
        ("(1).real", "only numbers"),
        ("(2).__class__", "only numbers"),
        ("abs(-1)", "only numbers"),
        ("x + 1", "only numbers"),
        ("[1, 2][0]", "only numbers"),
        ("'a' * 3", "only numbers"),
        ("True + 1", "only numbers"),
        ("lambda: 1", "only numbers"),
        ("1 if 1 else 2", "only numbers"),
        ("1 < 2", "only numbers"),
        ("1 << 100000", "only numbers"),
        ("2 ^ 8", r"use \*\* for powers"),
        ("9 ** 9 ** 9", "exponents above"),
        ("10 ** 1000", "exponents above"),
        ("99 ** 99", "too large"),
        ("(10 ** 99) * (10 ** 99)", "too large"),
        ("1e308 * 10", "too large"),
        ("1 / 0", "division by zero"),
        ("5 % 0", "division by zero"),
        ("0 ** -1", "division by zero"),
        ("(-8) ** 0.5", "not a real number"),
        ("1 +", "not an arithmetic expression"),
        ("", "empty"),
        ("1" + " + 1" * 100, "longer than"),
    ],
)
def test_calculator_refuses(expression: str, reason: str) -> None:
    with pytest.raises(ToolError, match=reason):
        calculate(expression)


def test_calculator_never_evaluates_code(tmp_path: object) -> None:
    # Even a refused expression must have no effect: nothing is executed, only parsed.
    result = json.loads(run_tool("calculator", {"expression": "__import__('sys').exit(3)"}))
    assert "error" in result


@pytest.mark.parametrize(
    ("value", "src", "dst", "result"),
    [
        (42, "km", "miles", 26.1),
        (1, "miles", "km", 1.61),
        (70, "kg", "pounds", 154.32),
        (150, "pounds", "kg", 68.04),
        (25, "celsius", "fahrenheit", 77),
        (-40, "fahrenheit", "celsius", -40),
        (98, "fahrenheit", "celsius", 36.67),
        (12, "litres", "gallons", 3.17),
        (1, "gallons", "litres", 3.79),
        (180, "feet", "m", 54.86),
        (12, "m", "feet", 39.37),
        (3, "km", "m", 3000),
        (0.1, "km", "miles", 0.0621),  # small results keep four decimals
        (0, "celsius", "fahrenheit", 32),
    ],
)
def test_conversions(value: float, src: str, dst: str, result: float) -> None:
    assert convert(value, src, dst) == result


def test_conversion_between_quantities_is_refused() -> None:
    with pytest.raises(ToolError, match="cannot convert kg to miles"):
        convert(5, "kg", "miles")
    with pytest.raises(ToolError, match="unknown unit"):
        convert(5, "kg", "stone")


def test_weather_table_and_unknown_city() -> None:
    assert len(tools.WEATHER) == 20
    paris = json.loads(run_tool("get_weather", {"city": "Paris"}))
    assert paris == {
        "city": "Paris",
        "condition": "sunny",
        "temperature_c": 18,
        "humidity": 55,
        "wind_kph": 12,
    }
    # Case and spacing do not matter; the answer names the city as the table does.
    assert json.loads(run_tool("get_weather", {"city": "  new   york "}))["city"] == "New York"
    assert json.loads(run_tool("get_weather", {"city": "Atlantis"})) == {
        "error": "no weather data for Atlantis"
    }


def test_schemas_are_openai_functions() -> None:
    for tool in tools.TOOLS:
        assert tool["type"] == "function"
        fn = tool["function"]
        assert set(fn) == {"name", "description", "parameters"}
        assert fn["parameters"]["type"] == "object"
        assert set(fn["parameters"]["required"]) <= set(fn["parameters"]["properties"])
    assert [t["function"]["name"] for t in tools.TOOLS] == [
        "calculator",
        "get_weather",
        "convert_units",
    ]
    json.dumps(tools.TOOLS)  # plain JSON, as sent over the API


@pytest.mark.parametrize(
    ("name", "arguments", "errors"),
    [
        ("calculator", {"expression": "1 + 1"}, []),
        ("calculator", {}, ["missing 'expression'"]),
        ("calculator", {"expression": 2}, ["'expression' must be a string"]),
        ("calculator", {"expression": "1", "x": 1}, ["unexpected 'x'"]),
        ("get_weather", {"city": "Paris"}, []),
        ("convert_units", {"value": 1.5, "from": "km", "to": "miles"}, []),
        (
            "convert_units",
            {"value": "1", "from": "km", "to": "miles"},
            ["'value' must be a number"],
        ),
        (
            "convert_units",
            {"value": True, "from": "km", "to": "miles"},
            ["'value' must be a number"],
        ),
        ("convert_units", {"value": 1, "from": "km", "to": "yards"}, ["'to' must be one of"]),
        ("search", {}, ["unknown tool 'search'"]),
        ("calculator", [], ["arguments must be a JSON object"]),
    ],
)
def test_schema_errors(name: str, arguments: object, errors: list[str]) -> None:
    got = schema_errors(name, arguments)
    assert len(got) == len(errors)
    for message, prefix in zip(got, errors, strict=True):
        assert message.startswith(prefix)


def test_run_tool_takes_json_strings_and_never_raises() -> None:
    assert json.loads(run_tool("calculator", '{"expression": "6 * 7"}')) == {
        "expression": "6 * 7",
        "result": 42,
    }
    assert json.loads(run_tool("convert_units", '{"value": 5, "from": "km", "to": "miles"}')) == {
        "value": 5,
        "from": "km",
        "to": "miles",
        "result": 3.11,
    }
    for name, arguments in [
        ("calculator", "{not json"),
        ("calculator", "[1]"),
        ("calculator", {"expression": "1 / 0"}),
        ("nope", {}),
        ("get_weather", {"city": ""}),
        ("convert_units", {"value": 1e300, "from": "km", "to": "miles"}),
    ]:
        assert set(json.loads(run_tool(name, arguments))) == {"error"}
