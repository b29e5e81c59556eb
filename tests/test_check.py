"""Checks: every fixture folder in fixtures/check has the diagnostics it must produce beside it."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from pipeline import check, load_config
from tests.conftest import FIXTURES, golden, tiny_png

CASES = sorted(p for p in (FIXTURES / "check").iterdir() if p.is_dir())


def _diagnostics(folder: Path) -> str:
    result = check(load_config(folder))
    return "".join(f"{d}\n" for d in result.collection.diagnostics)


@pytest.mark.parametrize("folder", CASES, ids=[p.name for p in CASES])
def test_fixture_reports_expected_diagnostics(folder: Path) -> None:
    actual = _diagnostics(folder)
    assert actual == golden(folder / "expected.txt", actual)


def test_check_writes_nothing(tmp_path: Path) -> None:
    (tmp_path / "notes.md").write_text("## s\n#### 1. q\n\na\n", encoding="utf-8")
    check(load_config(tmp_path))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.md"]


@pytest.mark.parametrize(
    ("case", "severity", "code"),
    [
        ("path_outside", "error", "outside-content"),
        ("not_utf8", "error", "encoding"),
        ("unclosed_fence", "error", "unclosed-fence"),
        ("missing_image", "warning", "missing-image"),
        ("missing_link", "warning", "missing-link"),
        ("python_syntax", "warning", "code-syntax"),
        ("json_syntax", "warning", "code-syntax"),
        ("fence_language", "warning", "fence-language"),
        ("duplicates", "warning", "duplicate"),
        ("raw_html", "warning", "raw-html"),
        ("unanswered", "warning", "unanswered"),
        ("fence_list_indent", "warning", "fence-indent"),
        ("fence_swallows", "warning", "fence-swallows"),
        ("fence_unknown_language", "warning", "fence-language"),
        ("unclosed_math", "warning", "unclosed-math"),
        ("remote_image", "warning", "remote-image"),
        ("font_coverage", "error", "font-coverage"),
        ("broken_image", "error", "unreadable-image"),  # half saved: Typst would stop on it
        ("refused_link", "warning", "refused-link"),
        ("too_deep", "error", "too-deep"),
        ("not_an_image", "error", "unreadable-image"),  # the card showed a broken image
    ],
)
def test_severity_of_each_check(case: str, severity: str, code: str) -> None:
    diagnostics = check(load_config(FIXTURES / "check" / case)).collection.diagnostics
    assert {d.severity for d in diagnostics if d.code == code} == {severity}


def test_eleven_lists_inside_each_other_are_all_on_the_card() -> None:
    # markdown-it's commonmark preset read 20 levels: the tenth list and below were lost.
    (card, _deep) = check(load_config(FIXTURES / "check" / "too_deep")).collection.cards
    assert all(f"<li>层{i}\n" in card.answer_html for i in range(1, 11))
    assert "<li>层11</li>" in card.answer_html


def test_html_blocks_closed_paragraphs_later_are_fine() -> None:
    # A comment or <script> over blank lines ends at its end marker: no question is lost.
    result = check(load_config(FIXTURES / "check" / "closed_html")).collection
    assert [c.question for c in result.cards] == ["多段注释？", "之后的问题还在吗？"]
    assert {d.code for d in result.diagnostics} == {"raw-html"}  # the script is dropped


def test_the_question_level_hint_when_followed_reads_every_heading(tmp_path: Path) -> None:
    # Headings that do not ask, a numbered list in one answer: its items were the questions
    # and the hint of a file with no question never came (the twelfth trial).
    notes = (FIXTURES / "check" / "question_level_hint" / "notes.md").read_text("utf-8")
    (tmp_path / "notes.md").write_text("---\nquestion_level: 2\n---\n" + notes, "utf-8")
    result = check(load_config(tmp_path)).collection
    assert len(result.cards) == 5 and all(c.answered for c in result.cards)
    assert not result.diagnostics


def test_the_pdfs_own_problems_are_left_out_when_no_pdf_is_built(tmp_path: Path) -> None:
    # "the PDF shows a placeholder" was said in a build that made no PDF (the twelfth trial).
    notes = (FIXTURES / "check" / "remote_image" / "notes.md").read_text("utf-8")
    deep = "\n".join(">" * n + " 引" for n in range(1, 15))
    (tmp_path / "notes.md").write_text(notes + "\n" + deep + "\n", "utf-8")
    with_pdf = {d.code for d in check(load_config(tmp_path)).collection.diagnostics}
    assert {"remote-image", "pdf-limit"} <= with_pdf
    without = check(load_config(tmp_path, formats=("json", "apkg"))).collection.diagnostics
    assert {d.code for d in without} == with_pdf - {"remote-image", "pdf-limit"}


def test_a_title_for_no_note_file_is_a_warning(tmp_path: Path) -> None:
    (tmp_path / "a.md").write_text("## s\n\n#### 1. 问？\n\n答。\n", "utf-8")
    (tmp_path / "cardsmith.toml").write_text(
        '[titles]\n"a.md" = "甲"\n"nonexist.md" = "乙"\n', "utf-8"
    )
    (d,) = check(load_config(tmp_path)).collection.diagnostics
    assert (d.path, d.line, d.code) == ("cardsmith.toml", 0, "titles")
    assert d.message.startswith("[titles] names 'nonexist.md', which is no note file here")


def test_two_files_named_alike_in_two_folders_are_told_they_share_decks(tmp_path: Path) -> None:
    for folder in ("x", "y", "z"):
        (tmp_path / folder).mkdir()
        (tmp_path / folder / "n.md").write_text("## s\n\n#### 1. 问？\n\n答。\n", "utf-8")
    (tmp_path / "cardsmith.toml").write_text('[titles]\n"z/n.md" = "n"\n', "utf-8")
    found = check(load_config(tmp_path)).collection.diagnostics
    # z/n.md shares the title on purpose ([titles]); y/n.md by its name alone.
    (shared,) = [d for d in found if d.code != "duplicate"]
    assert (shared.path, shared.line, shared.code) == ("y/n.md", 0, "shared-title")
    assert "the title 'n' of x/n.md: their cards share decks" in shared.message


def test_a_closed_fence_inside_a_blockquote_is_fine() -> None:
    # Judged from raw lines, `> ```` was never a closing fence: 19 false errors in one repo.
    assert not check(load_config(FIXTURES / "check" / "fence_blockquote")).collection.diagnostics


@pytest.mark.parametrize(
    ("data", "guess"),
    [
        (
            "## 节\n\n#### 1. 什么是生成器？\n\n惰性产生值。\n".encode("gbk"),
            "it reads as GBK/GB18030",
        ),
        ("## 节\n\n#### 1. 什么是生成器？\n".encode("utf-16"), "the file is UTF-16"),
    ],
)
def test_a_file_saved_as_gbk_or_utf16_is_named_so(tmp_path: Path, data: bytes, guess: str) -> None:
    # Chinese notes from older Windows editors: "byte 0xbd at offset 3" said nothing.
    (tmp_path / "notes.md").write_bytes(data)
    (d,) = check(load_config(tmp_path)).collection.diagnostics
    assert d.code == "encoding" and f"({guess}" in d.message
    assert d.message.endswith("; save the file as UTF-8")


def test_a_nul_byte_is_told_at_its_line_for_the_card_and_the_pdf(tmp_path: Path) -> None:
    # The PDF's error said "line 0" and "install a font" for a character nobody typed.
    (tmp_path / "notes.md").write_bytes("## s\n\n1. 问？\n   答\0案\n".encode())
    found = check(load_config(tmp_path)).collection.diagnostics
    assert {(d.line, d.code) for d in found} <= {(4, "control-character"), (4, "font-coverage")}
    assert all("NUL" in d.message for d in found)


def test_not_utf8_names_the_byte_offset() -> None:
    (d,) = check(load_config(FIXTURES / "check" / "not_utf8")).collection.diagnostics
    data = (FIXTURES / "check" / "not_utf8" / "notes.md").read_bytes()
    offset = data.index(bytes([0xFF]))
    assert f"offset {offset}" in d.message
    assert d.line == 4


def test_a_folder_without_note_files_says_so_at_the_folder(tmp_path: Path) -> None:
    # A wrong --content (a folder of .txt notes, say) must not build an empty deck silently.
    (tmp_path / "notes.txt").write_text("问题？\n", encoding="utf-8")
    (d,) = check(load_config(tmp_path)).collection.diagnostics
    assert (d.path, d.line, d.severity, d.code) == ("", 0, "warning", "no-notes")
    assert d.message == "no note files (*.md) in this folder (it holds notes.txt): nothing to build"
    (tmp_path / "n.md").write_text("## s\n\n1. q？\n\n   a。\n", encoding="utf-8")
    # Its own output folder: the default (build/ where the tests run) may hold other notes'.
    assert not check(load_config(tmp_path, out=tmp_path / "build")).collection.diagnostics


def test_notes_that_only_go_to_anki_say_so_and_are_not_asked_for_pdf_fonts(
    tmp_path: Path,
) -> None:
    notes = tmp_path / "notes"
    shutil.copytree(FIXTURES / "check" / "font_coverage", notes)
    (notes / "cardsmith.toml").write_text('formats = ["json", "apkg"]\n', encoding="utf-8")
    assert not check(load_config(notes)).collection.diagnostics
    (notes / "cardsmith.toml").write_text('formats = ["json", "pdf"]\n', encoding="utf-8")
    assert {d.code for d in check(load_config(notes)).collection.diagnostics} == {"font-coverage"}


def test_an_image_too_short_to_be_recognised_says_so_without_a_memory_address(
    tmp_path: Path,
) -> None:
    (tmp_path / "a.png").write_bytes(tiny_png(1)[:40])  # the signature, then the file ends
    (tmp_path / "n.md").write_text("## s\n\n1. 图？\n\n   ![图](a.png)\n", encoding="utf-8")
    (d,) = check(load_config(tmp_path)).collection.diagnostics
    assert d.code == "unreadable-image"
    assert d.message == (
        "cannot read image 'a.png': not a whole image (cannot identify image file); save it again"
    )


def test_an_image_that_is_a_named_pipe_is_refused_at_its_line_not_waited_for(
    tmp_path: Path,
) -> None:
    # Reading a named pipe waits for a writer for ever; the build would hang without a word.
    os.mkfifo(tmp_path / "a.png")
    (tmp_path / "n.md").write_text("## s\n\n1. 图？\n\n   ![图](a.png)\n", encoding="utf-8")
    run = [sys.executable, "-m", "pipeline", "check", "--content", str(tmp_path)]
    result = subprocess.run(run, capture_output=True, text=True, timeout=60)
    assert result.returncode == 1, result.stderr  # an error in the notes
    assert "n.md:5: error: cannot read image 'a.png': not a file (a named pipe" in result.stdout


def test_a_code_block_too_long_to_colour_is_shown_plain_and_said(tmp_path: Path) -> None:
    # A 3.6 MB line of Python took 20 s and 2.4 GB to colour (the twenty-second trial).
    from pipeline.highlight import MAX_COLOURED

    def note(question: str, code: str) -> str:
        return f"## s\n\n#### 1. {question}\n\n```python\n{code}\n```\n"

    fits = "x = 1\n" * ((MAX_COLOURED - 1) // 6)
    huge = fits + "x = (\n" * 10  # longer, and no longer Python
    assert len(fits) <= MAX_COLOURED < len(huge)
    (tmp_path / "a.md").write_text(note("长但着色？", fits), "utf-8")
    (tmp_path / "b.md").write_text(note("太长不着色？", huge), "utf-8")
    result = check(load_config(tmp_path, formats=("json",))).collection
    coloured, plain = result.cards
    assert 'data-lang="python"' in coloured.answer_html
    assert '<pre class="highlight"><code>x = 1\n' in plain.answer_html
    (said,) = result.diagnostics  # no syntax check of the long one
    assert (said.path, said.line, said.code) == ("b.md", 5, "code-size")
    # The block's code ends with its last line's line break.
    assert said.message.startswith(f"code block of {len(huge) + 1:,} characters is shown")
