"""Near-duplicate questions: each fixture note file has the pairs it must report beside it."""

from __future__ import annotations

import pickle
import random
from collections.abc import Callable, Sequence
from pathlib import Path

import pytest

from pipeline import build, check, duplicates, load_config, validate
from pipeline.cache import CACHE_DIR, read_kept
from pipeline.duplicates import (
    SEPARATOR,
    KeptPairs,
    all_pairs,
    question_tokens,
    similar_pairs,
)
from pipeline.errors import ContentError
from pipeline.validate import SEARCH_STATE, StoredPairs
from tests.conftest import FIXTURES, SEEDS, golden, parse_fixture

CASES = sorted((FIXTURES / "duplicates").glob("*.md"))


def _report(path: Path) -> str:
    cards = parse_fixture(path).cards
    lines = []
    for i, j, score in similar_pairs([c.question for c in cards]):
        kind = "duplicate" if score is None else f"near-duplicate ({score:.0%})"
        a, b = cards[i], cards[j]
        lines.append(f"{a.source.line} {b.source.line} {kind}: {a.question} / {b.question}\n")
    return "".join(lines)


@pytest.mark.parametrize("path", CASES, ids=[p.stem for p in CASES])
def test_fixture_reports_expected_pairs(path: Path) -> None:
    actual = _report(path)
    assert actual == golden(path.with_suffix(".txt"), actual)


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("How do you create a dictionary in Python?", "How can you create a module in Python?"),
        ("ChatGLM-2 有什么改进？", "ChatGLM-3 有什么改进？"),
    ],
)
def test_the_false_positives_of_issue_12_are_not_reported(a: str, b: str) -> None:
    assert list(similar_pairs([a, b])) == []


def test_every_pair_the_seeds_had_before_is_still_reported() -> None:
    recorded = (FIXTURES / "duplicates" / "seeds.txt").read_text(encoding="utf-8")
    before = {
        frozenset(line.split()[:2]) for line in recorded.splitlines() if not line.startswith("#")
    }
    diagnostics = check(load_config(SEEDS)).collection.diagnostics
    now = {
        frozenset({f"{d.path}:{d.line}", f"{d.related[0]}:{d.related[1]}"})
        for d in diagnostics
        if d.code == "duplicate" and d.related
    }
    assert len(before) == 2
    assert now == before


@pytest.mark.parametrize(
    ("question", "tokens"),
    [
        ("ChatGLM-2 有什么改进？", ("chatglm", "2", "有", "什", "么", "改", "进")),
        ("GPT-3.5和Python 3.11", ("gpt", "3.5", "和", "python", "3.11")),
        ("What's the GIL in Python?", ("gil",)),
        ("How do you create a dictionary?", ("how", "create", "dictionary")),
        ("什么是生成器（Generator）？", ("生", "成", "器")),
    ],
)
def test_tokens_are_cjk_characters_words_and_numbers(question: str, tokens: tuple[str]) -> None:
    assert question_tokens(question) == tokens


# --- the search against comparing every pair ---------------------------------------------

_FRAMES = (
    "{}和{}有什么区别？",
    "如何在{}中实现{}？",
    "{}有哪些优缺点？在{}场景下如何选择？",
    "为什么{}比{}更适合大规模训练",
    "What is the difference between {} and {}?",
    "How do you use {} together with {} in production?",
    # Long enough for the group of long questions (13 and 17 words).
    "Which metrics would you monitor when deploying {} behind load balancers, "
    "autoscaling and tracing through {}?",
    "Why might {} need different retry, timeout, batching, caching, logging, alerting, "
    "sharding, replication and backup settings than {} on shared clusters?",
)
_NAMES = (
    *("数据库", "缓存", "索引", "线程池", "注意力机制", "位置编码", "学习率", "梯度裁剪"),
    *("Redis", "Kafka", "BERT", "GPT-4", "GPT-3.5", "LoRA", "Adam"),
)
_CHARACTERS = "的和在中是模型训练数据缓存"


def _edited(question: str, rng: random.Random) -> str:
    """``question`` with one or two small random edits, as people reword."""
    for _ in range(rng.randint(1, 2)):
        at = rng.randrange(len(question))
        question = rng.choice(
            (
                question[:at] + question[at + 1 :],  # a character dropped
                question[:at] + rng.choice(_CHARACTERS) + question[at:],  # one added
                question[:at] + rng.choice(_CHARACTERS) + question[at + 1 :],  # one replaced
                question[at:] + question[:at],  # the two parts swapped
                rng.choice(("请", "解释一下", "Explain: ")) + question,  # framing added
            )
        )
    return question


def _templated(
    n: int, seed: int, frames: Sequence[str] = _FRAMES, names: Sequence[str] = _NAMES
) -> list[str]:
    """A few frames with a few names; a third of the questions edit an earlier one."""
    rng = random.Random(seed)
    questions: list[str] = []
    for _ in range(n):
        if questions and rng.random() < 0.35:
            questions.append(_edited(rng.choice(questions), rng))
        else:
            frame = rng.choice(frames)
            questions.append(frame.format(*rng.sample(names, frame.count("{}"))))
    return questions


@pytest.mark.parametrize("seed", [0, 1])
def test_the_search_finds_exactly_the_pairs_all_pairs_would(seed: int) -> None:
    questions = _templated(2000, seed)
    near = {(i, j): score for i, j, score in similar_pairs(questions) if score is not None}
    expected = all_pairs(questions)
    assert len(expected) > 300  # the edited questions really are near-duplicates
    assert near == expected


# Chinese frames with Chinese names: no words to group by, so the whole set is one join, and
# terms that share characters (神经网络, 梯度) make units that only some of a term's questions hold.
_CJK_FRAMES = (
    "{}和{}有什么区别？",
    "如何在{}中实现{}？",
    "{}有哪些优缺点？在{}和{}场景下如何选择？",
    "为什么{}比{}更适合{}？",
    "{}与{}结合使用有哪些注意事项？",
)
_CJK_NAMES = (
    *("数据库", "缓存", "索引", "线程池", "注意力机制", "位置编码", "学习率", "梯度裁剪"),
    *("卷积神经网络", "循环神经网络", "梯度下降", "随机梯度下降", "批量归一化", "层归一化"),
)


def test_the_search_finds_exactly_the_pairs_all_pairs_would_in_chinese_only_sets() -> None:
    questions = _templated(2000, 0, _CJK_FRAMES, _CJK_NAMES)
    near = {(i, j): score for i, j, score in similar_pairs(questions) if score is not None}
    expected = all_pairs(questions)
    assert len(expected) > 300
    assert sum(1 for score in expected.values() if score < 0.85) > 50  # close to the line
    assert near == expected


def test_a_question_whose_whole_overlap_is_one_busy_unit_is_still_found() -> None:
    """卷积神经网络的应用 is one unit held by eleven questions, more than a key may hold before it
    is made longer; each longer question shares exactly that unit with the short one, and
    exactly the 80 % it needs (17 of 21 features)."""
    tails = ("甲乙", "丙丁", "戊己", "庚辛", "壬癸", "子丑", "寅卯", "辰巳", "午未", "申酉")
    questions = ["卷积神经网络的应用", *(f"卷积神经网络的应用和{tail}" for tail in tails)]
    near = {(i, j): score for i, j, score in similar_pairs(questions) if score is not None}
    assert near == all_pairs(questions) == {(0, j): 17 / 21 for j in range(1, 11)}


def _session_edit(questions: list[str], rng: random.Random) -> list[str]:
    """One save in a watch: a few questions reworded, added, removed, copied or moved."""
    questions = list(questions)
    for _ in range(rng.randint(1, 6)):
        at = rng.randrange(len(questions))
        kind = rng.randrange(5)
        if kind == 0:
            questions[at] = _edited(questions[at], rng)
        elif kind == 1:
            questions.insert(at, _edited(rng.choice(questions), rng))
        elif kind == 2 and len(questions) > 1:
            del questions[at]
        elif kind == 3:
            questions.insert(at, rng.choice(questions))  # a word-for-word copy
        else:
            questions.insert(rng.randrange(len(questions)), questions.pop(at))
    return questions


@pytest.mark.parametrize(
    ("frames", "names"), [(_FRAMES, _NAMES), (_CJK_FRAMES, _CJK_NAMES)], ids=["mixed", "chinese"]
)
@pytest.mark.parametrize("stored", [False, True], ids=["one process", "state kept between"])
def test_a_search_that_keeps_its_pairs_finds_what_a_whole_search_finds_edit_after_edit(
    frames: Sequence[str], names: Sequence[str], stored: bool
) -> None:
    # "state kept between": each search starts from the state the last one kept, as a
    # build's does (StoredPairs), so it reads again the questions it needs.
    rng = random.Random(7)
    questions = _templated(600, 3, frames, names)
    kept = KeptPairs()
    for _ in range(40):
        assert kept(SEPARATOR.join(questions)) == list(similar_pairs(questions))
        questions = _session_edit(questions, rng)
        if stored:
            state = pickle.loads(pickle.dumps(kept.state()))
            kept = KeptPairs()
            assert kept.restore(state)
    # A save that rewrites everything joins everything again, with the same result.
    questions = _templated(600, 4, frames, names)
    assert kept(SEPARATOR.join(questions)) == list(similar_pairs(questions))


def test_a_search_that_keeps_its_pairs_joins_again_when_probing_would_cost_more(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    questions = _templated(400, 5)
    kept = KeptPairs()
    kept(SEPARATOR.join(questions))
    joins: list[int] = []
    real = duplicates.similar_pairs

    def counted(found: Sequence[str], known: object = None) -> object:
        joins.append(len(found))
        return real(found, known)  # type: ignore[arg-type]

    monkeypatch.setattr(duplicates, "similar_pairs", counted)
    questions[0] = _edited(questions[0], random.Random(1))
    assert kept(SEPARATOR.join(questions)) == list(real(questions))
    assert joins == []  # one question changed: probed, not joined
    monkeypatch.setattr(duplicates, "_PROBE_BUDGET", 0)
    questions[1] = _edited(questions[1], random.Random(2))
    assert kept(SEPARATOR.join(questions)) == list(real(questions))
    assert joins == [400]


# --- the search's state, kept in the cache folder from one build to the next -----------------

QUESTIONS = [
    "什么是装饰器？",
    "装饰器是什么？",
    "Python中的GIL是什么？",
    "什么是生成器？",
    "迭代器和生成器有什么区别？",
]


def _stored(folder: Path, write: bool = True) -> StoredPairs:
    search = StoredPairs(folder, write)
    search.prepare()  # as its process does, before the questions come
    return search


def _kept_as_a_build_keeps_it(folder: Path, written: Path | None) -> None:
    assert written is not None
    written.replace(folder / SEARCH_STATE)


def test_a_search_starts_from_the_state_the_last_one_kept(tmp_path: Path) -> None:
    first = _stored(tmp_path)
    pairs, written = first(SEPARATOR.join(QUESTIONS))
    assert pairs == list(similar_pairs(QUESTIONS))
    _kept_as_a_build_keeps_it(tmp_path, written)
    edited = [*QUESTIONS[:3], "什么是生成器函数？", QUESTIONS[4], "生成器是什么？"]
    second = _stored(tmp_path)
    assert second.kept._taking == first.kept._taking  # read: only the changed are compared
    pairs, written = second(SEPARATOR.join(edited))
    assert pairs == list(similar_pairs(edited))
    assert written is not None  # the questions changed: a new state to keep
    unchanged = _stored(tmp_path)
    assert unchanged(SEPARATOR.join(QUESTIONS)) == (list(similar_pairs(QUESTIONS)), None)


def test_a_search_from_a_kept_state_reads_only_the_questions_it_compares(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The state keeps no question read (unpickling 10,000 took 0.11 s of a re-sync): the
    # changed question, the one it replaced and the candidates they meet are read again.
    many = [f"第{n}个问题：{chr(0x4E00 + 7 * n)}{chr(0x5E00 + 11 * n)}是什么？" for n in range(200)]
    _kept_as_a_build_keeps_it(tmp_path, _stored(tmp_path)(SEPARATOR.join(many))[1])
    state = pickle.loads(read_kept(tmp_path / SEARCH_STATE, _stored(tmp_path).key) or b"")
    assert "_asked" not in state[1]
    edited = [*many[:-1], "第199个问题：换了说法是什么？"]
    expected = list(similar_pairs(edited))
    read: list[str] = []
    real = duplicates.Asked.of

    def counted(question: str) -> duplicates.Asked:
        read.append(question)
        return real(question)

    monkeypatch.setattr(duplicates.Asked, "of", counted)
    pairs, _ = _stored(tmp_path)(SEPARATOR.join(edited))
    assert pairs == expected
    assert many[-1] in read and edited[-1] in read
    assert len(set(read)) < 20


def test_a_state_few_questions_behind_is_kept_as_it_is(tmp_path: Path) -> None:
    # Writing the state anew costs more than comparing a few questions again next time.
    many = [f"问题{n}是什么？" for n in range(100)]
    _kept_as_a_build_keeps_it(tmp_path, _stored(tmp_path)(SEPARATOR.join(many))[1])
    one = [*many[:-1], "问题99和其他问题有什么不同？"]  # 2 % behind
    pairs, written = _stored(tmp_path)(SEPARATOR.join(one))
    assert pairs == list(similar_pairs(one)) and written is None
    ten = [*many[:-5], *(f"另一个问题{n}？" for n in range(5))]  # 10 % behind
    pairs, written = _stored(tmp_path)(SEPARATOR.join(ten))
    assert pairs == list(similar_pairs(ten)) and written is not None


@pytest.mark.parametrize(
    "spoil",
    [
        lambda p: p.write_bytes(p.read_bytes()[:-10]),
        lambda p: p.write_bytes(p.read_bytes()[:-1] + b"!"),
        lambda p: p.write_bytes(b"not a state"),
    ],
    ids=["cut short", "one byte changed", "another file"],
)
def test_a_damaged_state_is_not_read(tmp_path: Path, spoil: Callable[[Path], object]) -> None:
    _kept_as_a_build_keeps_it(tmp_path, _stored(tmp_path)(SEPARATOR.join(QUESTIONS))[1])
    spoil(tmp_path / SEARCH_STATE)
    search = _stored(tmp_path)
    assert not search.kept._taking
    assert search(SEPARATOR.join(QUESTIONS))[0] == list(similar_pairs(QUESTIONS))


def test_a_state_of_other_code_is_not_read(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _kept_as_a_build_keeps_it(tmp_path, _stored(tmp_path)(SEPARATOR.join(QUESTIONS))[1])
    monkeypatch.setattr(validate, "code_fingerprint", lambda: "another cardsmith")
    assert not _stored(tmp_path).kept._taking


def test_a_check_reads_the_state_and_keeps_none(tmp_path: Path) -> None:
    assert _stored(tmp_path, write=False)(SEPARATOR.join(QUESTIONS))[1] is None


def test_a_build_keeps_the_search_state_and_a_failed_one_leaves_it(tmp_path: Path) -> None:
    content = tmp_path / "content"
    content.mkdir()
    (content / "a.md").write_text("## 节\n\n1. 什么是装饰器？\n\n   包装函数。\n", "utf-8")
    config = load_config(content, out=tmp_path / "build", formats=("json",))
    build(config)  # makes the cache folder
    build(config)
    state = tmp_path / CACHE_DIR / SEARCH_STATE
    kept = state.read_bytes()
    (content / "a.md").write_text("## 节\n\n1. 什么是装饰器？\n\n   [x](../../x.md)\n", "utf-8")
    with pytest.raises(ContentError):
        build(config)
    assert state.read_bytes() == kept
    assert [p.name for p in state.parent.iterdir() if p.suffix == ".tmp"] == []
