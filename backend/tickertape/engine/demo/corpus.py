"""Deterministic synthetic chat corpus for the demo model (our own text, Apache-2.0).

A conversation is an optional system prompt, an optional greeting, one to three topic
turns and an optional thank-you. Everything is drawn from one seeded `random.Random`,
so the same seed always yields the same corpus (and, with the training seed, the same
checkpoint).
"""

from __future__ import annotations

import random
from collections.abc import Iterator

from tickertape.engine.demo import topics

Message = dict[str, str]

SYSTEM_PROMPTS = (
    "You are a helpful assistant.",
    "You are a friendly assistant. Keep your answers short.",
    "You are tickertape, a small and helpful assistant.",
    "You are a helpful assistant. Answer clearly and kindly.",
)


def conversation(rng: random.Random) -> list[Message]:
    messages: list[Message] = []
    if rng.random() < 0.35:
        messages.append({"role": "system", "content": rng.choice(SYSTEM_PROMPTS)})
    turns: list[topics.Turn] = []
    if rng.random() < 0.3:
        turns.append(topics.greeting(rng))
    for _ in range(rng.choice((1, 1, 2, 2, 3))):
        turns.append(rng.choice(topics.TOPICS)(rng))
    if rng.random() < 0.2:
        turns.append(topics.thanks(rng))
    for user, assistant in turns:
        messages.append({"role": "user", "content": user})
        messages.append({"role": "assistant", "content": assistant})
    return messages


def conversations(count: int, seed: int = 0) -> Iterator[list[Message]]:
    rng = random.Random(seed)
    for _ in range(count):
        yield conversation(rng)


def vocabulary(count: int = 2000, seed: int = 0) -> set[str]:
    """Lower-case words of the corpus: what the test calls an "English word we taught it"."""
    words: set[str] = set()
    for conv in conversations(count, seed):
        for message in conv:
            words.update(words_of(message["content"]))
    return words


def words_of(text: str) -> list[str]:
    # Letters only: punctuation, digits and Markdown markup are not words to check.
    cleaned = "".join(c.lower() if c.isalpha() else " " for c in text)
    return cleaned.split()


if __name__ == "__main__":
    for conv in conversations(3, seed=1):
        for message in conv:
            print(f"[{message['role']}] {message['content']}")
        print("---")
