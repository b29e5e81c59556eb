"""A note file compiled again in the same process (``watch``, ``preview``) reuses the cards
whose inputs did not change: the records are always those of a compile from scratch."""

from __future__ import annotations

import random
from collections.abc import Callable
from pathlib import Path

import pytest

from pipeline import load_config
from pipeline.parse import parse_file
from pipeline.records import ParsedFile
from tests.conftest import FIXTURES, SEEDS, tiny_png

#: Note files of every shape the parser reads, each with the folder it is compiled in.
FILES = [
    *sorted(SEEDS.glob("*.md")),
    *sorted((FIXTURES / "parse").glob("*.md")),
    *(FIXTURES / "render" / name / "notes.md" for name in ("image_forms", "math", "raw_html")),
]
APPENDED = "\n\n## 新节\n\n1. 新问题？\n\n   新答案。\n"


def _compile(file: Path, text: str, previous: ParsedFile | None, typst: bool) -> ParsedFile:
    config = load_config(file.parent)
    return parse_file(file.parent, file.name, config, typst, text.encode("utf-8"), previous)


def _random_edit(rng: random.Random) -> Callable[[str], str]:
    """Delete, copy or change one line somewhere."""

    def edit(text: str) -> str:
        lines = text.split("\n")
        i = rng.randrange(len(lines))
        how = rng.choice(("delete", "copy", "change"))
        if how == "delete":
            del lines[i]
        elif how == "copy":
            lines.insert(i, lines[i])
        else:
            at = rng.randrange(len(lines[i]) + 1)
            added = rng.choice(("改", "x", " ", "`", "**", "1. "))
            lines[i] = lines[i][:at] + added + lines[i][at:]
        return "\n".join(lines)

    return edit


EDITS: dict[str, Callable[[str], str]] = {
    "a question appended": lambda text: text + APPENDED,
    "a word changed in place": lambda text: text.replace("的", "之", 1),
    "a line added at the top": lambda text: "\n" + text,
    "a section renamed": lambda text: text.replace("## ", "## 改名 ", 1),
    **{f"random edit {n}": _random_edit(random.Random(n)) for n in range(12)},
}


@pytest.mark.parametrize("file", FILES, ids=lambda f: f"{f.parent.name}/{f.name}")
def test_a_recompiled_file_has_the_records_of_a_compile_from_scratch(file: Path) -> None:
    original = file.read_text(encoding="utf-8")
    for typst in (False, True) if file.parent.name == "math" else (False,):
        before = _compile(file, original, None, typst)
        for name, edit in EDITS.items():
            edited = edit(original)
            fresh = _compile(file, edited, None, typst)
            assert _compile(file, edited, before, typst) == fresh, name


def test_only_the_cards_whose_inputs_changed_are_compiled(compiled_cards: list[str]) -> None:
    file = SEEDS / "python.md"
    original = file.read_text(encoding="utf-8")
    before = _compile(file, original, None, False)
    del compiled_cards[:]
    after = _compile(file, original + APPENDED, before, False)
    assert compiled_cards == ["新问题？"]
    assert after.cards[:-1] == before.cards


def test_a_reused_card_whose_image_changed_is_compiled_again(tmp_path: Path) -> None:
    (tmp_path / "a.png").write_bytes(tiny_png(1))
    note = tmp_path / "notes.md"
    text = "## s\n\n1. 图？\n\n   ![图](a.png)\n\n2. 字？\n\n   文字。\n"
    note.write_text(text, encoding="utf-8")
    before = _compile(note, text, None, False)
    (tmp_path / "a.png").write_bytes(tiny_png(2))  # same name, new bytes: a new media name
    again = _compile(note, text, before, False)
    assert again == _compile(note, text, None, False)
    assert again.cards[0].targets[0].media != before.cards[0].targets[0].media
    assert again.cards[1] == before.cards[1]


def test_a_compile_that_keeps_nothing_makes_no_digests_and_the_same_cards() -> None:
    # A build without the cache keeps no records, so the digests would only cost time.
    file = SEEDS / "nlp.md"
    config = load_config(file.parent)
    keyed = parse_file(file.parent, file.name, config, False, None, None)
    bare = parse_file(file.parent, file.name, config, False, None, None, keyed=False)
    assert bare.compiled == () and len(keyed.compiled) == len(keyed.cards)
    assert (bare.cards, bare.diagnostics) == (keyed.cards, keyed.diagnostics)
