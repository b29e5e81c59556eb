"""Stable ids: the lock file, rename detection, explicit aliases and id clashes."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest

from pipeline import ConfigError, ContentError, build, check, load_config
from pipeline.identity import assign, lock_text, read_lock
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
