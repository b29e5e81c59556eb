"""One parse, every output: the card's HTML and the sheet's Typst come from the same tokens.

Every folder in fixtures/render holds a note and, beside it, the records it must compile to
(Markdown, HTML and Typst of each card); the tests below name the bug each fixture pins.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from pygments.lexers import get_all_lexers

from pipeline.config import Config
from pipeline.highlight import highlight
from pipeline.parse import parse_file
from pipeline.records import Card
from pipeline.render import markdown
from tests.conftest import FIXTURES, golden

CASES = sorted(p for p in (FIXTURES / "render").iterdir() if p.is_dir())


def compile_cards(folder: Path) -> tuple[Card, ...]:
    parsed = parse_file(folder, "notes.md", Config(content=folder), typst=True)
    assert not [d for d in parsed.diagnostics if d.severity == "error"]
    return parsed.cards


def _records(folder: Path) -> str:
    rows = [
        {
            "question": c.question,
            "answer": c.answer,
            "question_html": c.question_html,
            "answer_html": c.answer_html,
            "question_typst": c.question_typst,
            "answer_typst": c.answer_typst,
            "targets": [[t.written, t.kind, t.file, t.media] for t in c.targets],
        }
        for c in compile_cards(folder)
    ]
    return json.dumps(rows, ensure_ascii=False, indent=1) + "\n"


@pytest.mark.parametrize("folder", CASES, ids=[p.name for p in CASES])
def test_fixture_compiles_to_expected_records(folder: Path) -> None:
    actual = _records(folder)
    assert actual == golden(folder / "expected.json", actual)


def test_tab_indented_answer_prints_its_code_and_list() -> None:
    # The PDF once re-parsed the answer after a spaces-only dedent: the fence printed as
    # prose and the bullets as a code box.
    card = compile_cards(FIXTURES / "render" / "tabs")[0]
    assert card.answer_typst.count("#codeblock(") == 1
    assert "squares" in card.answer_typst.split("#codeblock(")[1]
    assert "#list([写法简洁], [读起来像一句话])" in card.answer_typst
    assert card.answer_html.count("<pre") == 1 and "<ul>" in card.answer_html
    # cards.json keeps Markdown that means the same: the fence and the list survive the dedent.
    kinds = [(t.type, t.info) for t in markdown().parse(card.answer) if t.level == 0]
    assert ("fence", "python") in kinds and ("bullet_list_open", "") in kinds


def test_reference_links_and_images_resolve_with_the_files_definitions() -> None:
    # The PDF once parsed each answer alone, without the definitions elsewhere in the file.
    first, second = compile_cards(FIXTURES / "render" / "reference_links")
    assert '#link("https://docs.python.org/3/tutorial/")[官方教程]' in first.answer_typst
    assert '#cs-image("/fig.png")' in first.answer_typst
    assert "[tutorial]" not in first.answer_typst and "[fig]" not in first.answer_typst
    assert '<img src="fig.png" alt="结构示意">' in first.answer_html
    assert '#link("https://docs.python.org/3/tutorial/")[同一个链接]' in second.answer_typst


def test_indented_code_keeps_no_language_before_a_json_fence() -> None:
    # The PDF once handed the fence languages out in order to every code block, so the
    # indented block was coloured as JSON.
    card = compile_cards(FIXTURES / "render" / "indented_then_fenced")[0]
    indented, fenced = card.answer_typst.split("#codeblock(")[1:]
    assert "fill:" not in indented  # plain text, as on the card
    assert "fill:" in fenced
    assert [b.language for b in card.code_blocks] == ["json"]
    plain, coloured = card.answer_html.split("<pre")[1:]
    assert "<span" not in plain and 'data-lang="json"' in coloured


def test_an_image_in_a_question_is_resolved_like_one_in_an_answer() -> None:
    question, answer = compile_cards(FIXTURES / "render" / "image_in_question")
    (target,) = question.targets
    assert (target.kind, target.file) == ("local", "flow.png")
    assert target.media.endswith(".png") and answer.targets[0].media == target.media
    assert '<img src="flow.png" alt="流程">' in question.question_html
    assert '#cs-image("/flow.png")' in question.question_typst


def test_a_raw_img_whose_file_is_missing_shows_the_placeholder(tmp_path: Path) -> None:
    # An <img src> is an image like ![](…): checked, and never left pointing at nothing.
    (tmp_path / "notes.md").write_text(
        '## s\n#### 1. 图？\n\n<img src="gone.png" width="300"> 与 <img src="https://e.com/a.png">\n',
        encoding="utf-8",
    )
    (card,) = compile_cards(tmp_path)
    assert '<span class="missing-image">[图片缺失: gone.png]</span>' in card.answer_html
    assert '<img src="https://e.com/a.png">' in card.answer_html
    assert [(t.written, t.kind) for t in card.targets] == [
        ("gone.png", "missing"),
        ("https://e.com/a.png", "external"),
    ]
    assert "#missing[图片缺失: gone\\.png]" in card.answer_typst


def test_a_display_formula_in_brackets_is_warned_about_at_its_line(tmp_path: Path) -> None:
    (tmp_path / "notes.md").write_text(
        "## s\n#### 1. 公式？\n\n文字。\n\n\\[\n\\boxed{x}\n\\]\n", encoding="utf-8"
    )
    parsed = parse_file(tmp_path, "notes.md", Config(content=tmp_path), typst=True)
    assert [(d.line, d.code) for d in parsed.diagnostics] == [(6, "math-pdf")]
    assert parsed.cards[0].answer_typst.endswith('#codeblock("\\\\boxed{x}")')


def test_code_in_every_language_pygments_names_is_highlighted_for_card_and_sheet() -> None:
    # The sheet's palette names the standard token types only: YAML's ``Literal.Scalar.Plain``
    # (and the types of twelve other lexers, PostgreSQL's among them) stopped every build
    # that printed a PDF with an internal error (the eighteenth trial).
    code = 'x = 1\nkey: value\n# 注释\n"s" <a> {b}\n'
    for _name, aliases, _files, _types in get_all_lexers():
        for alias in aliases[:1]:
            html, typst = highlight(code, alias, True)
            assert html and typst.startswith("{"), alias
