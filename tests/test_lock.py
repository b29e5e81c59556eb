"""The lock file: its shape checked on reading, never lost, never written back bad; orphans."""

from __future__ import annotations

import json
import pickle
import shutil
import time
from dataclasses import replace
from pathlib import Path

import pytest
from click.testing import CliRunner

from pipeline import build, load_config
from pipeline import identity as identity_module
from pipeline.cli import cli
from pipeline.errors import ConfigError
from pipeline.identity import assign, load_lock, lock_text, normalise, read_lock
from pipeline.records import Card, Lock, LockEntry, NoteTypeStamp
from tests.conftest import FIXTURES, SEEDS, parse_fixture

NOTES = "## s\n#### 1. 甲是什么？\n\n答甲\n\n#### 2. 乙是什么？\n\n答乙\n"
GOOD_ENTRY = {
    "id": "csAAAAAAAAAA",
    "path": "n.md",
    "deck": "Cardsmith::n::s",
    "question": "甲是什么？",
    "answer": "0" * 64,
    "digest": "0" * 64,
    "mod": 1,
}


def _notes(tmp_path: Path, lock: str | None = None) -> Path:
    content = tmp_path / "content"
    content.mkdir(parents=True)
    (content / "n.md").write_text(NOTES, "utf-8")
    if lock is not None:
        (content / "cardsmith.lock.json").write_text(lock, "utf-8")
    return content


def _lock(**changes: object) -> str:
    return json.dumps({"version": 1, "notes": [{**GOOD_ENTRY, **changes}]})


BAD_LOCKS = {
    "a list": "[]",
    "null": "null",
    "an id that is a number": _lock(id=12345),
    "a question that is null": _lock(question=None),
    "a mod that is a string": _lock(mod="1"),
    "a mod that is true": _lock(mod=True),
    "an id that is not an id": _lock(id='a"b\tc'),
    "notes that are an object": '{"version": 1, "notes": {}}',
    "an entry that is a list": '{"version": 1, "notes": [[]]}',
    "nested 100,000 deep": "[" * 100_000 + "]" * 100_000,
    "version 3": '{"version": 3, "notes": []}',
}


@pytest.mark.parametrize("command", ["check", "build"])
@pytest.mark.parametrize("name", sorted(BAD_LOCKS))
def test_a_lock_of_the_wrong_shape_is_one_line_and_exit_2(
    name: str, command: str, tmp_path: Path
) -> None:
    content = _notes(tmp_path, BAD_LOCKS[name])
    args = [command, "--content", str(content)]
    if command == "build":
        args += ["--out", str(tmp_path / "out"), "--format", "json", "-q"]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 2, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("cardsmith: error: "), lines
    assert "cardsmith.lock.json" in lines[0] and "Traceback" not in result.output
    assert len(lines[0]) < 300
    # Never written back: the bad lock is there for the person to restore.
    assert (content / "cardsmith.lock.json").read_text("utf-8") == BAD_LOCKS[name]
    assert not (tmp_path / "out").exists()


def test_a_lock_that_is_a_folder_is_exit_2(tmp_path: Path) -> None:
    content = _notes(tmp_path)
    (content / "cardsmith.lock.json").mkdir()
    result = CliRunner().invoke(cli, ["check", "--content", str(content)])
    assert result.exit_code == 2
    assert result.output.strip().splitlines() == [
        f"cardsmith: error: {content / 'cardsmith.lock.json'}: the lock file is a folder"
    ]


def test_an_unreadable_lock_is_exit_2(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    content = _notes(tmp_path, _lock())
    real = Path.read_bytes

    def refuse(self: Path) -> bytes:  # as root, a mode of 0 would not stop the read
        if self.name == "cardsmith.lock.json":
            raise PermissionError(13, "Permission denied", str(self))
        return real(self)

    monkeypatch.setattr(Path, "read_bytes", refuse)
    result = CliRunner().invoke(cli, ["check", "--content", str(content)])
    assert result.exit_code == 2
    assert "cannot read the lock file (Permission denied)" in result.output


def test_a_version_1_lock_keeps_the_id_of_every_seed_question(tmp_path: Path) -> None:
    content = tmp_path / "content"
    shutil.copytree(SEEDS, content)
    # The seeds' lock as version 1 wrote it (a copy: the repository's may be rewritten).
    # The seeds compile differently since (answers lost their ``答：``): notes may update,
    # but no question is new.
    v1 = FIXTURES / "lock" / "seeds.v1.lock.json"
    shutil.copy(v1, content / "cardsmith.lock.json")
    old = json.loads(v1.read_text("utf-8"))
    assert old["version"] == 1
    result = build(load_config(content, out=tmp_path / "out", formats=("json",)))
    assert result.report.counts["new"] == 0
    new = json.loads((content / "cardsmith.lock.json").read_text("utf-8"))
    assert new["version"] == 2
    assert {e["id"] for e in new["notes"]} == {e["id"] for e in old["notes"]}


def test_a_version_1_lock_upgrades_without_changing_a_note(tmp_path: Path) -> None:
    content = tmp_path / "content"
    shutil.copytree(SEEDS, content)
    build(load_config(content, out=tmp_path / "first", formats=("json",)))
    lock = content / "cardsmith.lock.json"
    now = json.loads(lock.read_text("utf-8"))
    # What version 1 wrote of the same notes: no note type stamp, no neighbours or slots.
    old = [{k: v for k, v in e.items() if k not in ("after", "slot")} for e in now["notes"]]
    lock.write_text(json.dumps({"version": 1, "notes": old}, ensure_ascii=False), "utf-8")
    result = build(load_config(content, out=tmp_path / "out", formats=("json",)))
    assert result.report.counts["new"] == 0 and result.report.counts["updated"] == 0
    new = json.loads(lock.read_text("utf-8"))
    assert new["version"] == 2
    assert {(e["id"], e["mod"], e["digest"]) for e in new["notes"]} == {
        (e["id"], e["mod"], e["digest"]) for e in old
    }
    # The note type is as old as the newest note was: the package's bytes do not change.
    assert new["note_type"]["mod"] == max(e["mod"] for e in old)


# --- aliases --------------------------------------------------------------------------------


def test_an_alias_to_an_id_not_in_the_lock_warns_with_both_ids(tmp_path: Path) -> None:
    content = _notes(tmp_path)
    build(load_config(content, out=tmp_path / "o", formats=("json",)))
    own = next(
        e.id for e in read_lock(content / "cardsmith.lock.json") if e.question == "甲是什么？"
    )
    (content / "cardsmith.toml").write_text('[aliases]\n"甲是什么？" = "csTYPO0000"\n', "utf-8")
    result = build(load_config(content, out=tmp_path / "o", formats=("json",)))
    (warning,) = [d for d in result.diagnostics if d.code == "alias-unknown-id"]
    assert "csTYPO0000" in warning.message and own in warning.message
    assert own in {e.id for e in read_lock(content / "cardsmith.lock.json")}
    assert result.report.counts["orphaned"] == 0


@pytest.mark.parametrize("bad", ["", "a\tb", 'x"y', "ab"])
def test_alias_ids_that_are_not_ids_are_refused(bad: str, tmp_path: Path) -> None:
    content = _notes(tmp_path)
    (content / "cardsmith.toml").write_text(
        f"[aliases]\n{json.dumps('甲是什么？')} = {json.dumps(bad)}\n", "utf-8"
    )
    result = CliRunner().invoke(cli, ["check", "--content", str(content)])
    assert result.exit_code == 2
    assert "is not an id" in result.output and len(result.output.strip().splitlines()) == 1


# --- writing the lock -------------------------------------------------------------------------


def test_a_deleted_lock_with_earlier_outputs_says_ids_were_regenerated(tmp_path: Path) -> None:
    content = _notes(tmp_path)
    build(load_config(content, out=tmp_path / "o", formats=("json",)))
    (content / "cardsmith.lock.json").unlink()
    result = CliRunner().invoke(
        cli, ["build", "--content", str(content), "--out", str(tmp_path / "o"), "-q"]
    )
    lines = [line for line in result.output.splitlines() if "lock" in line]
    assert len(lines) == 1 and "every question got a new id" in lines[0]
    first = CliRunner().invoke(  # a first build into a fresh folder says nothing of the kind
        cli, ["check", "--content", str(_notes(tmp_path / "fresh"))]
    )
    assert "lock" not in first.output


def test_outputs_of_other_notes_are_no_sign_of_a_lost_lock(tmp_path: Path) -> None:
    # `make build` fills the checkout's build/ from content/; notes elsewhere without a lock
    # checked or built beside it must not be told that their ids were lost.
    build(load_config(_notes(tmp_path / "a"), out=tmp_path / "o", formats=("json",)))
    other = tmp_path / "b"
    other.mkdir()
    (other / "other.md").write_text("## 节\n#### 1. 另一个问题？\n\n回答。\n", encoding="utf-8")
    result = CliRunner().invoke(cli, ["check", "--content", str(other)], catch_exceptions=False)
    assert "lock" not in result.output
    built = CliRunner().invoke(
        cli, ["build", "--content", str(other), "--out", str(tmp_path / "o"), "-q"]
    )
    assert built.exit_code == 0 and "lock" not in built.output


def test_a_symlinked_lock_is_written_through_the_link(tmp_path: Path) -> None:
    content = _notes(tmp_path)
    shared = tmp_path / "shared.lock.json"
    shared.write_text(json.dumps({"version": 1, "notes": []}), "utf-8")
    (content / "cardsmith.lock.json").symlink_to(shared)
    build(load_config(content, out=tmp_path / "o", formats=("json",)))
    assert (content / "cardsmith.lock.json").is_symlink()
    assert len(read_lock(shared)) == 2


def test_a_lock_linked_into_a_missing_folder_stops_the_build_and_makes_no_folder(
    tmp_path: Path,
) -> None:
    content = _notes(tmp_path)
    (content / "cardsmith.lock.json").symlink_to(tmp_path / "gone" / "shared.lock.json")
    result = CliRunner().invoke(
        cli, ["build", "--content", str(content), "--out", str(tmp_path / "o"), "-q"]
    )
    assert result.exit_code == 2, result.output
    assert "in a folder that does not exist" in result.output
    assert not (tmp_path / "gone").exists() and not (tmp_path / "o").exists()
    # A link to a lock not made yet, in a folder that is there, is made through the link.
    (content / "cardsmith.lock.json").unlink()
    (content / "cardsmith.lock.json").symlink_to(tmp_path / "new.lock.json")
    build(load_config(content, out=tmp_path / "o", formats=("json",)))
    assert len(read_lock(tmp_path / "new.lock.json")) == 2


def test_3000_copies_of_one_question_get_ids_in_linear_time(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    card = parse_fixture(FIXTURES / "parse" / "heading_questions.md").cards[0]
    calls = 0
    real = identity_module.new_id

    def counted(card: Card, salt: int = 0) -> str:
        nonlocal calls
        calls += 1
        return real(card, salt)

    monkeypatch.setattr(identity_module, "new_id", counted)
    start = time.perf_counter()
    identity = assign([card] * 3000, (), now=1)
    assert len({c.id for c in identity.cards}) == 3000
    # One id tried per copy (4.5 million when every copy retried the salts from 0: 11.7 s).
    assert calls == 3000
    assert time.perf_counter() - start < 2.0


# --- identity -------------------------------------------------------------------------------


def test_the_question_normaliser_is_symmetric() -> None:
    assert normalise("Python中的虚拟环境是什么？") == normalise("Python的虚拟环境是什么？")
    assert normalise("在Python里虚拟环境是什么") == normalise("虚拟环境是什么？")


def test_a_question_in_the_same_place_keeps_its_id_though_reworded_and_reanswered() -> None:
    cards = parse_fixture(FIXTURES / "parse" / "heading_questions.md").cards
    old = assign(cards, (), now=1000)
    split = [
        replace(c, question="第二个问题的前一半", answer="全新的答案") if i == 1 else c
        for i, c in enumerate(cards)
    ]
    new = assign(split, old.lock_file, now=2000)
    assert new.cards[1].id == old.cards[1].id
    assert new.matches[1].how == "same place"
    assert not new.orphans


def test_an_uncertain_match_prints_the_aliases_line_and_no_advice_to_delete(
    tmp_path: Path,
) -> None:
    content = _notes(tmp_path)
    build(load_config(content, out=tmp_path / "o", formats=("json",)))
    (content / "n.md").write_text(
        NOTES + "\n#### 3. 梯度消失的原因是什么？\n\n链式法则里连乘的小导数。\n", "utf-8"
    )
    build(load_config(content, out=tmp_path / "o", formats=("json",)))
    old_id = next(e.id for e in read_lock(content / "cardsmith.lock.json") if "梯度" in e.question)
    # Reworded, re-answered and moved to another section: too unsure to match on its own.
    (content / "n.md").write_text(
        NOTES + "\n## t\n#### 1. 梯度消失和梯度爆炸怎么处理？\n\n残差连接，梯度裁剪。\n", "utf-8"
    )
    result = CliRunner().invoke(
        cli, ["build", "--content", str(content), "--out", str(tmp_path / "o"), "--format", "json"]
    )
    assert result.exit_code == 0, result.output
    assert f'    "梯度消失和梯度爆炸怎么处理？" = "{old_id}"' in result.output.splitlines()
    listed = CliRunner().invoke(cli, ["orphans", "--content", str(content)]).output
    for output in (result.output, listed):
        orphan_lines = [line for line in output.splitlines() if "梯度消失的原因" in line]
        assert orphan_lines and not any("delete" in line for line in orphan_lines)
    assert f'    "梯度消失和梯度爆炸怎么处理？" = "{old_id}"' in listed.splitlines()
    # The advice taken: the question gets its old id back, and the id it had in between is
    # said to be what it is, not an orphan of a question that is gone (the eleventh trial).
    between = next(e.id for e in read_lock(content / "cardsmith.lock.json") if "爆炸" in e.question)
    (content / "cardsmith.toml").write_text(
        f'[aliases]\n"梯度消失和梯度爆炸怎么处理？" = "{old_id}"\n', "utf-8"
    )
    result = CliRunner().invoke(
        cli, ["build", "--content", str(content), "--out", str(tmp_path / "o"), "--format", "json"]
    )
    listed = CliRunner().invoke(cli, ["orphans", "--content", str(content)]).output
    said = (
        f"orphaned: 梯度消失和梯度爆炸怎么处理？ (n.md); the id this question had before "
        f"[aliases] gave it {old_id}. Only a package imported or a sync made in between put "
        f'it in Anki: if one did, search "ID:{between}" there to delete that second note (a '
        "sync tags and suspends it, and --delete-orphans deletes it); if not, cardsmith "
        f"orphans --forget {between}"
    )
    assert f"  {said}" in result.output.splitlines()
    assert f"{between}  {said}" in listed.splitlines()


def test_moved_questions_are_named_with_old_and_new_deck(tmp_path: Path) -> None:
    content = _notes(tmp_path)
    build(load_config(content, out=tmp_path / "o", formats=("json",)))
    (content / "n.md").write_text(NOTES.replace("## s", "## 新节"), "utf-8")
    result = CliRunner().invoke(
        cli, ["build", "--content", str(content), "--out", str(tmp_path / "o"), "--format", "json"]
    )
    assert "  moved: 甲是什么？: Cardsmith::n::s -> Cardsmith::n::新节" in result.output
    assert "an import never moves cards" in result.output


# --- orphans ------------------------------------------------------------------------------------


def test_orphans_stay_in_the_lock_until_resolved_whatever_the_format(tmp_path: Path) -> None:
    content = _notes(tmp_path)
    build(load_config(content, out=tmp_path / "o", formats=("json",)))
    (content / "n.md").write_text("## s\n#### 1. 甲是什么？\n\n答甲\n", "utf-8")
    first = build(load_config(content, out=tmp_path / "o", formats=("json",)))
    second = build(load_config(content, out=tmp_path / "o", formats=("json",)))
    assert [o.question for o in first.report.orphans] == ["乙是什么？"]
    assert [o.question for o in second.report.orphans] == ["乙是什么？"]
    (orphan,) = load_lock(content / "cardsmith.lock.json").orphans
    listed = CliRunner().invoke(cli, ["orphans", "--content", str(content)])
    assert listed.output.splitlines()[0] == "1 orphan(s)"
    # The advice holds after a sync as after an import (it read "suspend it" once a sync
    # had: the eleventh trial).
    assert listed.output.splitlines()[1] == (
        f"{orphan.id}  orphaned: 乙是什么？ (n.md); Anki keeps its note (cardsmith sync tags "
        f'and suspends it; after an import, suspend it), or search "ID:{orphan.id}" to delete '
        "it with its reviews"
    )
    # The question comes back: it gets its old id, and the orphan is resolved.
    (content / "n.md").write_text(NOTES, "utf-8")
    back = build(load_config(content, out=tmp_path / "o", formats=("json",)))
    assert back.report.orphans == () and orphan.id in lock_ids(content)
    # Or the person lets it go.
    (content / "n.md").write_text("## s\n#### 1. 甲是什么？\n\n答甲\n", "utf-8")
    build(load_config(content, out=tmp_path / "o", formats=("json",)))
    forgot = CliRunner().invoke(cli, ["orphans", "--content", str(content), "--forget", orphan.id])
    assert forgot.output.splitlines() == [f"forgot {orphan.id}  乙是什么？ (n.md)", "0 orphan(s)"]


def lock_ids(content: Path) -> set[str]:
    return {e.id for e in load_lock(content / "cardsmith.lock.json").notes}


def test_a_removed_answer_is_an_orphan_until_the_answer_is_back(tmp_path: Path) -> None:
    content = _notes(tmp_path)
    build(load_config(content, out=tmp_path / "o", formats=("json",)))
    (content / "n.md").write_text(NOTES.replace("答乙\n", ""), "utf-8")
    for _ in range(2):
        result = build(load_config(content, out=tmp_path / "o", formats=("json",)))
        assert [o.question for o in result.report.orphans] == ["乙是什么？"]
        assert any(
            line.startswith("  no longer answered: 乙是什么？")
            for line in result.report.summary_lines()
        )
    (content / "n.md").write_text(NOTES, "utf-8")
    result = build(load_config(content, out=tmp_path / "o", formats=("json",)))
    assert result.report.orphans == ()
    # Anki kept the note while it had no answer: the import updates it (found by a trial).
    counts = result.report.counts
    assert (counts["new"], counts["updated"]) == (0, 1)


SORTED_BAD: dict[str, dict[str, object]] = {
    "an id that is a number": {"id": 12345},
    "a question that is null": {"question": None},
    "a mod that is a string": {"mod": "1"},
    "a mod that is true": {"mod": True},
    "a slot that is a float": {"slot": 1.0},
    "an id that is not an id": {"id": 'a"b\tc'},
    "an unknown key": {"zz": ""},
}


@pytest.mark.parametrize("name", sorted(SORTED_BAD))
def test_a_bad_entry_in_the_layout_cardsmith_writes_is_refused_too(
    name: str, tmp_path: Path
) -> None:
    # Entries in the written layout (keys sorted) take a faster path: it must refuse the same.
    entry = {**GOOD_ENTRY, "after": "", "slot": 0, **SORTED_BAD[name]}
    path = tmp_path / "cardsmith.lock.json"
    path.write_text(json.dumps({"version": 2, "notes": [entry]}, sort_keys=True), "utf-8")
    with pytest.raises(ConfigError, match="restore it from version control"):
        load_lock(path)


def test_the_lock_rows_are_what_the_json_encoder_writes_and_read_back_the_same(
    tmp_path: Path,
) -> None:
    odd = ['引号"与\\反斜杠', "tab\tnew\nline\x00\x1f", "emoji 👨‍💻 \u2028\u2029", "</script>"]
    entries = [
        LockEntry(
            id=f"cs{i:010d}",
            path=text,
            deck=f"根::{text}",
            question=text,
            answer="a" * 64,
            digest="d" * 64,
            mod=1_700_000_000 + i,
            after="" if i == 0 else f"cs{i - 1:010d}",
            slot=i,
            successor=f"cs{i + 1:010d}" if i % 2 else "",
        )
        for i, text in enumerate(odd)
    ]
    lock = Lock(tuple(entries[:2]), tuple(entries[2:]), NoteTypeStamp("x" * 64, 5))
    text = lock_text(lock)
    encode = json.JSONEncoder(ensure_ascii=False, sort_keys=True).encode
    for entry in entries:
        fields = {k: v for k, v in entry.__dict__.items() if k != "successor" or v}
        assert encode(fields) in [row.rstrip(",") for row in text.split("\n")]
    path = tmp_path / "cardsmith.lock.json"
    path.write_text(text, "utf-8")
    assert load_lock(path) == lock


def test_rows_kept_from_the_last_lock_text_give_the_same_text_and_are_not_made_again(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # A watch keeps the rows of its last lock: an entry carried over (the same object)
    # keeps its row, a new or changed entry gets a new one, and the text is the same.
    made: list[str] = []
    real = identity_module._row

    def counted(entry: LockEntry) -> str:
        made.append(entry.id)
        return real(entry)

    monkeypatch.setattr(identity_module, "_row", counted)
    base = LockEntry(**GOOD_ENTRY)  # type: ignore[arg-type]
    a, b, c = (replace(base, id=f"cs{n}AAAAAAAAA", slot=n) for n in range(3))
    rows: identity_module.LockRows = {}
    first = Lock((b, a), (c,), NoteTypeStamp("x" * 64, 5))
    assert lock_text(first, rows) == lock_text(first)
    del made[:]
    changed = replace(b, question="乙是什么？")  # an equal entry would do too: a new object
    second = Lock((a, changed), (), NoteTypeStamp("x" * 64, 5))
    assert lock_text(second, rows) == lock_text(second)
    assert made == [changed.id, a.id, changed.id]  # with the rows: only the changed one
    assert sorted(rows) == sorted([id(a), id(changed)])  # rows of dropped entries let go


def test_the_next_lock_takes_the_rows_of_unchanged_entries_from_the_last_lock_text(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # A sync makes the next lock from the lock its memo holds and the lock file's bytes
    # (identity.lock_bytes): with an entry changed and one added, it is the text made
    # anew, and only their rows (and the orphans') are made.
    base = LockEntry(**GOOD_ENTRY)  # type: ignore[arg-type]
    odd = ['引号"与\\反斜杠', "tab\tnew\nline", "</script>", "甲"]
    a, b, c, d = (
        replace(base, id=f"cs{n}AAAAAAAAA", slot=n, question=q) for n, q in enumerate(odd)
    )
    stamp = NoteTypeStamp("x" * 64, 5)
    made: list[str] = []
    real = identity_module._row

    def counted(entry: LockEntry) -> str:
        made.append(entry.id)
        return real(entry)

    for orphans in ((d,), ()):
        lock = Lock((a, b, c), orphans, stamp)
        text = lock_text(lock).encode("utf-8")
        added, changed = replace(a, id="cs9AAAAAAAAA"), replace(b, question="乙？")
        for after in (
            Lock((a, changed, c, added), orphans, stamp),
            Lock((a, b, c), orphans, stamp),
            Lock((), orphans, stamp),
        ):
            whole = lock_text(after).encode("utf-8")
            del made[:]
            monkeypatch.setattr(identity_module, "_row", counted)
            assert identity_module.lock_bytes(after, (lock, text)) == whole
            monkeypatch.setattr(identity_module, "_row", real)
            kept = {id(e) for e in lock.notes}
            assert sorted(made) == sorted(
                [e.id for e in (*after.notes, *orphans) if id(e) not in kept]
            )
    # A text that is not that lock's gives no row: the lock is made whole.
    lock, after = Lock((a, b), (), stamp), Lock((a, b, c), (), stamp)
    for other in (
        lock_text(Lock((a, c), (), stamp)).encode(),
        lock_text(Lock((a,), (), stamp)).encode(),
        json.dumps({"notes": []}).encode(),
    ):
        del made[:]
        monkeypatch.setattr(identity_module, "_row", counted)
        assert identity_module.lock_bytes(after, (lock, other)) == lock_text(after).encode()
        monkeypatch.setattr(identity_module, "_row", real)
        assert sorted(made) == sorted([a.id, b.id, c.id] * 2)  # made whole, and again above


def test_a_lock_pickles_a_field_at_a_time_and_comes_back_equal(tmp_path: Path) -> None:
    # A sync keeps the lock it wrote in its memo, pickled (records.by_columns).
    shutil.copytree(SEEDS, tmp_path / "content")
    config = load_config(tmp_path / "content", out=tmp_path / "build", formats=("json",))
    build(config)
    lock = load_lock(config.lock_path)
    gone = replace(lock.notes[0], successor=lock.notes[1].id)
    for kept in (lock, replace(lock, orphans=(gone,)), Lock()):
        again = pickle.loads(pickle.dumps(kept, pickle.HIGHEST_PROTOCOL))
        assert again == kept and type(again.notes) is tuple
        assert [vars(e) for e in again.notes] == [vars(e) for e in kept.notes]
