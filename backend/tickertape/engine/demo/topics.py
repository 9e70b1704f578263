"""Topic templates for the synthetic demo corpus: each maker returns one (user, assistant) turn.

All text here was written for tickertape and is Apache-2.0 like the rest of the repo; the
facts the templates draw from live in `facts`.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import TypeVar

from tickertape.engine.demo.facts import (
    ANIMALS,
    CITIES,
    CONCEPTS,
    DISHES,
    HABITS,
    JOKES,
    NUMBERS,
    OPENERS,
    PY_TASKS,
)

Turn = tuple[str, str]
Maker = Callable[[random.Random], Turn]
K = TypeVar("K")
V = TypeVar("V")


def _pick(rng: random.Random, table: dict[K, V]) -> tuple[K, V]:
    key = rng.choice(list(table))
    return key, table[key]


def greeting(rng: random.Random) -> Turn:
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
    return user, reply


def weather(rng: random.Random) -> Turn:
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
    return user, reply


def travel(rng: random.Random) -> Turn:
    city, (_climate, *sights) = _pick(rng, CITIES)
    user = rng.choice(
        (
            f"What should I see in {city}?",
            f"I am going to {city}. Any tips?",
            f"What are the best places to visit in {city}?",
        )
    )
    if rng.random() < 0.5:
        items = "\n".join(f"- {s[0].upper()}{s[1:]}" for s in sights)
        return user, f"**{city}** is a great place to visit. Here are a few ideas:\n{items}"
    return user, (
        f"{rng.choice(OPENERS)}In {city} you could visit {sights[0]} and "
        f"{sights[1]}. Many people also enjoy {sights[2]}."
    )


def animals(rng: random.Random) -> Turn:
    animal, fact = _pick(rng, ANIMALS)
    user = rng.choice(
        (
            f"Tell me about {animal}.",
            f"What do you know about {animal}?",
            f"Can you tell me something about {animal}?",
            f"Are {animal} smart?",
        )
    )
    return user, rng.choice(OPENERS) + fact


def cooking(rng: random.Random) -> Turn:
    dish, steps = _pick(rng, DISHES)
    user = rng.choice(
        (
            f"How do I make {dish}?",
            f"Can you give me a recipe for {dish}?",
            f"What is an easy way to cook {dish}?",
        )
    )
    if rng.random() < 0.6:
        items = "\n".join(f"- {s}" for s in steps)
        return user, f"Here is a simple way to make {dish}:\n{items}\n\nEnjoy your meal!"
    return user, (
        f"{rng.choice(OPENERS)}First, {steps[0][0].lower()}{steps[0][1:]}. "
        f"Then {steps[1][0].lower()}{steps[1][1:]}. Finally, "
        f"{steps[2][0].lower()}{steps[2][1:]}."
    )


def explain(rng: random.Random) -> Turn:
    concept, text = _pick(rng, CONCEPTS)
    user = rng.choice(
        (
            f"Can you explain {concept}?",
            f"What is {concept}?",
            f"Explain {concept} in simple words.",
            f"I do not understand {concept}.",
        )
    )
    if rng.random() < 0.3:
        first, rest = text.split(". ", 1)
        return user, f"**In short:** {first}.\n\n{rest}"
    return user, rng.choice(OPENERS) + text


def python(rng: random.Random) -> Turn:
    task, (how, code) = _pick(rng, PY_TASKS)
    user = rng.choice(
        (
            f"How do I {task} in Python?",
            f"How can I {task} with Python?",
            f"Show me how to {task} in Python.",
        )
    )
    return user, f"{rng.choice(OPENERS)}{how} For example:\n\n```python\n{code}\n```"


def joke(rng: random.Random) -> Turn:
    user = rng.choice(
        (
            "Tell me a joke.",
            "Do you know a joke?",
            "Make me laugh.",
            "Can you tell me something funny?",
        )
    )
    return user, rng.choice(("Here is one: ", "Sure! ", "")) + rng.choice(JOKES)


def habits(rng: random.Random) -> Turn:
    goal, tips = _pick(rng, HABITS)
    user = rng.choice(
        (f"How can I {goal}?", f"Any tips to {goal}?", f"I want to {goal}. What should I do?")
    )
    items = "\n".join(f"- {t}" for t in tips)
    return user, f"Here are a few tips to {goal}:\n{items}\n\nSmall steps add up over time."


def clock(rng: random.Random) -> Turn:
    n = rng.randrange(1, 11)
    word = NUMBERS[n - 1]
    choice = rng.randrange(3)
    if choice == 0:
        return rng.choice(("What time is it?", "What day is it today?")), (
            "I do not have access to a clock or a calendar. Please check the time on your device."
        )
    if choice == 1:
        unit = "hour" if n == 1 else "hours"
        return f"How many minutes are in {word} {unit}?", (
            f"There are {n * 60} minutes in {word} {unit}."
        )
    a, b = rng.randrange(1, 20), rng.randrange(1, 20)
    return f"What is {a} plus {b}?", f"{a} plus {b} is {a + b}."


def about(rng: random.Random) -> Turn:
    user = rng.choice(
        ("Who are you?", "What can you do?", "Are you a person?", "What is your name?")
    )
    return user, rng.choice(
        (
            "I am a small demo assistant. I can chat about simple topics like cooking, travel, "
            "animals and Python.",
            "I am a tiny language model made for a demo. My answers are short and I can make "
            "mistakes, so please check important facts.",
        )
    )


def thanks(rng: random.Random) -> Turn:
    user = rng.choice(("Thanks!", "Thank you very much.", "That helps, thanks.", "Great, bye!"))
    return user, rng.choice(
        (
            "You are welcome! Have a nice day.",
            "Glad I could help!",
            "Any time. Let me know if you have more questions.",
        )
    )


def unknown(rng: random.Random) -> Turn:
    # Out-of-scope questions teach a polite refusal instead of a confident wrong topic.
    user = rng.choice(
        (
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
    )
    return user, rng.choice(
        (
            "I am sorry, I do not know much about that. I am a small demo model, so I can only "
            "talk about simple topics like cooking, travel, animals and Python.",
            "That is a good question, but it is outside what I know. Try asking me about "
            "animals, the weather, cooking or Python.",
            "I cannot help with that yet. I am a tiny assistant with a small memory, but I am "
            "happy to tell you a joke or explain a simple idea.",
        )
    )


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
