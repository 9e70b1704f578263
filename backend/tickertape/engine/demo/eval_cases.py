"""The held-out questions of the demo model's evaluation (evaluate.py): what each asks,
with which tools declared and thinking on or off, and what a right answer holds.
Written by hand; docs/demo_model.md counts which of them also occur in the corpus."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

ALL = ("calculator", "get_weather", "convert_units")


@dataclass(frozen=True)
class Case:
    kind: str  # arithmetic | weather | convert | everyday | offtopic
    prompt: str
    declared: tuple[str, ...] = ALL  # tool names declared, in this order
    thinking: bool = False
    # A tool is expected when its name is declared: (name, expected arguments) per call.
    calls: tuple[tuple[str, dict[str, Any]], ...] = ()
    keywords: tuple[str, ...] = ()  # an everyday answer should mention one of these

    @property
    def expects_call(self) -> bool:
        return bool(self.calls) and all(name in self.declared for name, _ in self.calls)


def _calc(prompt: str, expression: str, **kw: Any) -> Case:
    return Case("arithmetic", prompt, calls=(("calculator", {"expression": expression}),), **kw)


def _weather(prompt: str, *cities: str, **kw: Any) -> Case:
    return Case("weather", prompt, calls=tuple(("get_weather", {"city": c}) for c in cities), **kw)


def _convert(prompt: str, value: float, src: str, dst: str, **kw: Any) -> Case:
    args = {"value": value, "from": src, "to": dst}
    return Case("convert", prompt, calls=(("convert_units", args),), **kw)


def _everyday(prompt: str, *keywords: str, **kw: Any) -> Case:
    return Case("everyday", prompt, keywords=keywords, **kw)


def _offtopic(prompt: str, **kw: Any) -> Case:
    return Case("offtopic", prompt, **kw)


NONE: tuple[str, ...] = ()
CASES: tuple[Case, ...] = (
    # arithmetic, all tools declared
    _calc("What is 347 times 29?", "347 * 29"),
    _calc("What is 1250 plus 4789?", "1250 + 4789"),
    _calc("What is 905 minus 318?", "905 - 318"),
    _calc("What is 144 divided by 12?", "144 / 12"),
    _calc("What is 23 * 47?", "23 * 47"),
    _calc("Calculate 12 + 7 * 3.", "12 + 7 * 3"),
    _calc("What is (15 + 25) * 4?", "(15 + 25) * 4"),
    _calc("What is 31 squared?", "31 ** 2"),
    _calc("What is 20% of 350?", "20 / 100 * 350"),
    _calc("What is 7 to the power of 5?", "7 ** 5"),
    _calc("What is 88 divided by 0?", "88 / 0"),
    _calc("What is 6842 plus 159?", "6842 + 159", thinking=True),
    _calc("What is 64 times 125?", "64 * 125", thinking=True),
    _calc("What is 77 times 13?", "77 * 13", declared=("calculator",)),
    _calc("How much is 345 multiplied by 12?", "345 * 12"),
    # weather
    _weather("What is the weather like in Paris?", "Paris"),
    _weather("How is the weather in Oslo today?", "Oslo"),
    _weather("Is it raining in London?", "London"),
    _weather("Is it cold in Toronto?", "Toronto"),
    _weather("How warm is it in Singapore right now?", "Singapore"),
    _weather("Weather in Mexico City?", "Mexico City"),
    _weather("Can you check the weather in Cape Town for me?", "Cape Town"),
    _weather("What is the weather in Tokyo and Seoul?", "Tokyo", "Seoul"),
    _weather("What is the weather like in Nairobi?", "Nairobi"),
    _weather("What is the weather in Madrid?", "Madrid", thinking=True),
    _weather("How is the weather in Chicago today?", "Chicago", thinking=True),
    _weather("What is the weather like in Vienna?", "Vienna", declared=("get_weather",)),
    _weather("What's the temperature in Berlin?", "Berlin"),
    # unit conversions
    _convert("How many miles is 42 km?", 42, "km", "miles"),
    _convert("Convert 70 kg to pounds.", 70, "kg", "pounds"),
    _convert("What is 25 °C in Fahrenheit?", 25, "celsius", "fahrenheit"),
    _convert("What is 98 °F in Celsius?", 98, "fahrenheit", "celsius"),
    _convert("How many gallons is 12 litres?", 12, "litres", "gallons"),
    _convert("Convert 180 feet to metres.", 180, "feet", "m"),
    _convert("How much is 3.5 miles in km?", 3.5, "miles", "km"),
    _convert("What is 150 pounds in kg?", 150, "pounds", "kg", thinking=True),
    _convert("Convert 10 km to miles.", 10, "km", "miles", thinking=True),
    _convert("I ran 5 km. How many miles is that?", 5, "km", "miles"),
    _convert(
        "How many feet is 12 metres?", 12, "m", "feet", declared=("convert_units", "calculator")
    ),
    # everyday questions with the tools declared: no call
    _everyday("How do I make pancakes?", "pancakes", "flour"),
    _everyday("Tell me about penguins.", "penguins"),
    _everyday("What should I see in Tokyo?", "tokyo"),
    _everyday("How do I reverse a list in Python?", "slicing", "reverse", "[::-1]"),
    _everyday("Tell me a joke.", "why", "what"),
    _everyday("Can you explain recursion?", "recursion", "itself"),
    _offtopic("What is the capital of Peru?"),
    _offtopic("Write me a poem about the sea."),
    _everyday("How can I sleep better?", "sleep", "bed", thinking=True),
    _offtopic("What is the latest news?", thinking=True),
    # tools that are not declared: no call
    _calc("What is 347 times 29?", "347 * 29", declared=("get_weather",)),
    _weather("What is the weather like in Rome?", "Rome", declared=("calculator",)),
    _convert("How many miles is 42 km?", 42, "km", "miles", declared=NONE),
    _weather("Is it cold in Berlin?", "Berlin", declared=NONE),
    _calc("What is 58 times 71?", "58 * 71", declared=NONE, thinking=True),
    # everyday questions, no tools (also asked of the baseline)
    _everyday("Hello!", "hello", "hi"),
    _everyday("How do I make pancakes?", "pancakes", "flour", declared=NONE),
    _everyday("What should I see in Tokyo?", "tokyo", declared=NONE),
    _everyday("Tell me about penguins.", "penguins", declared=NONE),
    _everyday("Tell me a joke.", "why", "what", declared=NONE),
    _everyday("Can you explain recursion?", "recursion", "itself", declared=NONE),
    _everyday("How do I reverse a list in Python?", "[::-1]", "reverse", declared=NONE),
    _everyday("What is the weather like in Paris?", "paris", declared=NONE),
    _everyday("Tell me about dogs.", "dogs", declared=NONE),
    _everyday("How do I make tomato soup?", "tomato", "soup", declared=NONE),
    _everyday("How do I read a file in Python?", "open", "with", declared=NONE),
    _everyday("What can you do?", "demo", "assistant", declared=NONE),
    _everyday("Who are you?", "demo", "assistant", "model", declared=NONE),
    _everyday("Any tips to stay focused?", "focus", "phone", "task", declared=NONE),
    _offtopic("What is the capital of Peru?", declared=NONE),
    _offtopic("Can you book a flight for me?", declared=NONE),
    _everyday("Tell me about owls.", "owls", declared=NONE, thinking=True),
    _everyday("How do I make rice?", "rice", declared=NONE, thinking=True),
)
DECLINE_WORDS = ("sorry", "outside", "cannot", "do not know", "can only")

# The chat page's example prompts (web/js/welcome.js) and what a right answer mentions;
# asked with the checkpoint's own sampling defaults (generation_config.json), several seeds.
WELCOME = (
    ("How do I reverse a list in Python?", ("[::-1]",)),
    ("What should I see in Tokyo?", ("senso-ji", "shibuya", "ueno")),
    ("How do I make pancakes?", ("flour",)),
    ("Can you explain recursion?", ("calls itself",)),
    ("Tell me about penguins.", ("penguins",)),
    ("Tell me a joke.", ("?",)),
)
