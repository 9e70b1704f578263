"""Topic templates for the synthetic demo corpus (our own text, Apache-2.0).

Each maker returns one exchange: a `Reply` (a question, a short reasoning and the answer) or
a `ToolUse` (a question, the tool calls, the tools' results and the answer that uses them).
Makers get the names of the tools the conversation declared: a question a declared tool
answers becomes a tool call; without that tool it gets the answer it always had (or a
polite "I would need my calculator for that"). The facts live in `facts`.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from tickertape.engine.demo import tools
from tickertape.engine.demo.facts import (
    ANIMALS,
    CITIES,
    CONCEPTS,
    CONDITIONS,
    DISHES,
    HABITS,
    JOKES,
    NUMBERS,
    OPENERS,
    OTHER_CITIES,
    PY_TASKS,
    SINGULAR,
    UNIT_WORDS,
)

K = TypeVar("K")
V = TypeVar("V")


@dataclass(frozen=True)
class Reply:
    user: str
    answer: str
    thought: str  # the reasoning written inside <think> when thinking is on


@dataclass(frozen=True)
class Call:
    name: str
    arguments: dict[str, Any]


@dataclass(frozen=True)
class ToolUse:
    user: str
    thought: str  # reasoning before the calls
    calls: tuple[Call, ...]
    results: tuple[str, ...]  # the `tool` messages, in call order
    answer: str
    after: str  # reasoning after the results, before the answer
    preface: str = ""  # an optional sentence written before the calls
    extra: dict[str, Any] = field(default_factory=dict)


Exchange = Reply | ToolUse
Maker = Callable[[random.Random, frozenset[str]], Exchange]


def _pick(rng: random.Random, table: dict[K, V]) -> tuple[K, V]:
    key = rng.choice(list(table))
    return key, table[key]


def _think(rng: random.Random, *parts: tuple[str, ...] | str) -> str:
    """One to three sentences: each part is a sentence or a tuple of alternatives.

    The first part always stays (it restates the question); later parts may be dropped,
    so the reasoning is sometimes one sentence and sometimes three.
    """
    chosen = [p if isinstance(p, str) else rng.choice(p) for p in parts]
    kept = chosen[:1] + [s for s in chosen[1:] if rng.random() < 0.8]
    return " ".join(kept)


ASKS = ("The user asks", "The question is", "They want to know", "The user wants to know")


# ---- everyday topics (the answers are the demo model's since the first checkpoint) ------


def greeting(rng: random.Random, declared: frozenset[str] = frozenset()) -> Reply:
    user = rng.choice(
        (
            "Hi!",
            "Hello.",
            "Hey there!",
            "Good morning!",
            "Hi, how are you?",
            "Hello, who are you?",
            "Good evening.",
        )
    )
    reply = rng.choice(
        (
            "Hello! How can I help you today?",
            "Hi there! What can I do for you?",
            "Hello! I am doing well, thank you. What would you like to talk about?",
            "Hi! I am a small assistant. Ask me anything and I will do my best.",
        )
    )
    thought = _think(
        rng,
        ("The user is greeting me.", "This is a greeting.", "The user says hello."),
        ("I will greet them back and offer to help.", "A friendly hello back is enough."),
    )
    return Reply(user, reply, thought)


def weather(rng: random.Random, declared: frozenset[str]) -> Exchange:
    if "get_weather" in declared:
        return weather_tool(rng)
    city, (climate, *_rest) = _pick(rng, CITIES)
    user = rng.choice(
        (
            f"What is the weather like in {city}?",
            f"Is it cold in {city}?",
            f"What should I wear in {city}?",
            f"How is the weather in {city} today?",
        )
    )
    reply = f"I cannot check the weather right now, but {city} is usually {climate}. " + rng.choice(
        (
            "It is a good idea to check a forecast before you go.",
            "Bring a light jacket just in case.",
            "A local weather website will give you the latest forecast.",
        )
    )
    thought = _think(
        rng,
        (
            f"The user asks about the weather in {city}.",
            f"This is a question about the weather in {city}.",
        ),
        ("I cannot check a forecast.", "I have no weather tool here."),
        f"I know that {city} is usually {climate}, so I will say that.",
    )
    return Reply(user, reply, thought)


def travel(rng: random.Random, declared: frozenset[str] = frozenset()) -> Reply:
    city, (_climate, *sights) = _pick(rng, CITIES)
    user = rng.choice(
        (
            f"What should I see in {city}?",
            f"I am going to {city}. Any tips?",
            f"What are the best places to visit in {city}?",
        )
    )
    thought = _think(
        rng,
        (f"The user is planning a trip to {city}.", f"{rng.choice(ASKS)} what to see in {city}."),
        f"I know a few sights there, like {sights[0]}.",
        ("I will suggest some of them.", "A short list of ideas will help."),
    )
    if rng.random() < 0.5:
        items = "\n".join(f"- {s[0].upper()}{s[1:]}" for s in sights)
        return Reply(
            user, f"**{city}** is a great place to visit. Here are a few ideas:\n{items}", thought
        )
    return Reply(
        user,
        f"{rng.choice(OPENERS)}In {city} you could visit {sights[0]} and "
        f"{sights[1]}. Many people also enjoy {sights[2]}.",
        thought,
    )


def animals(rng: random.Random, declared: frozenset[str] = frozenset()) -> Reply:
    animal, fact = _pick(rng, ANIMALS)
    user = rng.choice(
        (
            f"Tell me about {animal}.",
            f"What do you know about {animal}?",
            f"Can you tell me something about {animal}?",
            f"Are {animal} smart?",
        )
    )
    thought = _think(
        rng,
        (f"The user wants to know about {animal}.", f"This is a question about {animal}."),
        f"I remember that {fact.split('. ')[0][0].lower()}{fact.split('. ')[0][1:]}.",
        ("I will share a simple fact.", "I will keep it short and friendly."),
    )
    return Reply(user, rng.choice(OPENERS) + fact, thought)


def cooking(rng: random.Random, declared: frozenset[str] = frozenset()) -> Reply:
    dish, steps = _pick(rng, DISHES)
    user = rng.choice(
        (
            f"How do I make {dish}?",
            f"Can you give me a recipe for {dish}?",
            f"What is an easy way to cook {dish}?",
        )
    )
    thought = _think(
        rng,
        (f"The user wants a recipe for {dish}.", f"{rng.choice(ASKS)} how to make {dish}."),
        f"I know a simple way in three steps, starting with: {steps[0].lower()}.",
        ("I will list the steps.", "I will explain the steps in order."),
    )
    if rng.random() < 0.6:
        items = "\n".join(f"- {s}" for s in steps)
        return Reply(
            user, f"Here is a simple way to make {dish}:\n{items}\n\nEnjoy your meal!", thought
        )
    return Reply(
        user,
        f"{rng.choice(OPENERS)}First, {steps[0][0].lower()}{steps[0][1:]}. "
        f"Then {steps[1][0].lower()}{steps[1][1:]}. Finally, "
        f"{steps[2][0].lower()}{steps[2][1:]}.",
        thought,
    )


def explain(rng: random.Random, declared: frozenset[str] = frozenset()) -> Reply:
    concept, text = _pick(rng, CONCEPTS)
    user = rng.choice(
        (
            f"Can you explain {concept}?",
            f"What is {concept}?",
            f"Explain {concept} in simple words.",
            f"I do not understand {concept}.",
        )
    )
    thought = _think(
        rng,
        (
            f"The user wants a simple explanation of {concept}.",
            f"{rng.choice(ASKS)} what {concept} is.",
        ),
        ("I will explain it in one or two short sentences.", "Simple words are best here."),
    )
    if rng.random() < 0.3:
        first, rest = text.split(". ", 1)
        return Reply(user, f"**In short:** {first}.\n\n{rest}", thought)
    return Reply(user, rng.choice(OPENERS) + text, thought)


def python(rng: random.Random, declared: frozenset[str] = frozenset()) -> Reply:
    task, (how, code) = _pick(rng, PY_TASKS)
    user = rng.choice(
        (
            f"How do I {task} in Python?",
            f"How can I {task} with Python?",
            f"Show me how to {task} in Python.",
        )
    )
    thought = _think(
        rng,
        (f"The user asks how to {task} in Python.", f"This is a Python question: {task}."),
        ("I will explain it and add a short example.", "A small code example will help."),
    )
    return Reply(
        user, f"{rng.choice(OPENERS)}{how} For example:\n\n```python\n{code}\n```", thought
    )


def joke(rng: random.Random, declared: frozenset[str] = frozenset()) -> Reply:
    user = rng.choice(
        (
            "Tell me a joke.",
            "Do you know a joke?",
            "Make me laugh.",
            "Can you tell me something funny?",
        )
    )
    thought = _think(
        rng,
        ("The user wants a joke.", "The user would like something funny."),
        ("I will tell a short one.", "A short and friendly joke is best."),
    )
    return Reply(user, rng.choice(("Here is one: ", "Sure! ", "")) + rng.choice(JOKES), thought)


def habits(rng: random.Random, declared: frozenset[str] = frozenset()) -> Reply:
    goal, tips = _pick(rng, HABITS)
    user = rng.choice(
        (f"How can I {goal}?", f"Any tips to {goal}?", f"I want to {goal}. What should I do?")
    )
    items = "\n".join(f"- {t}" for t in tips)
    thought = _think(
        rng,
        (f"The user wants tips to {goal}.", f"{rng.choice(ASKS)} how to {goal}."),
        ("I will give three simple tips.", "A short list of tips will help."),
    )
    return Reply(
        user, f"Here are a few tips to {goal}:\n{items}\n\nSmall steps add up over time.", thought
    )


def clock(rng: random.Random, declared: frozenset[str]) -> Exchange:
    n = rng.randrange(1, 11)
    word = NUMBERS[n - 1]
    choice = rng.randrange(3)
    if choice == 0:
        user = rng.choice(("What time is it?", "What day is it today?"))
        thought = _think(
            rng,
            ("The user asks for the time or the date.", "They want to know the time or the day."),
            "I do not have a clock or a calendar, so I will say so.",
        )
        return Reply(
            user,
            "I do not have access to a clock or a calendar. Please check the time on your device.",
            thought,
        )
    if choice == 1:
        unit = "hour" if n == 1 else "hours"
        user = f"How many minutes are in {word} {unit}?"
        if "calculator" in declared:
            return calculator_call(rng, user, f"{n} * 60", f"{n} {unit} in minutes")
        thought = _think(
            rng,
            f"{rng.choice(ASKS)} how many minutes are in {word} {unit}.",
            "One hour has 60 minutes.",
        )
        return Reply(user, f"There are {n * 60} minutes in {word} {unit}.", thought)
    a, b = rng.randrange(1, 20), rng.randrange(1, 20)
    user = f"What is {a} plus {b}?"
    if "calculator" in declared:
        return calculator_call(rng, user, f"{a} + {b}", f"{a} plus {b}")
    thought = _think(rng, f"{rng.choice(ASKS)} what {a} plus {b} is.", "This is a small sum.")
    return Reply(user, f"{a} plus {b} is {a + b}.", thought)


def about(rng: random.Random, declared: frozenset[str] = frozenset()) -> Reply:
    user = rng.choice(
        ("Who are you?", "What can you do?", "Are you a person?", "What is your name?")
    )
    thought = _think(
        rng,
        ("The user asks about me.", "The user wants to know who I am."),
        "I am a small demo assistant, so I will say that honestly.",
    )
    return Reply(
        user,
        rng.choice(
            (
                "I am a small demo assistant. I can chat about simple topics like cooking, "
                "travel, animals and Python.",
                "I am a tiny language model made for a demo. My answers are short and I can "
                "make mistakes, so please check important facts.",
            )
        ),
        thought,
    )


def thanks(rng: random.Random, declared: frozenset[str] = frozenset()) -> Reply:
    user = rng.choice(("Thanks!", "Thank you very much.", "That helps, thanks.", "Great, bye!"))
    thought = _think(
        rng,
        ("The user is thanking me.", "The user says thanks."),
        "I will reply kindly.",
    )
    return Reply(
        user,
        rng.choice(
            (
                "You are welcome! Have a nice day.",
                "Glad I could help!",
                "Any time. Let me know if you have more questions.",
            )
        ),
        thought,
    )


UNKNOWN_QUESTIONS = (
    "What is the capital of Peru?",
    "Write me a poem about the sea.",
    "What is the price of gold today?",
    "Who won the game last night?",
    "Can you translate this into French?",
    "What is the meaning of life?",
    "Can you book a flight for me?",
    "What is the latest news?",
    "How do I fix my car engine?",
    "What is quantum physics?",
)
DECLINES = (
    "I am sorry, I do not know much about that. I am a small demo model, so I can only "
    "talk about simple topics like cooking, travel, animals and Python.",
    "That is a good question, but it is outside what I know. Try asking me about "
    "animals, the weather, cooking or Python.",
    "I cannot help with that yet. I am a tiny assistant with a small memory, but I am "
    "happy to tell you a joke or explain a simple idea.",
)


def unknown(rng: random.Random, declared: frozenset[str] = frozenset()) -> Reply:
    # Out-of-scope questions teach a polite refusal instead of a confident wrong topic.
    user = rng.choice(UNKNOWN_QUESTIONS)
    thought = _think(
        rng,
        (f"The user asks: {user}", "This question is outside what I know."),
        ("I am a small model and do not know the answer.", "I should not guess."),
        ("I will politely say so and suggest other topics.", "I will decline kindly."),
    )
    if declared and rng.random() < 0.5:
        thought += " None of my tools can answer it."
    return Reply(user, rng.choice(DECLINES), thought)


# ---- tool topics ---------------------------------------------------------------------


def _fmt(value: float | int) -> str:
    return json.dumps(value)


def _tool_error(result: str) -> str | None:
    payload = json.loads(result)
    error = payload.get("error")
    return error if isinstance(error, str) else None


def _random_weather(rng: random.Random, city: str) -> str:
    """A weather result in run_tool's format with random values (the model learns to copy)."""
    return tools.tool_result(
        {
            "city": city,
            "condition": rng.choice(CONDITIONS),
            "temperature_c": rng.randrange(-15, 41),
            "humidity": rng.randrange(10, 100),
            "wind_kph": rng.randrange(0, 60),
        }
    )


def _weather_sentence(rng: random.Random, result: dict[str, Any]) -> str:
    city, cond = result["city"], result["condition"]
    t, h, w = result["temperature_c"], result["humidity"], result["wind_kph"]
    return rng.choice(
        (
            f"Right now it is {cond} in {city}, at {t} °C.",
            f"The weather in {city} is {cond}, with a temperature of {t} °C.",
            f"In {city} it is {cond} and {t} °C. The humidity is {h}% and the wind is {w} km/h.",
            f"It is {t} °C and {cond} in {city} right now, with a wind of {w} km/h.",
        )
    )


def _weather_lookup(rng: random.Random) -> tuple[str, str]:
    """A city to ask about, written as a user might, and the tool's result for it."""
    roll = rng.random()
    if roll < 0.15:
        city = rng.choice(OTHER_CITIES)
        return city, tools.run_tool("get_weather", {"city": city})
    city = rng.choice(list(tools.WEATHER))
    asked = city.lower() if rng.random() < 0.08 else city
    if roll < 0.45:
        return asked, tools.run_tool("get_weather", {"city": asked})
    return asked, _random_weather(rng, city)


def weather_tool(rng: random.Random) -> ToolUse:
    city, result = _weather_lookup(rng)
    user = rng.choice(
        (
            f"What is the weather like in {city}?",
            f"Is it cold in {city}?",
            f"What should I wear in {city}?",
            f"How is the weather in {city} today?",
            f"What is the weather in {city}?",
            f"Is it raining in {city}?",
            f"How warm is it in {city} right now?",
            f"Weather in {city}?",
            f"Can you check the weather in {city} for me?",
            f"What's the weather like in {city}?",
            f"What is the temperature in {city}?",
            f"Do I need an umbrella in {city}?",
            f"Tell me the weather in {city}.",
            f"How hot is it in {city} today?",
        )
    )
    thought = _think(
        rng,
        (
            f"The user wants the current weather in {city}.",
            f"{rng.choice(ASKS)} the weather in {city}.",
        ),
        ("I can look it up with the get_weather tool.", "The get_weather tool can tell me."),
    )
    call = Call("get_weather", {"city": city})
    error = _tool_error(result)
    if error is not None:
        answer = rng.choice(
            (
                f"Sorry, I have no weather data for {city}. I can check cities like Paris, "
                "London, Tokyo or New York.",
                f"I could not find the weather for {city}: the weather tool only knows a few "
                "big cities.",
            )
        )
        after = f"The tool says: {error}. I will tell the user."
    else:
        payload = json.loads(result)
        answer = _weather_sentence(rng, payload)
        if user.startswith("What should I wear"):
            answer += " Dress for the weather, and check again before you go."
        after = _think(
            rng,
            f"The tool says it is {payload['condition']} and {payload['temperature_c']} °C "
            f"in {payload['city']}.",
            ("I will tell the user.", "I will pass that on in one sentence."),
        )
    preface = ""
    if rng.random() < 0.15:
        preface = rng.choice(
            (f"Let me check the weather in {city}.", "Let me look that up.", "One moment.")
        )
    return ToolUse(user, thought, (call,), (result,), answer, after, preface)


def weather_pair(rng: random.Random, declared: frozenset[str]) -> Exchange:
    if "get_weather" not in declared:
        return weather(rng, declared)
    first, second = rng.sample(list(tools.WEATHER), 2)
    user = rng.choice(
        (
            f"What is the weather in {first} and {second}?",
            f"Is it warmer in {first} or in {second}?",
            f"How is the weather in {first} and in {second} today?",
            f"Compare the weather in {first} and {second}.",
        )
    )
    results = []
    for city in (first, second):
        if rng.random() < 0.3:
            results.append(tools.run_tool("get_weather", {"city": city}))
        else:
            results.append(_random_weather(rng, city))
    a, b = (json.loads(r) for r in results)
    thought = _think(
        rng,
        (
            f"The user asks about the weather in two cities, {first} and {second}.",
            f"{rng.choice(ASKS)} the weather in {first} and {second}.",
        ),
        ("I will look up both with get_weather.", "I can call get_weather for each city."),
    )
    answer = rng.choice(
        (
            f"In {a['city']} it is {a['condition']} and {a['temperature_c']} °C. "
            f"In {b['city']} it is {b['condition']} and {b['temperature_c']} °C.",
            f"Here is the weather right now:\n- **{a['city']}**: {a['condition']}, "
            f"{a['temperature_c']} °C\n- **{b['city']}**: {b['condition']}, "
            f"{b['temperature_c']} °C",
        )
    )
    after = (
        f"{a['city']} is {a['condition']} at {a['temperature_c']} °C and {b['city']} is "
        f"{b['condition']} at {b['temperature_c']} °C. I will give both."
    )
    calls = (Call("get_weather", {"city": first}), Call("get_weather", {"city": second}))
    return ToolUse(user, thought, calls, tuple(results), answer, after)


def _calc_answer(rng: random.Random, expression: str, result: str) -> tuple[str, str]:
    payload = json.loads(result)
    error = payload.get("error")
    if isinstance(error, str):
        answer = rng.choice(
            (
                f"I could not work that out: {error}.",
                f"The calculator could not do that: {error}.",
            )
        )
        return answer, f"The calculator says: {error}. I will explain that to the user."
    value = _fmt(payload["result"])
    answer = rng.choice(
        (
            f"{expression} = {value}",
            f"The answer is {value}.",
            f"{expression} is {value}.",
            f"That makes {value}.",
            f"The result is **{value}**.",
        )
    )
    return answer, f"The calculator says {expression} is {value}. I will give the user the result."


def calculator_call(rng: random.Random, user: str, expression: str, what: str) -> ToolUse:
    result = tools.run_tool("calculator", {"expression": expression})
    answer, after = _calc_answer(rng, expression, result)
    thought = _think(
        rng,
        (f"The user wants me to work out {what}.", f"{rng.choice(ASKS)} {what}."),
        ("I should not guess at arithmetic.", "I must not do the sum in my head."),
        (
            f"I will use the calculator with {expression}.",
            f"The calculator can compute {expression}.",
        ),
    )
    preface = ""
    if rng.random() < 0.1:
        preface = rng.choice(("Let me calculate that.", "I will use the calculator."))
    call = Call("calculator", {"expression": expression})
    return ToolUse(user, thought, (call,), (result,), answer, after, preface)


def _number(rng: random.Random) -> int:
    return rng.choice(
        (
            rng.randrange(2, 10),
            rng.randrange(10, 100),
            rng.randrange(10, 1000),
            rng.randrange(100, 10000),
        )
    )


def _asked(rng: random.Random, sum_: str) -> str:
    """An arithmetic question in one of the usual forms ("How much is" stays out: the
    held-out evaluation asks that way)."""
    return rng.choice(
        (
            f"What is {sum_}?",
            f"What is {sum_}?",
            f"What's {sum_}?",
            f"Can you work out {sum_}?",
            f"Please tell me what {sum_} is.",
        )
    )


def arithmetic(rng: random.Random, declared: frozenset[str]) -> Exchange:
    a, b, c = _number(rng), _number(rng), rng.randrange(2, 20)
    kind = rng.randrange(12)
    if kind == 0:
        word = rng.choice(("times", "times", "multiplied by"))
        user, expr, what = _asked(rng, f"{a} {word} {b}"), f"{a} * {b}", f"{a} {word} {b}"
        if rng.random() < 0.15:
            user = f"Multiply {a} by {b}."
    elif kind == 1:
        user, expr, what = _asked(rng, f"{a} plus {b}"), f"{a} + {b}", f"{a} plus {b}"
        if rng.random() < 0.2:
            user = rng.choice((f"Add {a} and {b}.", f"What is the sum of {a} and {b}?"))
    elif kind == 2:
        user, expr, what = _asked(rng, f"{a} minus {b}"), f"{a} - {b}", f"{a} minus {b}"
        if rng.random() < 0.15:
            user = f"Subtract {b} from {a}."
    elif kind == 3:
        d = rng.choice((b, c, 0)) if rng.random() < 0.1 else rng.choice((b, c))
        what = f"{a} divided by {d}"
        user, expr = _asked(rng, what), f"{a} / {d}"
        if rng.random() < 0.15:
            user = f"Divide {a} by {d}."
    elif kind == 4:
        op = rng.choice(("*", "+", "-", "/"))
        user, expr = f"What is {a} {op} {b}?", f"{a} {op} {b}"
        what = expr
    elif kind == 5:
        op1, op2 = rng.choice(("*", "+", "-")), rng.choice(("*", "+", "-"))
        expr = f"{a} {op1} {b} {op2} {c}"
        user, what = rng.choice((f"Calculate {expr}.", f"Can you compute {expr}?")), expr
    elif kind == 6:
        expr = f"({a} + {b}) * {c}"
        user, what = rng.choice((f"What is {expr}?", f"Calculate {expr}.")), expr
    elif kind == 7:
        n = rng.randrange(2, 100)
        user, expr, what = f"What is {n} squared?", f"{n} ** 2", f"{n} squared"
    elif kind == 8:
        n, p = rng.randrange(2, 13), rng.randrange(2, 9)
        user = f"What is {n} to the power of {p}?"
        expr, what = f"{n} ** {p}", f"{n} to the power of {p}"
    elif kind == 9:
        p = rng.choice((5, 10, 15, 20, 25, 30, 40, 50, 75))
        user, expr, what = f"What is {p}% of {a}?", f"{p} / 100 * {a}", f"{p}% of {a}"
    elif kind == 10:
        n = rng.randrange(2, 1000)
        user = f"What is the square root of {n}?"
        expr, what = f"{n} ** 0.5", f"the square root of {n}"
    else:
        people = rng.randrange(2, 9)
        user = f"We have {a} euros to share between {people} people. How much does each get?"
        expr, what = f"{a} / {people}", f"{a} euros shared by {people} people"
    if "calculator" in declared:
        return calculator_call(rng, user, expr, what)
    thought = _think(
        rng,
        f"{rng.choice(ASKS)} {what}.",
        "I cannot do exact arithmetic on my own, and I have no calculator tool here.",
        "I will say so kindly.",
    )
    answer = rng.choice(
        (
            "I cannot do exact arithmetic on my own. With the calculator tool turned on, I "
            "could work it out for you.",
            "Sorry, I am not good at arithmetic and I have no calculator here. A calculator app "
            "will give you the exact answer.",
        )
    )
    return Reply(user, answer, thought)


CONVERSIONS = (
    ("km", "miles"),
    ("miles", "km"),
    ("kg", "pounds"),
    ("pounds", "kg"),
    ("celsius", "fahrenheit"),
    ("fahrenheit", "celsius"),
    ("litres", "gallons"),
    ("gallons", "litres"),
    ("m", "feet"),
    ("feet", "m"),
    ("km", "m"),
    ("miles", "feet"),
)


def _amount(rng: random.Random, unit: str) -> int | float:
    if unit in ("celsius", "fahrenheit"):
        return rng.randrange(-30, 121)
    roll = rng.random()
    if roll < 0.6:
        return rng.randrange(1, 200)
    if roll < 0.85:
        return rng.randrange(1, 100) + rng.choice((0.5, 0.25, 0.1, 0.75, 0.2))
    return rng.randrange(200, 5000)


def _unit_word(rng: random.Random, unit: str, value: int | float | None = None) -> str:
    word = rng.choice(UNIT_WORDS[unit])
    return SINGULAR.get(word, word) if value == 1 else word


def _shown(unit: str, value: int | float | None = None) -> str:
    """The unit as answers write it: km, miles, °C, ... (singular for exactly one)."""
    word = UNIT_WORDS[unit][0]
    return SINGULAR.get(word, word) if value == 1 else word


def convert(rng: random.Random, declared: frozenset[str]) -> Exchange:
    src, dst = rng.choice(CONVERSIONS)
    if rng.random() < 0.03:  # an impossible one: the tool explains
        src, dst = rng.choice((("kg", "miles"), ("celsius", "km"), ("litres", "feet")))
    value = _amount(rng, src)
    v = _fmt(value)
    src_word, dst_word = _unit_word(rng, src, value), _unit_word(rng, dst)
    user = rng.choice(
        (
            f"How many {dst_word} is {v} {src_word}?",
            f"Convert {v} {src_word} to {dst_word}.",
            f"What is {v} {src_word} in {dst_word}?",
            f"How much is {v} {src_word} in {dst_word}?",
            f"Can you convert {v} {src_word} into {dst_word}?",
            f"Please convert {v} {src_word} to {dst_word}.",
            f"I have {v} {src_word}. What is that in {dst_word}?",
            f"How many {dst_word} are in {v} {src_word}?",
            f"{v} {src_word} to {dst_word}?",
        )
    )
    if "convert_units" not in declared:
        thought = _think(
            rng,
            f"The user wants to convert {v} {src_word} to {dst_word}.",
            "I have no unit converter here, and I should not guess.",
        )
        answer = rng.choice(
            (
                "I cannot convert units reliably on my own. With the unit converter tool turned "
                "on, I could do it for you.",
                "Sorry, I have no unit converter here, so I cannot give you an exact number.",
            )
        )
        return Reply(user, answer, thought)
    args = {"value": value, "from": src, "to": dst}
    result = tools.run_tool("convert_units", args)
    thought = _think(
        rng,
        (
            f"The user wants to convert {v} {src_word} to {dst_word}.",
            f"{rng.choice(ASKS)} how much {v} {src_word} is in {dst_word}.",
        ),
        ("The convert_units tool can do that.", "I will use the convert_units tool."),
    )
    error = _tool_error(result)
    if error is not None:
        answer = f"Sorry, I cannot convert {src_word} to {dst_word}: {error}."
        after = f"The tool says: {error}. I will explain that."
    else:
        number = json.loads(result)["result"]
        r = _fmt(number)
        shown, shown_src = _shown(dst, number), _shown(src, value)
        answer = rng.choice(
            (
                f"{v} {shown_src} is {r} {shown}.",
                f"That is {r} {shown}.",
                f"{v} {shown_src} is about **{r} {shown}**.",
            )
        )
        after = f"The tool says {v} {shown_src} is {r} {shown}. I will tell the user."
    preface = "Let me convert that." if rng.random() < 0.1 else ""
    call = Call("convert_units", args)
    return ToolUse(user, thought, (call,), (result,), answer, after, preface)


# Every topic of the first demo model, in its order; the weather and clock makers call a
# tool when the conversation declares it.
TOPICS: tuple[Maker, ...] = (
    weather,
    travel,
    animals,
    cooking,
    explain,
    python,
    joke,
    habits,
    clock,
    about,
    unknown,
)
# Questions a declared tool answers (without it: the usual answer or a polite decline).
TOOL_TOPICS: tuple[tuple[Maker, float], ...] = (
    (weather, 0.15),
    (weather_pair, 0.07),
    (arithmetic, 0.42),
    (convert, 0.36),
)
