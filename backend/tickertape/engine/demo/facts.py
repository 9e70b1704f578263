"""Facts and word lists for the synthetic demo corpus (our own text, Apache-2.0).

The facts are deliberately simple and stable so a 3M-parameter model can learn them;
variety comes from the phrasing templates in `topics`, not from the knowledge.
"""

from __future__ import annotations

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

# ---- for the tool topics -------------------------------------------------------------

# Weather conditions of the random results the model learns to copy (the fixed table in
# `tools.WEATHER` uses some of them too).
CONDITIONS = (
    "sunny",
    "cloudy",
    "rainy",
    "windy",
    "foggy",
    "snowy",
    "clear",
    "partly cloudy",
    "stormy",
    "humid",
    "hot and sunny",
    "hot and dry",
    "cold and clear",
    "thundery",
    "drizzly",
    "mild",
)
# Cities the fake weather table does not know: the tool answers with an error.
OTHER_CITIES = (
    "Lyon",
    "Porto",
    "Nairobi",
    "Lima",
    "Denver",
    "Hanoi",
    "Zurich",
    "Krakow",
    "Perth",
    "Osaka",
    "Boston",
    "Athens",
    "Prague",
    "Helsinki",
    "Dubai",
    "Reykjavik",
    "Quito",
    "Havana",
    "Manila",
    "Springfield",
    "Atlantis",
    "Kyoto",
    "Bergen",
    "Glasgow",
)
# How people write each unit of `tools.UNITS`; the first spelling is the one answers use.
UNIT_WORDS = {
    "km": ("km", "kilometres", "kilometers"),
    "miles": ("miles",),
    "kg": ("kg", "kilograms", "kilos"),
    "pounds": ("pounds", "lbs"),
    "celsius": ("°C", "degrees Celsius", "Celsius"),
    "fahrenheit": ("°F", "degrees Fahrenheit", "Fahrenheit"),
    "litres": ("litres", "liters"),
    "gallons": ("gallons",),
    "m": ("metres", "meters", "m"),
    "feet": ("feet", "ft"),
}
SINGULAR = {
    "miles": "mile",
    "kilometres": "kilometre",
    "kilometers": "kilometer",
    "kilograms": "kilogram",
    "kilos": "kilo",
    "pounds": "pound",
    "litres": "litre",
    "liters": "liter",
    "gallons": "gallon",
    "metres": "metre",
    "meters": "meter",
    "feet": "foot",
}
