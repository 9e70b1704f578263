"""What every benchmark of this directory shares: machine facts, tables, docs/benchmarks.md."""

from __future__ import annotations

import datetime
import os
import platform
import re
import statistics
from collections.abc import Sequence
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

DOC = Path(__file__).resolve().parent.parent / "docs" / "benchmarks.md"
DOC_TITLE = "# Benchmarks\n"


def machine() -> str:
    try:
        torch = version("torch")
    except PackageNotFoundError:
        torch = "not installed"
    load = os.getloadavg()[0]
    return (
        f"{datetime.date.today().isoformat()}, {os.cpu_count()} cores "
        f"({platform.machine()}), Python {platform.python_version()}, torch {torch}, "
        f"load average {load:.1f} at the start"
    )


def table(header: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + " --- |" * len(header)]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines)


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def write_section(title: str, body: str) -> None:
    """Replace the `## title` section of docs/benchmarks.md in place (others stay untouched)."""
    text = DOC.read_text() if DOC.exists() else DOC_TITLE
    section = f"## {title}\n\n{body.strip()}\n"
    pattern = re.compile(rf"^## {re.escape(title)}\n.*?(?=^## |\Z)", re.M | re.S)
    if pattern.search(text):
        text = pattern.sub(lambda _: section + "\n", text, count=1).rstrip("\n") + "\n"
    else:
        text = text.rstrip("\n") + "\n\n" + section
    DOC.write_text(text)
    print(f"wrote section '{title}' of {DOC}")


def publish(title: str, body: str, write: bool = True) -> None:
    """Print a benchmark's result; with `write`, also make it the `## title` section."""
    print(body)
    if write:
        write_section(title, body)
