"""CJK-friendly emphasis and soft breaks (the tats-u/markdown-cjk-friendly proposal)."""

from __future__ import annotations

import pytest
from markdown_it import MarkdownIt

from pipeline.cjk import cjk_friendly, is_cjk

md = MarkdownIt("commonmark").use(cjk_friendly)
plain = MarkdownIt("commonmark")


def render(text: str) -> str:
    return str(md.render(text)).strip()


# Cases in the proposal's categories: CJK punctuation just inside the delimiters,
# full-width brackets and quotes, links and code inside, non-BMP ideographs, Korean.
@pytest.mark.parametrize(
    ("source", "bold"),
    [
        ("**粗体**：后面是全角冒号", "粗体"),
        ("**迭代器（Iterator）**是指", "迭代器（Iterator）"),
        ("这是**“引用”**的内容", "“引用”"),
        ("**真，**她说", "真，"),
        ("**真。**她说", "真。"),
        ("括号**（不加粗吗）**后面", "（不加粗吗）"),
        ("**[链接](https://example.com)**之后", '<a href="https://example.com">链接</a>'),
        ("**`code`，**之后", "<code>code</code>，"),
        ("𠮟**(正式写法)**后", "(正式写法)"),
        ("**推荐几个框架：**React、Vue", "推荐几个框架："),
        ("패키지를 발행하려면 **`npm publish`**를 실행", "<code>npm publish</code>"),
        ("税込**¥10,000**で", "¥10,000"),
    ],
)
def test_emphasis_next_to_cjk_is_bold(source: str, bold: str) -> None:
    html = render(source)
    assert f"<strong>{bold}</strong>" in html
    assert "**" not in html


@pytest.mark.parametrize(
    "source",
    [
        "**a** b *c* d_e_f __g__",
        "a**b**c and *emph*",
        'a**"x"**b stays literal in CommonMark',
        "**foo bar **",
        "__under__score and snake_case_name",
        "* not a list? *",
        "**(**a**)**",
    ],
)
def test_text_without_cjk_renders_exactly_as_commonmark(source: str) -> None:
    assert md.render(source) == plain.render(source)


def test_underscore_next_to_cjk_punctuation() -> None:
    assert render("__注意__：注意事项") == "<p><strong>注意</strong>：注意事项</p>"


def test_non_cjk_punctuation_inside_and_letters_outside_stays_literal() -> None:
    assert render("a**a«**a") == "<p>a**a«**a</p>"


def test_soft_break_between_cjk_adds_no_space() -> None:
    assert render("第一行\n第二行") == "<p>第一行第二行</p>"
    assert render("**第一行**\n第二行") == "<p><strong>第一行</strong>第二行</p>"
    assert render("english\n第二行") == "<p>english\n第二行</p>"


def test_plugin_changes_only_its_own_instance() -> None:
    assert plain.render("**迭代器（Iterator）**是指") == "<p>**迭代器（Iterator）**是指</p>\n"


@pytest.mark.parametrize(
    ("ch", "expected"),
    [("中", True), ("，", True), ("가", True), ("a", False), ("😀", False), ("«", False)],
)
def test_cjk_characters(ch: str, expected: bool) -> None:
    assert is_cjk(ch) is expected
