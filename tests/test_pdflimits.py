"""What the PDF prints at most (pipeline/pdflimits.py): each bound warned at its line by
`check` as by `build`, the card keeps everything, and a sheet too big is refused."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipeline import EnvironmentProblem, build, check, load_config
from pipeline.build import parse_all
from pipeline.export import pdf
from pipeline.pdflimits import MAX_ANSWER_CHARS, MAX_CODE_LINES, MAX_NESTING, MAX_QUESTION_CHARS


def _notes(tmp_path: Path, body: str) -> Path:
    content = tmp_path / "content"
    content.mkdir()
    (content / "n.md").write_text(f"## 节\n#### 1. 问题？\n\n{body}", encoding="utf-8")
    return content


def _pdf_limit(content: Path) -> list[str]:
    found = check(load_config(content)).collection.diagnostics
    return [f"{d.line}: {d.message}" for d in found if d.code == "pdf-limit"]


def test_quotes_nested_past_the_bound_print_flat_and_are_warned(tmp_path: Path) -> None:
    # Typst stops with "maximum show rule depth exceeded" at 16 quotes inside each other.
    content = _notes(tmp_path, "> " * 20 + "最深处\n")
    (warning,) = _pdf_limit(content)
    assert warning.startswith(f"4: block quotes and lists nested more than {MAX_NESTING} deep")
    result = build(load_config(content, out=tmp_path / "out"))
    assert (tmp_path / "out" / "cheatsheet.pdf").is_file()
    assert [d.code for d in result.diagnostics] == ["pdf-limit"]
    card = check(load_config(content)).collection.cards[0]
    assert card.answer_html.count("<blockquote>") == 20  # the card keeps every level


def test_a_long_code_block_prints_its_first_lines(tmp_path: Path) -> None:
    lines = MAX_CODE_LINES + 5
    code = "".join(f"v{i} = {i}\n" for i in range(lines))
    content = _notes(tmp_path, f"```python\n{code}```\n")
    (warning,) = _pdf_limit(content)
    assert warning == (
        f"4: code block of {lines:,} lines: the PDF prints its first 1,000 "
        "(the card shows them all)"
    )
    config = load_config(content, formats=("pdf",))
    (card,) = parse_all(config, typst=True).cards
    assert (
        f'"v{MAX_CODE_LINES - 1}"' in card.answer_typst
        or f"v{MAX_CODE_LINES - 1} " in card.answer_typst
    )
    assert f"v{MAX_CODE_LINES} " not in card.answer_typst
    assert "5 more lines on the card" in card.answer_typst
    assert f"v{lines - 1}" in card.answer_html


def test_a_very_long_answer_prints_a_note(tmp_path: Path) -> None:
    content = _notes(tmp_path, "很长。" * (MAX_ANSWER_CHARS // 3 + 1) + "\n")
    (warning,) = _pdf_limit(content)
    assert warning.startswith("2: answer of 100,002 characters: the PDF prints a note instead")
    (card,) = parse_all(load_config(content, formats=("pdf",)), typst=True).cards
    assert card.answer_typst.startswith("#missing[") and "很长。很长" not in card.answer_typst


def test_a_very_long_question_prints_a_note(tmp_path: Path) -> None:
    content = tmp_path / "content"
    content.mkdir()
    asked = "很长的题干" * (MAX_QUESTION_CHARS // 5 + 1)
    (content / "n.md").write_text(f"## 节\n\n1. {asked}？\n\n   答。\n", encoding="utf-8")
    (warning,) = _pdf_limit(content)
    assert warning.startswith("3: question of 100,006 characters: the PDF prints a note instead")
    (card,) = parse_all(load_config(content, formats=("pdf",)), typst=True).cards
    assert card.question_typst.startswith("#missing[")
    assert "很长的题干很长" not in card.question_typst
    assert card.answer_typst and asked in card.question_html  # the card keeps it all


def test_a_sheet_too_big_to_typeset_is_refused_before_typst_runs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(pdf, "MAX_SHEET_BYTES", 1_000)  # the real bound is 40 MB
    content = _notes(tmp_path, "回答。" * 400 + "\n")
    with pytest.raises(EnvironmentProblem, match="print a part of the notes with --deck or --tag"):
        build(load_config(content, out=tmp_path / "out", formats=("pdf",)))
    assert not (tmp_path / "out").exists()


def test_a_fence_of_50000_backticks_is_quoted_short(tmp_path: Path) -> None:
    content = _notes(tmp_path, "`" * 50_000 + "\ncode\n")
    (error,) = [
        d for d in check(load_config(content)).collection.diagnostics if d.severity == "error"
    ]
    assert len(str(error)) < 200
    assert "'```…' (50,000 × `) is never closed" in error.message
