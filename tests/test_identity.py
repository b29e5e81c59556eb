"""Stable ids: the lock file, rename detection, explicit aliases and id clashes."""

from __future__ import annotations

import json
import random
from collections import Counter
from dataclasses import replace
from pathlib import Path

import pytest

from pipeline import ConfigError, ContentError, build, check, load_config
from pipeline.config import Config
from pipeline.identity import (
    DeckName,
    Held,
    KeptMatches,
    assign,
    lock_text,
    read_lock,
    settled_in,
)
from pipeline.parse import parse_file
from pipeline.records import (
    Card,
    Identity,
    Lock,
    LockEntry,
    Match,
    ParsedFile,
    Successor,
    file_runs,
    same_cards,
)
from pipeline.report import orphan_lines, renamed_line, told_apart
from tests.conftest import FIXTURES, parse_fixture

NOTES = FIXTURES / "parse" / "heading_questions.md"


def test_new_ids_are_deterministic() -> None:
    cards = parse_fixture(NOTES).cards
    first = assign(cards, (), now=1000)
    second = assign(cards, (), now=2000)
    assert [c.id for c in first.cards] == [c.id for c in second.cards]
    assert len({c.id for c in first.cards}) == len(cards)


def test_lock_file_is_sorted_one_entry_a_line(tmp_path: Path) -> None:
    identity = assign(parse_fixture(NOTES).cards, (), now=1000)
    text = lock_text(identity.lock)
    lines = text.splitlines()
    assert lines[0] == '{"version": 2, "note_type": {"digest": "", "mod": 0}, "notes": ['
    assert lines[-1] == '], "orphans": []}'
    entries = [json.loads(line.rstrip(",")) for line in lines[1:-1]]
    assert [e["id"] for e in entries] == sorted(e["id"] for e in entries)
    (tmp_path / "lock.json").write_text(text, encoding="utf-8")
    assert read_lock(tmp_path / "lock.json") == identity.lock


def test_reworded_question_keeps_its_id_and_the_match_is_reported() -> None:
    cards = parse_fixture(NOTES).cards
    old = assign(cards, (), now=1000)
    reworded = [
        replace(c, question="第二个问题是什么") if i == 1 else c for i, c in enumerate(cards)
    ]
    new = assign(reworded, old.lock, now=1000)
    assert [c.id for c in new.cards] == [c.id for c in old.cards]
    match = new.matches[1]
    assert (match.status, match.old_question, match.how) == (
        "renamed",
        "第二个问题",
        "similar question",
    )


@pytest.mark.parametrize(
    ("how", "score", "said"),
    [
        ("similar question", 0.72, "similar question, 72%"),
        ("same answer", 0.99, "same answer"),  # 0.99 ranks candidates, measures nothing
        ("same place", 0.8, "same place in its section"),
        ("alias", 1.0, "alias"),
    ],
)
def test_a_renamed_line_says_how_and_a_share_only_of_likeness(
    how: str, score: float, said: str
) -> None:
    card = parse_fixture(NOTES).cards[0]
    match = Match(card.id or "csAAAAAAAA", "renamed", 1, "旧的问题", score, how)
    assert renamed_line(match, card) == f"  renamed ({said}): 旧的问题 -> {card.question[:30]}"


@pytest.mark.parametrize(
    ("old", "new", "said"),
    [
        ("旧的问题", "新的问题", ("旧的问题", "新的问题")),
        ("问" * 40, "答" * 40, ("问" * 30 + "…", "答" * 30 + "…")),
        # Reworded after the 30th character: cut where they differ, not read as one text.
        (
            "Explain 协程 variant 10000 in detail",
            "Explain 协程 variant 10000 in depth",
            ("…ant 10000 in detail", "…ant 10000 in depth"),
        ),
    ],
    ids=["short", "different at once", "different late"],
)
def test_a_renamed_line_tells_the_two_wordings_apart(
    old: str, new: str, said: tuple[str, str]
) -> None:
    assert told_apart(old, new) == said


@pytest.mark.parametrize(
    ("same_place", "said"),
    [(True, "the same place in its section, question 0% alike"), (False, "question 0% alike")],
)
def test_an_orphan_with_a_likely_successor_says_why_and_gives_the_alias_line(
    same_place: bool, said: str
) -> None:
    card = replace(parse_fixture(NOTES).cards[0], id="csBBBBBBBBBB")
    gone = LockEntry("csAAAAAAAAAA", card.source.path, card.deck.path, "旧的问题", "", "", 1)
    first, line = orphan_lines(gone, frozenset(), Successor(gone, card, 0.0, same_place))
    where = f"{card.source.path}:{card.source.line}"
    assert first == (
        f"  orphaned: 旧的问题 ({gone.path}); probably now {card.question[:40]} ({where}: "
        f"{said}). To keep its history, add to cardsmith.toml under [aliases]:"
    )
    assert line.strip() == f'"{card.question}" = "csAAAAAAAAAA"'


def test_a_question_over_two_lines_is_one_line_of_the_summary() -> None:
    # A list question whose second line follows it without a blank line (the
    # thirty-third trial): its orphan line, and its renamed line, broke in two.
    card = replace(parse_fixture(NOTES).cards[0], id="csBBBBBBBBBB", question="新的\n问题？")
    gone = LockEntry("csAAAAAAAAAA", card.source.path, card.deck.path, "旧的\n问题？", "", "", 1)
    lines = [
        *orphan_lines(gone, frozenset(), Successor(gone, card, 0.5, True)),
        *orphan_lines(gone, frozenset(), None),
        *orphan_lines(gone, frozenset({gone.id}), None),
        renamed_line(Match(card.id, "renamed", 1, gone.question, 0.5, "same place"), card),
    ]
    assert not any("\n" in line for line in lines)
    assert lines[0].startswith("  orphaned: 旧的 问题？ (")
    assert "probably now 新的 问题？ (" in lines[0]
    assert lines[-1] == "  renamed (same place in its section): 旧的 问题？ -> 新的 问题？"


def test_unchanged_note_keeps_its_time_and_a_changed_one_gets_a_later_time() -> None:
    cards = parse_fixture(NOTES).cards
    old = assign(cards, (), now=1000)
    same = assign(cards, old.lock, now=5000)
    assert [m.mod for m in same.matches] == [1000] * len(cards)
    changed = [replace(c, answer_html="<p>新</p>") if i == 0 else c for i, c in enumerate(cards)]
    later = assign(changed, old.lock, now=1000)  # the same second as the first build
    assert later.matches[0].status == "changed" and later.matches[0].mod == 1001


def test_two_questions_claiming_one_id_fail_the_build_with_both_locations(tmp_path: Path) -> None:
    content = tmp_path / "content"
    content.mkdir()
    (content / "n.md").write_text("## s\n#### 1. 甲\n\n答\n\n#### 2. 乙\n\n答\n", "utf-8")
    (content / "cardsmith.toml").write_text(
        '[aliases]\n"甲" = "csSAME00001"\n"乙" = "csSAME00001"\n', encoding="utf-8"
    )
    clashes = [
        d for d in check(load_config(content)).collection.diagnostics if d.code == "id-clash"
    ]
    assert {(d.path, d.line, d.related) for d in clashes} == {
        ("n.md", 2, ("n.md", 6)),
        ("n.md", 6, ("n.md", 2)),
    }
    assert {d.severity for d in clashes} == {"error"}
    with pytest.raises(ContentError):
        build(load_config(content, out=tmp_path / "out", formats=("json",)))


def test_alias_overrides_the_match(tmp_path: Path) -> None:
    content = tmp_path / "content"
    content.mkdir()
    notes = content / "n.md"
    notes.write_text("## s\n#### 1. 完全不同的旧问题\n\n旧答案\n", "utf-8")
    build(load_config(content, out=tmp_path / "o", formats=("json",)))
    old_id = read_lock(content / "cardsmith.lock.json")[0].id
    notes.write_text("## s\n#### 1. 崭新的表述\n\n全新的答案\n", "utf-8")
    (content / "cardsmith.toml").write_text(f'[aliases]\n"崭新的表述" = "{old_id}"\n', "utf-8")
    result = build(load_config(content, out=tmp_path / "o", formats=("json",)))
    assert read_lock(content / "cardsmith.lock.json")[0].id == old_id
    assert result.report.counts["renamed"] == 1 and result.report.counts["orphaned"] == 0


def test_a_corrupt_lock_file_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "cardsmith.lock.json").write_text("{not json", encoding="utf-8")
    (tmp_path / "n.md").write_text("## s\n#### 1. q\n\na\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="not a valid lock file"):
        check(load_config(tmp_path))


# --- a watch carries settled files over (KeptMatches) -------------------------------------

_WORDS = "甲乙丙丁戊己庚辛壬癸子丑寅卯辰巳午未申酉"
#: A note file as (section, question, answer) rows.
Notes = list[tuple[str, str, str]]


def _text(rows: Notes) -> str:
    out, section = [], None
    for sec, question, answer in rows:
        if sec != section:
            out.append(f"## {sec}\n")
            section = sec
        out.append(f"1. {question}\n\n   {answer}\n")
    return "\n".join(out)


def _saved(
    files: dict[str, Notes], rng: random.Random, aliases: dict[str, str], ids: list[str]
) -> None:
    """One save of a watch session: the kinds of edit that move ids between questions."""
    path = rng.choice(sorted(files))
    rows = files[path]
    at = rng.randrange(len(rows)) if rows else 0
    kind = rng.randrange(11)
    if kind == 0 and rows:  # reworded
        sec, q, a = rows[at]
        rows[at] = (sec, q[:-1] + rng.choice(_WORDS) + "？", a)
    elif kind == 1 and rows:  # answer edited, or removed
        sec, q, a = rows[at]
        rows[at] = (sec, q, rng.choice(("", a + rng.choice(_WORDS))))
    elif kind == 2 and rows:
        del rows[at]
    elif kind == 3 and rows:  # the same question twice in one file
        rows.insert(at, rows[at])
    elif kind == 4 and rows:  # copied or moved to another file
        other = files[rng.choice(sorted(files))]
        other.insert(rng.randrange(len(other) + 1), rows[at])
        if rng.random() < 0.5:
            del rows[at]
    elif kind == 5 and rows:  # a section renamed
        old = rows[at][0]
        files[path] = [(old + "新" if s == old else s, q, a) for s, q, a in rows]
    elif kind == 6 and len(rows) > 1:  # two questions swapped
        j = rng.randrange(len(rows))
        rows[at], rows[j] = rows[j], rows[at]
    elif kind == 7:  # a new question, answered or not yet
        question = "".join(rng.sample(_WORDS, 4)) + "？"
        rows.insert(at, (rng.choice(("一", "二")), question, rng.choice(("答。", ""))))
    elif kind == 8 and rows and ids:  # an alias to an id the lock knows
        aliases[rows[at][1]] = rng.choice(ids)
    elif kind == 9 and aliases:
        del aliases[rng.choice(sorted(aliases))]
    elif kind == 10:  # a file removed, or a new one
        if len(files) > 2 and rng.random() < 0.5:
            del files[path]
        else:
            files[f"n{len(files)}{rng.randrange(99)}.md"] = [
                ("一", "新的问题是什么？", "新。"),
                ("一", "还没回答的问题是什么？", ""),
            ]


@pytest.mark.parametrize("seed", range(4))
def test_a_watch_matches_exactly_as_assign_from_scratch_save_after_save(
    tmp_path: Path, seed: int
) -> None:
    # A watch takes the files its last match settled as they are (KeptMatches); after every
    # save of a random session its result must be the one assign gives from scratch.
    rng = random.Random(seed)
    files: dict[str, Notes] = {
        f"f{n}.md": [
            (rng.choice(("一", "二")), "".join(rng.sample(_WORDS, 4)) + "？", f"答{k}。")
            for k in range(rng.randint(2, 8))
        ]
        for n in range(4)
    }
    config = Config(content=tmp_path)
    parsed: dict[str, tuple[str, ParsedFile]] = {}  # the watch's memory: same text, same cards
    kept, lock, aliases = KeptMatches(), Lock(), dict[str, str]()
    carried_any = absent_any = more_any = held_any = unanswered_absent = False
    matched_again = KeptMatches()
    for step in range(60):
        cards: list[Card] = []
        for path in sorted(files):
            text = _text(files[path])
            if path not in parsed or parsed[path][0] != text:
                (tmp_path / path).write_text(text, "utf-8")
                parsed[path] = (text, parse_file(tmp_path, path, config))
            cards.extend(parsed[path][1].cards)
        settled = set(kept.files) if kept.lock is lock else set()
        fresh = assign(cards, lock, dict(aliases), now=1000 + step)
        absent = _carriable(kept, lock, aliases, cards) if kept.lock is lock else {}
        again = assign(cards, lock, dict(aliases), now=1000 + step, kept=kept)
        assert again == fresh, f"step {step}"
        # A sync's memo carries such files without their cards (assign's ``absent``).
        given = [c for c in cards if c.source.path not in absent]
        without = assign(given, lock, dict(aliases), now=1000 + step, absent=absent)
        kept_cards = tuple(c for c in fresh.cards if c.source.path not in absent)
        carried = sum(len(ids) for ids in absent.values())
        assert without == replace(fresh, cards=kept_cards, carried=carried), f"step {step}"
        # A sync's memo also keeps the files the lock it wrote settles (settled_in): those
        # carry over the same way.
        again_absent: dict[str, tuple[str, ...]] = {}
        if matched_again.lock is lock:
            again_absent = _carriable(matched_again, lock, aliases, cards)
            given = [c for c in cards if c.source.path not in again_absent]
            without = assign(given, lock, dict(aliases), now=1000 + step, absent=again_absent)
            kept_cards = tuple(c for c in fresh.cards if c.source.path not in again_absent)
            carried = sum(len(ids) for ids in again_absent.values())
            assert without == replace(fresh, cards=kept_cards, carried=carried), f"step {step}"
        # A sync's memo carries the unchanged cards of a file compiled again without their
        # cards too (assign's ``held``): what matching gives the others is the same.
        holdable = _holdable(cards, fresh, lock, aliases)
        chosen = set(rng.sample(holdable, len(holdable) // 2))
        stand_ins: list[Card | Held] = [
            _held(c, fresh.cards[i].id) if i in chosen else c for i, c in enumerate(cards)
        ]
        with_held = assign(stand_ins, lock, dict(aliases), now=1000 + step)
        kept_cards = tuple(c for i, c in enumerate(fresh.cards) if i not in chosen)
        assert with_held == replace(fresh, cards=kept_cards, carried=len(chosen)), f"step {step}"
        # One that would not keep its entry (asked twice, renamed, an orphan's...) is refused.
        for i in sorted(set(range(len(cards))) - set(holdable))[:3]:
            wrong: list[Card | Held] = [*cards]
            wrong[i] = _held(cards[i], fresh.cards[i].id)
            with pytest.raises(ValueError):
                assign(wrong, lock, dict(aliases), now=1000 + step)
        held_any |= bool(chosen)
        carried_any |= bool(settled & set(files))
        absent_any |= bool(absent)
        unanswered_absent |= any(
            not c.answered
            for c in cards
            if c.source.path in absent or c.source.path in again_absent
        )
        lock = kept.lock = again.lock_file  # as a build does once it wrote the lock
        by_lock = settled_in(lock, again.cards)
        compiled = {path: tuple(cards[start:end]) for path, start, end in file_runs(cards)}
        matched_again = KeptMatches(lock, {p: (compiled[p], by_lock[p], ()) for p in by_lock})
        # What the lock settles is what matching again against it settles, or less.
        rematched = KeptMatches()
        assign(cards, lock, dict(aliases), now=2000 + step, kept=rematched)
        assert set(by_lock) <= set(rematched.files), f"step {step}"
        more_any |= bool(set(by_lock) - set(kept.files))
        _saved(files, rng, aliases, [e.id for e in lock.notes])
    assert carried_any and absent_any and more_any and held_any and unanswered_absent


def _held(card: Card, oid: str) -> Held:
    """What a sync knows of a card it carries over inside a file compiled again."""
    deck = DeckName(card.deck.path)
    return Held(oid, card.question, card.source, deck, card.note_digest, card.answer_digest)


def _holdable(cards: list[Card], fresh: Identity, lock: Lock, aliases: dict[str, str]) -> list[int]:
    """The cards that keep their own entry as they are, and would whatever became of the
    others: matched unchanged, answered, the only card of their file to ask their question
    and the only entry to hold it, no alias or orphan naming them."""
    notes = {e.id: e for e in lock.notes}
    entries = [*lock.notes, *(e for e in lock.orphans if e.id not in notes)]
    held_by = Counter((e.path, e.question.strip()) for e in entries)
    asked = Counter((c.source.path, c.question.strip()) for c in cards)
    named = {e.successor for e in lock.orphans} | set(aliases.values())
    orphaned = {e.id for e in lock.orphans}
    found = []
    for i, (card, out) in enumerate(zip(cards, fresh.cards, strict=True)):
        key = (card.source.path, card.question.strip())
        entry = notes.get(out.id)
        if (
            out.matched.status == "unchanged"
            and card.answered
            and entry is not None
            and entry.question == card.question
            and held_by[key] == 1
            and asked[key] == 1
            and out.id not in named | orphaned
            and card.question not in aliases
        ):
            found.append(i)
    return found


def _carriable(
    kept: KeptMatches, lock: Lock, aliases: dict[str, str], cards: list[Card]
) -> dict[str, tuple[str, ...]]:
    """The settled files a sync's memo may carry without their cards: unchanged, no card of
    theirs whose id an orphan has (an answer removed), no alias naming a question or id of
    theirs, no orphan naming one as its successor. A card never answered may be among
    them."""
    successors = {e.successor for e in lock.orphans}
    orphaned = {e.id for e in lock.orphans}
    named = set(aliases.values())
    now = {path: cards[start:end] for path, start, end in file_runs(cards)}
    return {
        path: tuple(c.id for c in out)
        for path, (was, out, _) in kept.files.items()
        if same_cards(was, now.get(path, ()))
        and not any(c.id in orphaned for c in out)
        and not any(c.question in aliases or c.id in named or c.id in successors for c in out)
    }


def _ids_by_answer(content: Path) -> dict[str, str]:
    """Each card's answer -> its id, after a build of ``content``."""
    build(load_config(content, out=content.parent / "out", formats=("json",)))
    records = json.loads((content.parent / "out" / "cards.json").read_text("utf-8"))["cards"]
    return {record["answer"]: record["id"] for record in records}


def _renamed(first: Identity, ids: dict[int, str]) -> Lock:
    """The lock ``first`` made, with the cards at the given places under other ids (so that
    they sort before or after the others), sorted as a lock is."""
    renamed = {first.cards[i].id: new for i, new in ids.items()}
    moved = [
        replace(e, id=renamed.get(e.id, e.id), after=renamed.get(e.after, e.after))
        for e in first.lock
    ]
    return Lock(tuple(sorted(moved, key=lambda e: e.id)))


def test_a_question_asked_twice_in_a_file_keeps_each_id_build_after_build(
    tmp_path: Path,
) -> None:
    # Matched in the lock's order (by id), the first of the two took the smaller id: when
    # the copy's id sorted first, the two swapped ids on the next build, and the reviews of
    # the original went to the copy's answer.
    (tmp_path / "n.md").write_text(
        "## s\n\n1. 什么是闭包？\n\n   答一。\n\n2. 什么是协程？\n\n   答二。\n\n"
        "3. 什么是闭包？\n\n   答三。\n",
        "utf-8",
    )
    cards = parse_file(tmp_path, "n.md", Config(content=tmp_path)).cards
    first = assign(cards, (), now=1000)
    lock = _renamed(first, {0: "csZZZZZZZZZZ", 2: "csAAAAAAAAAA"})
    again = assign(cards, lock, now=2000)
    assert [c.id for c in again.cards] == ["csZZZZZZZZZZ", first.cards[1].id, "csAAAAAAAAAA"]
    assert {c.matched.status for c in again.cards} == {"unchanged"}
    assert again.lock_file == lock  # nothing changed: nothing written


def test_a_section_copied_under_another_heading_keeps_each_id_build_after_build(
    tmp_path: Path,
) -> None:
    # The two copies stand at the same places of two decks: matched by place alone, the
    # first copy took the smaller id, the copy's, and the two swapped on the next build.
    section = "1. 什么是闭包？\n\n   答案。\n\n2. 什么是协程？\n\n   答案二。\n\n"
    (tmp_path / "n.md").write_text(f"## 甲\n\n{section}## 乙\n\n{section}", "utf-8")
    cards = parse_file(tmp_path, "n.md", Config(content=tmp_path)).cards
    first = assign(cards, (), now=1000)
    lock = _renamed(first, {2: "cs0000000001", 3: "cs0000000002"})
    again = assign(cards, lock, now=2000)
    ids = [first.cards[0].id, first.cards[1].id, "cs0000000001", "cs0000000002"]
    assert [c.id for c in again.cards] == ids
    assert {c.matched.status for c in again.cards} == {"unchanged"}
    assert again.lock_file == lock  # nothing changed: nothing written


def test_a_copy_put_above_its_original_does_not_take_the_originals_id(tmp_path: Path) -> None:
    (tmp_path / "notes").mkdir()
    notes = tmp_path / "notes" / "n.md"
    notes.write_text("## s\n\n1. 什么是闭包？\n\n   原来的答案。\n", "utf-8")
    first = _ids_by_answer(notes.parent)
    notes.write_text(
        "## s\n\n1. 什么是闭包？\n\n   新写的答案。\n\n2. 什么是闭包？\n\n   原来的答案。\n",
        "utf-8",
    )
    second = _ids_by_answer(notes.parent)
    assert second["原来的答案。"] == first["原来的答案。"]
    assert second["新写的答案。"] != first["原来的答案。"]


def test_an_answer_edited_and_put_back_keeps_its_id_over_a_deleted_copys(tmp_path: Path) -> None:
    # The copy's entry became an orphan with the old answer; once the edit was put back, that
    # answer outweighed the place of the question's own entry, which became the orphan.
    (tmp_path / "notes").mkdir()
    notes = tmp_path / "notes" / "n.md"
    one = "1. 什么是协程？\n\n   协程答案。\n"
    gil = "2. 什么是GIL？\n\n   全局解释器锁。\n"
    notes.write_text(f"## s\n\n{one}\n{gil}", "utf-8")
    first = _ids_by_answer(notes.parent)
    notes.write_text(f"## s\n\n{one}\n{one}\n{gil}", "utf-8")  # copied under itself
    _ids_by_answer(notes.parent)
    notes.write_text(f"## s\n\n{one}\n{gil}", "utf-8")  # the copy deleted: an orphan
    _ids_by_answer(notes.parent)
    notes.write_text(f"## s\n\n{one.replace('协程答案。', '协程答案，改过。')}\n{gil}", "utf-8")
    assert _ids_by_answer(notes.parent)["协程答案，改过。"] == first["协程答案。"]
    notes.write_text(f"## s\n\n{one}\n{gil}", "utf-8")  # the edit put back
    assert _ids_by_answer(notes.parent) == first
