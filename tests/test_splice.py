"""A note file compiled again after an edit takes the units of its earlier compile whose
lines did not change, and parses only the lines between them (``_FileParser.splice``).

The records are always those of a compile from scratch, units included, edit after edit:
each compile below starts from the one before it, never from a fresh one.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from pathlib import Path

import pytest

from pipeline import load_config
from pipeline import parse as parse_module
from pipeline.parse import compile_file, parse_file
from pipeline.records import ParsedFile, Taken, Unit, units_bytes, units_of
from pipeline.splice import moved_card
from tests.conftest import FIXTURES, SEEDS
from tests.test_reuse import FILES

#: Lines that change how the lines around them parse: headings of every level, fences,
#: raw HTML and formula blocks left open or closed, containers, setext underlines, a
#: reference definition (which reaches the whole file), table rows, question markers.
TRICKY = (
    "# 新章",
    "## 新节",
    "#### 新问题？",
    "#### 1. 编号的问题？",
    "##### 子标题",
    "####### 七级不是标题",
    "#",
    "```",
    "```python",
    "~~~",
    "<!--",
    "-->",
    "<pre>",
    "</pre>",
    "<div>",
    "$$",
    "\\[",
    "\\]",
    "",
    "- 条目",
    "- 条目里的问题？",
    "  - 缩进不够的追问？",
    "- Q:",
    "1. [索引里的笔记](other.md)",
    "- Q: 条目里的问答？",
    "  答：条目的答案。",
    "1. 列表里的问题？",
    "2. 第二个编号的问题？",
    "3) 括号编号的问题？",
    "   - 答案里的条目",
    "   ```",
    "  不够缩进的一行",
    "   缩进的答案。",
    "    # 缩进四格是代码",
    "> # 引用里的标题",
    "Q: 问答的问题？",
    "A: 问答的答案。",
    "**粗体的问题是什么？**",
    "---",
    "===",
    "| 列 | 说明 |",
    "|---|---|",
    "[ref]: https://example.com/",
    "见[链接][ref]。",
    "## 参考文献",
)


def _edit(rng: random.Random) -> Callable[[str], str]:
    """Insert a tricky line, or delete, copy, change or swap lines, somewhere."""

    def edit(text: str) -> str:
        lines = text.split("\n")
        i = rng.randrange(len(lines))
        how = rng.choice(("insert", "insert", "delete", "copy", "change", "swap"))
        if how == "insert":
            lines.insert(i, rng.choice(TRICKY))
        elif how == "delete" and len(lines) > 1:
            del lines[i]
        elif how == "copy":
            lines.insert(i, lines[i])
        elif how == "swap":
            j = rng.randrange(len(lines))
            lines[i], lines[j] = lines[j], lines[i]
        else:
            lines[i] += rng.choice(("改", " 改动", "`", "**", "？"))
        return "\n".join(lines)

    return edit


def _compile(file: Path, text: str, previous: ParsedFile | None) -> ParsedFile:
    config = load_config(file.parent)
    return parse_file(file.parent, file.name, config, False, text.encode("utf-8"), previous)


def _spliced(file: Path, text: str, edited: str) -> tuple[ParsedFile, ParsedFile]:
    """The compile of ``text``, then that of ``edited`` spliced from it: the same as a
    compile from scratch of ``edited``."""
    before = _compile(file, text, None)
    fresh = _compile(file, edited, None)
    after = _compile(file, edited, before)
    assert after == fresh
    assert _units(after) == _units(fresh)
    return before, after


def _units(parsed: ParsedFile) -> object:
    return units_of(parsed.units) if parsed.units else None


SPLICED = [*FILES, FIXTURES / "splice" / "notes.md", FIXTURES / "splice" / "list_notes.md"]


@pytest.mark.parametrize("file", SPLICED, ids=lambda f: f"{f.parent.name}/{f.name}")
def test_edit_after_edit_the_splice_gives_the_records_of_a_compile_from_scratch(
    file: Path,
) -> None:
    rng = random.Random(file.name)
    edit = _edit(rng)
    for _chain in range(3):
        text = file.read_text(encoding="utf-8")
        before = _compile(file, text, None)
        for step in range(25):
            text = edit(text)
            fresh = _compile(file, text, None)
            config = load_config(file.parent)
            data = text.encode("utf-8")
            spliced, taken = compile_file(file.parent, file.name, config, False, data, before)
            assert spliced == fresh, f"step {step}"
            assert _units(spliced) == _units(fresh), f"step {step}"
            # What the splice says it took is the earlier cards, their lines moved: a
            # sync's memo carries their notes over on its word.
            for run in taken:
                took = spliced.cards[run.at : run.at + run.last - run.first]
                earlier = before.cards[run.first : run.last]
                assert list(took) == [moved_card(c, run.moved) for c in earlier], f"step {step}"
            assert not any(map(_one_run, taken, taken[1:])), f"step {step}"
            before = spliced


def _one_run(a: Taken, b: Taken) -> bool:
    """Whether run ``b`` goes on from run ``a`` in both compiles, moved alike (the splice
    names such runs as one)."""
    return a.at + a.last - a.first == b.at and a.last == b.first and a.moved == b.moved


def test_the_splice_names_the_cards_it_took_and_where_they_were() -> None:
    # Two lines added at the top, one question reworded: every other card is taken as it
    # was, two lines down; the reworded one is compiled anew.
    file = FIXTURES / "splice" / "notes.md"
    text = file.read_text(encoding="utf-8")
    before = _compile(file, text, None)
    lines = text.splitlines(keepends=True)
    asks = [i for i, line in enumerate(lines) if line.startswith("#### ")]
    lines[asks[1]] = lines[asks[1]].rstrip("\n") + "（改）\n"
    edited = "前言。\n\n" + "".join(lines)
    config = load_config(file.parent)
    after, taken = compile_file(file.parent, file.name, config, False, edited.encode(), before)
    took = {run.at + k: run.first + k for run in taken for k in range(run.last - run.first)}
    assert {run.moved for run in taken} == {2}
    # The cards before the reworded one and those after it: two runs, not one a question.
    assert len(taken) == 2
    fresh = [i for i in range(len(after.cards)) if i not in took]
    assert [after.cards[i].question for i in fresh] == [before.cards[1].question + "（改）"]
    assert all(after.cards[i].source.line == before.cards[took[i]].source.line + 2 for i in took)


def test_an_edited_answer_parses_only_its_own_unit(
    monkeypatch: pytest.MonkeyPatch, compiled_cards: list[str]
) -> None:
    file = FIXTURES / "splice" / "notes.md"
    text = file.read_text(encoding="utf-8")
    before = _compile(file, text, None)
    del compiled_cards[:]
    edited = text.replace("可以，HTML 注释", "可以的，HTML 注释")
    parsed: list[tuple[int, int]] = []
    real_parse = parse_module._FileParser.parse_lines

    def parse_lines(self: parse_module._FileParser, start: int, end: int) -> object:
        parsed.append((start, end))
        return real_parse(self, start, end)

    def whole(self: parse_module._FileParser) -> ParsedFile:
        raise AssertionError("the file was parsed whole")

    monkeypatch.setattr(parse_module._FileParser, "parse_lines", parse_lines)
    monkeypatch.setattr(parse_module._FileParser, "run", whole)
    after = _compile(file, edited, before)
    assert parsed == [(18, 26)]  # "#### 2. 注释里能藏标题吗？" up to the next question
    assert compiled_cards == ["注释里能藏标题吗？"]
    assert after.cards[0] is before.cards[0] and after.cards[2:] == before.cards[2:]


def test_lines_added_above_a_unit_move_it_and_its_cards(compiled_cards: list[str]) -> None:
    file = FIXTURES / "splice" / "notes.md"
    text = file.read_text(encoding="utf-8")
    before = _compile(file, text, None)
    edited = text.replace("可以，HTML 注释", "可以。\n\nHTML 注释")  # two lines more
    fresh = _compile(file, edited, None)
    del compiled_cards[:]
    after = _compile(file, edited, before)
    assert after == fresh
    assert compiled_cards == ["注释里能藏标题吗？"]
    assert [c.source.line for c in after.cards[2:]] == [c.source.line + 2 for c in before.cards[2:]]
    assert after.diagnostics[0].line == before.diagnostics[0].line + 2  # the setext warning


def test_a_heading_that_is_no_longer_a_chapter_is_read_again(tmp_path: Path) -> None:
    # A numbered heading with numbered questions under it is a chapter (a section); with
    # none, it asks. Its own lines did not change: the question below it went.
    chapter = "## {n}. 第{n}章\n\n#### {n}. 问题{n}？\n\n答案{n}。\n\n"
    text = "".join(chapter.format(n=n) for n in (1, 2, 3))
    edited = text.replace("#### 2. 问题2？\n\n答案2。\n\n", "")
    _, after = _spliced(tmp_path / "notes.md", text, edited)
    assert "第2章" in [card.question for card in after.cards]


def test_a_card_moved_inside_a_parsed_stretch_keeps_its_problems_at_its_lines(
    tmp_path: Path,
) -> None:
    text = "## 节\n\n1. 问题一？\n\n   答案一。\n\n2. 问题二？\n\n   ```foobar\n   x\n   ```\n"
    edited = text.replace("答案一。", "答案一。\n\n   补充。")
    before, after = _spliced(tmp_path / "notes.md", text, edited)
    assert [d.line for d in after.diagnostics] == [d.line + 2 for d in before.diagnostics]


@pytest.mark.parametrize(
    "change",
    [
        pytest.param(lambda t: t.replace("## 基础", "## 基础篇"), id="a section renamed"),
        pytest.param(lambda t: t.replace("#### 2.", "##### 2."), id="a question made sub-heading"),
        pytest.param(lambda t: t.replace("-->\n", ""), id="a comment left open"),
        pytest.param(lambda t: t + "\n[ref]: https://example.com/\n", id="a reference definition"),
        pytest.param(lambda t: "---\nquestion_style: list\n---\n" + t, id="front matter settings"),
    ],
)
def test_an_edit_that_reaches_other_units_is_read_again(change: Callable[[str], str]) -> None:
    file = FIXTURES / "splice" / "notes.md"
    text = file.read_text(encoding="utf-8")
    _spliced(file, text, change(text))


# --- inside a numbered list of questions ----------------------------------------------------

LIST_NOTES = FIXTURES / "splice" / "list_notes.md"


def test_a_unit_starts_at_an_item_after_a_blank_line_numbered_as_its_list_counts() -> None:
    # Not in the list numbered 1., 1., 1. (its items' numbers are not theirs), nor in the
    # tight one (no blank line: read alone, a stretch of it could be loose or tight).
    parsed = _compile(LIST_NOTES, LIST_NOTES.read_text(encoding="utf-8"), None)
    units: tuple[Unit, ...] = units_of(parsed.units)[1]
    assert [u.first for u in units if u.list_at[0]] == [
        "2. 闭包有什么用？",
        "3. 装饰器的本质？",
        "4. `functools.wraps` 做什么？",
        "2) GIL 限制了什么？",
        "3. `copy.deepcopy` 会复制什么？",  # the list after the paragraph starts at 2.
    ]


def test_an_edited_list_question_parses_only_its_own_item(
    monkeypatch: pytest.MonkeyPatch, compiled_cards: list[str]
) -> None:
    text = LIST_NOTES.read_text(encoding="utf-8")
    before = _compile(LIST_NOTES, text, None)
    del compiled_cards[:]
    parsed: list[tuple[int, int]] = []
    real_parse = parse_module._FileParser.parse_lines

    def parse_lines(self: parse_module._FileParser, start: int, end: int) -> object:
        parsed.append((start, end))
        return real_parse(self, start, end)

    monkeypatch.setattr(parse_module._FileParser, "parse_lines", parse_lines)
    edited = text.replace("做装饰器，或者保存状态。", "做装饰器，或者在调用之间保存状态。")
    after = _compile(LIST_NOTES, edited, before)
    assert parsed == [(11, 25)]  # 0-based: from "2. 闭包有什么用？" up to "3. 装饰器的本质？"
    assert compiled_cards == ["闭包有什么用？"]
    assert after == _compile(LIST_NOTES, edited, None)


#: Edits next to where a list of questions is cut into units, each read as a compile of
#: the whole file reads it.
LIST_EDITS: dict[str, tuple[str, str]] = {
    "a blank line removed": ("\n\n2. 闭包", "\n2. 闭包"),
    "an item renumbered": ("2. 闭包", "7. 闭包"),
    "another delimiter": ("2. 闭包", "2) 闭包"),
    "a paragraph between items": ("\n2. 闭包", "\n插入的段落。\n\n2. 闭包"),
    "an answer unindented": ("   做装饰器", "做装饰器"),
    "two items joined": ("\n3. 装饰器的本质？\n   就是", "\n"),
    "an item at the top of the next list": ("### 进阶：\n", "### 进阶：\n\n5. 新问题？\n"),
}


@pytest.mark.parametrize("change", LIST_EDITS, ids=list(LIST_EDITS))
def test_an_edit_where_a_list_is_cut_reads_the_list_as_a_whole_compile_does(
    change: str,
) -> None:
    text = LIST_NOTES.read_text(encoding="utf-8")
    old, new = LIST_EDITS[change]
    assert old in text
    _spliced(LIST_NOTES, text, text.replace(old, new, 1))


def test_a_stretch_of_a_loose_list_that_reads_tight_alone_is_read_whole(
    tmp_path: Path,
) -> None:
    # Item 2 read on its own is a tight list: its answer's paragraph would lose its <p>.
    text = "## 节\n\n1. 问题一？\n\n   答案一。\n\n2. 问题二？\n   ```\n   x\n   ```\n   说明。\n"
    _, after = _spliced(tmp_path / "notes.md", text, text.replace("   x\n", "   y\n"))
    assert "<p>说明。</p>" in after.cards[1].answer_html


def test_a_list_that_becomes_an_answer_is_not_taken_item_by_item(tmp_path: Path) -> None:
    # With "Q:" above it, the whole list answers that question: none of its items asks
    # (a list whose items ask, each answered under it, would start questions of its own).
    text = "## 节\n\n1. 要点一\n\n   说明一。\n\n2. 要点二\n\n   说明二。\n"
    before, after = _spliced(
        tmp_path / "notes.md", text, text.replace("## 节\n", "## 节\n\nQ: 问？\n")
    )
    assert [card.question for card in before.cards] == ["要点一", "要点二"]
    assert [card.question for card in after.cards] == ["问？"]


#: Display formulas whose delimiters pair across headings once an edit adds or removes
#: one (a ``$$`` block opens only where it closes, however far below): found by a trial.
FORMULAS: dict[str, tuple[str, Callable[[str], str]]] = {
    "a closing $$ removed": (
        "## 优化\n#### 1. 什么是梯度？\n$$\ng = \\nabla L\n$$\n#### 2. 什么是学习率？\n步长。\n"
        "#### 3. 什么是动量？\n$$\nv = \\beta v + g\n$$\n",
        lambda t: t.replace("g = \\nabla L\n$$\n", "g = \\nabla L\n", 1),
    ),
    "a closing \\] appended": (
        "Q: What is TCP?\n#\n\\[\n# English notes\n",
        lambda t: t + "\\]\n",
    ),
    "an opening \\[ inserted": (
        "#### 2. 什么是正则化？\n## 基础\n\\]\n",
        lambda t: t.replace("## 基础", "\\[\n## 基础"),
    ),
    "a heading inside a formula found again": (
        "# 第一章 向量\n$$\n# x\n### 三级\n$$\n## 1.2 范数\n# x\n# 1. 一章\n",
        lambda t: t.replace("## 1.2", "# 1.2"),
    ),
}


@pytest.mark.parametrize("case", FORMULAS, ids=list(FORMULAS))
def test_a_formula_whose_delimiters_pair_across_headings_is_read_whole(
    case: str, tmp_path: Path
) -> None:
    text, change = FORMULAS[case]
    _spliced(tmp_path / "notes.md", text, change(text))


def test_a_reference_defined_by_an_answer_read_on_its_own_stops_the_splice(
    tmp_path: Path,
) -> None:
    # The answer's lazy line is parsed on its own, where it is a reference definition.
    text = "# A\n\n1. 什么是 GIL？\n\n   答案\n\n# B\n\n1. 问题？\n\n   see [x][ref]\n"
    edited = text.replace("\n\n   答案\n", "\n[ref]: https://example.com\n")
    _spliced(tmp_path / "notes.md", text, edited)


def test_a_unit_that_becomes_part_of_an_answer_above_it_is_read_again(tmp_path: Path) -> None:
    # "##### 说明" is deeper than the questions: text in no question, where a unit starts.
    # Once the section above it is a question, it is that question's answer.
    text = "## 节\n\n##### 说明\n\n内容。\n\n#### 1. 问题一？\n\n答案一。\n"
    _, after = _spliced(tmp_path / "notes.md", text, text.replace("## 节", "#### 2. 新问题？"))
    assert "内容。" in after.cards[0].answer


def test_a_compile_for_the_pdf_or_without_the_cache_makes_no_units() -> None:
    file = SEEDS / "python.md"
    config = load_config(file.parent)
    assert parse_file(file.parent, file.name, config, False).units
    assert not parse_file(file.parent, file.name, config, True).units
    assert not parse_file(file.parent, file.name, config, False, keyed=False).units


def test_the_units_are_kept_a_field_at_a_time_and_read_back_the_same() -> None:
    # records.units_bytes: a file's units pickled as columns, made again as named tuples.
    file = SEEDS / "python.md"
    shape, units = units_of(parse_file(file.parent, file.name, load_config(file.parent)).units)
    assert len(units) > 10 and all(type(u) is Unit for u in units)
    assert units_of(units_bytes(shape, units)) == (shape, units)
    assert units_of(units_bytes(shape, ())) == (shape, ())
