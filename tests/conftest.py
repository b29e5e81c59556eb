"""Shared helpers: the repository's paths and one way to parse a fixture."""

from __future__ import annotations

import datetime
import os
from pathlib import Path
from typing import Any

import pytest

from pipeline.config import Config
from pipeline.parse import parse_file
from pipeline.records import ParsedFile

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "tests" / "fixtures"
#: A frozen copy of the seed notes, with their settings and lock file: every count the tests
#: assert is of these. ``content/`` is the user's notes and may change.
SEEDS = FIXTURES / "seeds"

#: ``CARDSMITH_UPDATE_GOLDENS=1 pytest`` rewrites the expected files; review them as a diff.
UPDATE = os.environ.get("CARDSMITH_UPDATE_GOLDENS") == "1"


def parse_fixture(path: Path, **config: object) -> ParsedFile:
    """Parse one fixture file with its folder as the content folder."""
    return parse_file(path.parent, path.name, Config(content=path.parent, **config))  # type: ignore[arg-type]


def golden(path: Path, actual: str) -> str:
    """The expected text stored at ``path`` (written first when updating goldens)."""
    if UPDATE or not path.exists():
        if not UPDATE:
            pytest.fail(f"missing golden {path}; run with CARDSMITH_UPDATE_GOLDENS=1 and review it")
        path.write_text(actual, encoding="utf-8")
    return path.read_text(encoding="utf-8")


def steady_day(collection: Any) -> None:
    """Start the collection's days twelve hours from now (Anki's ``rollover`` hour).

    A test that studies answers a learning card again when its step falls due; a step that
    fell after the day's start (4 a.m. by default) was "tomorrow", and the review counts of
    the tests changed in the twenty minutes before four.
    """
    collection.set_config("rollover", (datetime.datetime.now().hour + 12) % 24)


def tiny_png(red: int = 0) -> bytes:
    """A whole 2×2 PNG whose bytes differ with ``red`` (a build checks that images decode)."""
    import io

    from PIL import Image

    out = io.BytesIO()
    Image.new("RGB", (2, 2), (red, 0, 0)).save(out, "PNG")
    return out.getvalue()


@pytest.fixture
def workers_at_any_size(monkeypatch: pytest.MonkeyPatch) -> None:
    """Note files compiled on workers however small (the build starts them from a few
    hundred KB of notes on)."""
    import sys

    monkeypatch.setattr(sys.modules["pipeline.build"], "_PARALLEL_BYTES", 0)


@pytest.fixture
def compiled_cards(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The questions whose cards are compiled from scratch (not reused), in order."""
    from pipeline import parse as parse_module

    seen: list[str] = []
    real = parse_module._FileParser.compile_card

    def counting(self: parse_module._FileParser, source: parse_module._CardSource) -> None:
        seen.append(source.question)
        real(self, source)

    monkeypatch.setattr(parse_module._FileParser, "compile_card", counting)
    return seen
