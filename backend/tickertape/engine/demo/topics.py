"""Topic templates for the synthetic demo corpus: each maker returns one (user, assistant) turn.

All text here was written for tickertape and is Apache-2.0 like the rest of the repo. The
facts are deliberately simple and stable so a 4M-parameter model can learn them; variety
comes from the phrasing templates, not from the knowledge.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import TypeVar

Turn = tuple[str, str]
Maker = Callable[[random.Random], Turn]
K = TypeVar("K")
V = TypeVar("V")

OPENERS = (
    "",
    "",
    "Sure! ",
    "Of course. ",
    "Good question. ",
    "Happy to help. ",
    "Great question! ",
)

CITIES = {
    "Paris": ("mild", "the Eiffel Tower", "the Louvre museum", "a walk along the Seine"),
    "London": ("cool and rainy", "the British Museum", "Hyde Park", "the Tower of London"),
    "Tokyo": (
        "warm and humid in summer",
        "the Senso-ji temple",
        "the Shibuya crossing",
        "Ueno Park",
    ),
    "Rome": ("warm and sunny", "the Colosseum", "the Trevi Fountain", "the old town"),
    "New York": ("cold in winter and hot in summer", "Central Park", "the Met museum", "Brooklyn"),
    "Berlin": ("cool", "the Brandenburg Gate", "Museum Island", "the East Side Gallery"),
    "Lisbon": ("mild and sunny", "the Belem Tower", "the old tram line", "the Alfama district"),
    "Sydney": ("warm", "the Opera House", "Bondi Beach", "the harbour bridge"),
    "Madrid": ("hot in summer", "the Prado museum", "Retiro Park", "the Royal Palace"),
    "Cairo": ("hot and dry", "the pyramids of Giza", "the Egyptian Museum", "the old market"),
}
ANIMALS = {
    "cats": "Cats are small, curious animals that sleep for most of the day. They clean "
    "themselves often and like warm, quiet places.",
    "dogs": "Dogs are loyal and friendly animals that love to play. They need daily walks, "
    "fresh water and a lot of attention.",
    "elephants": "Elephants are the largest land animals. They live in family groups and "
    "have a very good memory.",
    "penguins": "Penguins are birds that cannot fly, but they are excellent swimmers. "
    "Most of them live in the cold south of the world.",
    "owls": "Owls are birds that hunt at night. They have large eyes and can turn their "
    "heads very far.",
    "dolphins": "Dolphins are smart animals that live in the sea. They breathe air and talk "
    "to each other with clicks and whistles.",
    "horses": "Horses are strong and fast animals. People have ridden them for thousands "
    "of years, and they eat grass and hay.",
    "bees": "Bees are small insects that make honey. They help plants grow by carrying "
    "pollen from flower to flower.",
    "rabbits": "Rabbits are soft animals with long ears. They eat plants and like to dig.",
    "turtles": "Turtles carry a hard shell on their back. Some live on land and some live "
    "in the sea, and many of them live for a very long time.",
}
DISHES = {
    "pancakes": [
        "Mix flour, milk, one egg and a pinch of salt",
        "Heat a pan with a little butter",
        "Pour in some batter and cook each side until golden",
    ],
    "a simple salad": [
        "Wash and cut some lettuce, tomato and cucumber",
        "Add olive oil, lemon juice and salt",
        "Toss everything together and serve",
    ],
    "rice": [
        "Rinse one cup of rice",
        "Add two cups of water and a pinch of salt",
        "Cook on low heat with a lid for about fifteen minutes",
    ],
    "scrambled eggs": [
        "Beat two eggs with a little salt",
        "Melt butter in a pan on low heat",
        "Stir the eggs slowly until they are soft and set",
    ],
    "tomato soup": [
        "Cook an onion in olive oil",
        "Add tomatoes, water and salt",
        "Simmer for twenty minutes and blend until smooth",
    ],
    "pasta": [
        "Boil a large pot of salted water",
        "Cook the pasta for about ten minutes",
        "Drain it and add your favourite sauce",
    ],
    "a cup of tea": [
        "Boil fresh water",
        "Pour it over a tea bag in a cup",
        "Wait three to five minutes, then remove the bag",
    ],
}
CONCEPTS = {
    "gravity": "Gravity is the force that pulls things toward each other. It keeps us on "
    "the ground and keeps the moon moving around the earth.",
    "photosynthesis": "Photosynthesis is how plants make their own food. They use sunlight, "
    "water and air to make sugar, and they give off oxygen.",
    "recursion": "Recursion is when a function calls itself to solve a smaller part of the "
    "same problem. Every recursive function needs a base case so that it stops.",
    "the internet": "The internet is a huge network of computers that talk to each other. "
    "It lets you send messages, watch videos and read web pages.",
    "a variable": "A variable is a name that stores a value in a program. You can read the "
    "value later or change it when you need to.",
    "rain": "Rain forms when water in clouds gathers into drops that become too heavy to "
    "float. Then the drops fall to the ground.",
    "a rainbow": "A rainbow appears when sunlight passes through drops of water. The light "
    "bends and splits into many colours.",
    "a function": "A function is a named block of code that does one job. You can call it "
    "many times and give it different inputs.",
    "a list in Python": "A list is an ordered collection of values, written with square "
    "brackets. You can add, remove and change its items.",
    "the seasons": "The seasons change because the earth is tilted. As it moves around the "
    "sun, each half of the earth gets more or less sunlight.",
}
PY_TASKS = {
    "reverse a list": (
        "You can use slicing with a step of minus one.",
        "items = [1, 2, 3]\nprint(items[::-1])",
    ),
    "read a file": (
        "Use `open` inside a `with` block so the file is closed for you.",
        'with open("notes.txt") as f:\n    text = f.read()',
    ),
    "loop over a list": (
        "Use a `for` loop to visit each item in order.",
        'for name in ["Ana", "Ben"]:\n    print(name)',
    ),
    "define a function": (
        "Use the `def` keyword, a name and the parameters.",
        "def add(a, b):\n    return a + b",
    ),
    "join strings": (
        "Call `join` on the separator string.",
        'words = ["hello", "world"]\nprint(" ".join(words))',
    ),
    "sort a list": (
        "Use the built-in `sorted` function, which returns a new list.",
        "numbers = [3, 1, 2]\nprint(sorted(numbers))",
    ),
    "count words": (
        "Split the text into words and take the length of the list.",
        'text = "the cat sat"\nprint(len(text.split()))',
    ),
    "make a dictionary": (
        "Write keys and values inside curly braces.",
        'ages = {"Ana": 30, "Ben": 25}\nprint(ages["Ana"])',
    ),
}
JOKES = (
    "Why did the programmer quit his job? Because he did not get arrays.",
    "Why do bees have sticky hair? Because they use honey combs.",
    "What do you call a bear with no teeth? A gummy bear.",
    "Why did the computer go to the doctor? It had a virus.",
    "Why was the math book sad? It had too many problems.",
    "What do you call a sleeping bull? A bulldozer.",
    "Why did the cat sit on the computer? To keep an eye on the mouse.",
)
HABITS = {
    "sleep better": [
        "Go to bed at the same time every night",
        "Keep your room dark and quiet",
        "Avoid screens for an hour before bed",
    ],
    "stay focused": [
        "Work in short blocks with small breaks",
        "Put your phone in another room",
        "Write down the one task that matters most",
    ],
    "learn to code": [
        "Start with a simple language like Python",
        "Write a little code every day",
        "Build small projects that you care about",
    ],
    "stay healthy": [
        "Drink enough water",
        "Walk or move every day",
        "Eat fruit and vegetables with your meals",
    ],
}
NUMBERS = ("one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten")


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
