"""The seed notes (a frozen copy in fixtures/seeds), counted by hand and asserted exactly."""

from __future__ import annotations

import re
from collections import Counter

import pytest

from pipeline import check, load_config
from pipeline.build import CheckResult
from pipeline.records import Deck
from tests.conftest import SEEDS


@pytest.fixture(scope="module")
def seeds() -> CheckResult:
    return check(load_config(SEEDS))


def test_question_counts(seeds: CheckResult) -> None:
    cards = seeds.collection.cards
    # nlp.md: 47 `####` questions (grep -c '^#### '); python.md: 138 numbered items, one empty.
    assert Counter(c.source.path for c in cards) == {"nlp.md": 47, "python.md": 137}
    unanswered = Counter(c.source.path for c in cards if not c.answered)
    assert unanswered == {"nlp.md": 16, "python.md": 2}


def test_code_blocks(seeds: CheckResult) -> None:
    blocks = [(c.source.path, b) for c in seeds.collection.cards for b in c.code_blocks]
    assert len(blocks) == 41  # 10 fence lines in nlp.md, 72 in python.md
    assert sum(b.detected for _, b in blocks) == 5  # nlp.md's unlabelled fences
    assert {b.language for _, b in blocks} == {"python"}
    broken = sorted((p, b.error[0]) for p, b in blocks if b.error)
    assert broken == [("nlp.md", 388), ("nlp.md", 399), ("python.md", 45)]


def test_diagnostics(seeds: CheckResult) -> None:
    diagnostics = seeds.collection.diagnostics
    assert not [d for d in diagnostics if d.severity == "error"]
    assert Counter(d.code for d in diagnostics) == {
        "unanswered": 18,
        "fence-language": 5,
        "duplicate": 4,  # 浅拷贝和深拷贝 / 深拷贝和浅拷贝 and 生成器和迭代器, both ends each
        "code-syntax": 3,
        "missing-image": 1,
    }
    assert "nlp.md:214: warning: image '1.png' not found" in {str(d) for d in diagnostics}
    duplicates = {(d.path, d.line, d.related) for d in diagnostics if d.code == "duplicate"}
    assert ("nlp.md", 364, ("python.md", 7)) in duplicates
    assert ("python.md", 196, ("nlp.md", 457)) in duplicates


def test_no_literal_asterisks_in_rendered_cards(seeds: CheckResult) -> None:
    for card in seeds.collection.cards:
        for html in (card.question_html, card.answer_html):
            prose = re.sub(r"<pre.*?</pre>", "", html, flags=re.S)  # `**kwargs` in code is code
            assert "**" not in prose, (card.source, prose)


def test_unlabelled_fences_are_highlighted_as_python(seeds: CheckResult) -> None:
    card = next(c for c in seeds.collection.cards if c.question == "list添加元素的方法")
    assert '<pre class="highlight" data-lang="python"><code>' in card.answer_html
    assert (
        '<span class="n">list</span>' in card.answer_html or 'class="nb">list' in card.answer_html
    )


def test_sub_headings_belong_to_the_answer(seeds: CheckResult) -> None:
    card = next(
        c for c in seeds.collection.cards if c.question.startswith("为什么Transformer比RNN好")
    )
    assert card.answer_html.count("<h5>") == 4
    assert card.deck == Deck("面试题", "NLP", ("Transformer",))


def test_deck_names_trim_full_width_colons(seeds: CheckResult) -> None:
    decks = {c.deck.path for c in seeds.collection.cards}
    assert "面试题::Python与机器学习::Pandas面试问题" in decks
    assert not [d for d in decks if d.endswith(("：", ":"))]
