"""The note format: every fixture in fixtures/parse has its expected records beside it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pipeline import check, load_config
from pipeline.config import Config
from pipeline.errors import Diagnostic
from pipeline.parse import parse_file
from tests.conftest import FIXTURES, golden, parse_fixture

CASES = sorted((FIXTURES / "parse").glob("*.md"))


def _records(path: Path) -> str:
    parsed = parse_fixture(path)
    rows = [
        {
            "line": c.source.line,
            "deck": c.deck.path,
            "question": c.question,
            "answered": c.answered,
            "answer": c.answer,
            "question_html": c.question_html,
            "answer_html": c.answer_html,
            "code": [[b.language, b.detected, b.valid] for b in c.code_blocks],
            "tags": list(c.tags),
        }
        for c in parsed.cards
    ]
    return json.dumps(rows, ensure_ascii=False, indent=1) + "\n"


def _diagnostics(path: Path) -> str:
    parsed = parse_fixture(path)
    return "".join(f"{d.line}: {d.severity}: {d.code}: {d.message}\n" for d in parsed.diagnostics)


@pytest.mark.parametrize("path", CASES, ids=[p.stem for p in CASES])
def test_fixture_parses_to_expected_records(path: Path) -> None:
    actual = _records(path)
    assert actual == golden(path.with_suffix(".expected.json"), actual)


@pytest.mark.parametrize("path", CASES, ids=[p.stem for p in CASES])
def test_fixture_reports_expected_diagnostics(path: Path) -> None:
    """Never silent: what is in no card is in a diagnostic at its line, one line each."""
    actual = _diagnostics(path)
    assert actual == golden(path.with_suffix(".diagnostics.txt"), actual)


def test_numbering_is_presentation_not_identity() -> None:
    cards = parse_fixture(FIXTURES / "parse" / "heading_questions.md").cards
    assert [c.question for c in cards][:2] == ["什么是**迭代器（Iterator）**？", "第二个问题"]


def test_single_nested_item_is_unwrapped() -> None:
    cards = parse_fixture(FIXTURES / "parse" / "list_questions.md").cards
    assert cards[0].answer == "列表、字典、集合"
    assert "<ol" not in cards[1].answer_html
    assert cards[1].answer_html.count("<p>") == 2  # two paragraphs, no stray "1."


def test_empty_item_is_no_question_and_statement_is_unanswered() -> None:
    cards = parse_fixture(FIXTURES / "parse" / "list_questions.md").cards
    assert len(cards) == 5
    assert cards[-1].question == "这是一句陈述，没有答案。"
    assert not cards[-1].answered


def test_readme_takes_its_folders_name() -> None:
    root = FIXTURES / "parse"
    parsed = parse_file(root, "机器学习/README.md", Config(content=root))
    assert [c.deck.path for c in parsed.cards] == ["Cardsmith::机器学习"]


def test_front_matter_is_metadata_not_a_section() -> None:
    card = parse_fixture(FIXTURES / "parse" / "front_matter.md").cards[0]
    assert card.deck.path == "Cardsmith::Python 进阶::元类"  # its title, then the section
    assert card.tags[-2:] == ("python", "面试")
    assert card.source.line == 9  # lines keep their numbers


def test_question_style_setting_overrides_detection() -> None:
    path = FIXTURES / "parse" / "no_questions.md"
    assert not parse_fixture(path).cards
    cards = parse_fixture(path, question_style="heading", question_level=2).cards
    assert [c.question for c in cards] == ["背景", "心得"]


def test_the_hint_for_a_file_with_one_question_when_followed_reads_it() -> None:
    # The hint names level 1 (the '##' headings are its answer's), not only the '##' level.
    cards = parse_fixture(FIXTURES / "parse" / "one_question_per_file.md", question_level=1).cards
    assert [c.question for c in cards] == ["说说你对梯度裁剪的理解？"]
    assert "## 原理" in cards[0].answer and "<h2>记忆要点</h2>" in cards[0].answer_html


def test_a_heading_repeating_the_file_title_is_no_section(tmp_path: Path) -> None:
    (tmp_path / "1.激活函数.md").write_text(
        "# 1.激活函数\n\n### 1.**激活函数有什么作用？**\n\n引入非线性。\n", encoding="utf-8"
    )
    card = parse_file(tmp_path, "1.激活函数.md", Config(content=tmp_path)).cards[0]
    assert card.deck.path == "Cardsmith::1.激活函数"
    assert card.question == "激活函数有什么作用？"  # a question all in bold: the bold goes


def test_the_file_title_repeated_in_other_case_is_no_section(tmp_path: Path) -> None:
    # Anki tells deck names apart without case: python::Python was one level too many.
    (tmp_path / "python.md").write_text(
        "# Python\n\n## 基础\n\n### 1. 什么是列表？\n\n可变的序列。\n", encoding="utf-8"
    )
    card = parse_file(tmp_path, "python.md", Config(content=tmp_path)).cards[0]
    assert card.deck.path == "Cardsmith::python::基础"


@pytest.mark.parametrize(
    "answer",
    ["<!-- 待补充 -->", "&nbsp;", "<script>alert(1)</script>", "<span></span>", "---"],
    ids=["a comment", "a no-break space", "a removed script", "empty markup", "a rule"],
)
def test_an_answer_that_shows_nothing_is_no_answer(answer: str, tmp_path: Path) -> None:
    # A blank back in Anki (the sixteenth trial): the question waits on the 待回答 page.
    (tmp_path / "n.md").write_text(
        f"## 基础\n\n### 1. 什么是列表？\n\n{answer}\n\n### 2. 什么是元组？\n\n不可变。\n",
        encoding="utf-8",
    )
    cards = parse_file(tmp_path, "n.md", Config(content=tmp_path)).cards
    assert [(c.question, c.answered, c.answer_html) for c in cards] == [
        ("什么是列表？", False, ""),
        ("什么是元组？", True, "<p>不可变。</p>\n"),
    ]


def test_a_comment_never_closed_in_a_list_item_hides_nothing_after_the_item(
    tmp_path: Path,
) -> None:
    # Markdown ends it with the item, as the check says; the sanitiser's HTML parser hid the
    # rest of the answer in it (found with the sixteenth trial's blank answers).
    (tmp_path / "n.md").write_text(
        "#### 1. 列表里的注释？\n\n- <!-- 没关上\n  还在注释里\n\n这一段在外面。\n",
        encoding="utf-8",
    )
    (card,) = parse_file(tmp_path, "n.md", Config(content=tmp_path)).cards
    assert card.answer_html.endswith("<p>这一段在外面。</p>\n")
    assert "还在注释里" not in card.answer_html  # the comment itself is not shown


def test_a_diagnostic_is_one_line() -> None:
    """A question written on two lines is quoted on one (text and JSON alike)."""
    problem = Diagnostic("a.md", 3, "warning", "question has no answer: 第一行\n第二行", "x")
    assert str(problem) == "a.md:3: warning: question has no answer: 第一行 第二行"
    assert problem.as_json()["message"] == "question has no answer: 第一行 第二行"


@pytest.mark.parametrize(
    "notes",
    [
        "1. 图在哪？\n   ![图](https://example.com/a.png)\n",  # the answer goes on the line after
        "1. 图在哪？\n\n   ![图](https://example.com/a.png)\n",
        "## 1. 图在哪？\n\n![图](https://example.com/a.png)\n",
    ],
)
def test_an_answers_image_is_one_target_however_the_answer_starts(
    notes: str, tmp_path: Path
) -> None:
    # Where the question's paragraph went on with the answer, its image was listed twice
    # (cards.json said ["a.png", "a.png"], check "2 remote images": the eleventh trial).
    (tmp_path / "n.md").write_text(notes, "utf-8")
    parsed = parse_file(tmp_path, "n.md", Config(content=tmp_path), False)
    (card,) = parsed.cards
    assert [t.written for t in card.targets] == ["https://example.com/a.png"]
    found = check(load_config(tmp_path)).collection.diagnostics
    assert [d.message.split(" (")[0] for d in found] == ["1 remote image(s)"]
