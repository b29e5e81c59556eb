"""``cardsmith sync`` against real Anki collections, and the ``.apkg`` path beside it.

Each case under ``tests/fixtures/sync/`` is a ``before/`` and an ``after/`` notes folder.
The before notes are synced into one collection and imported (as a package) into another,
every card is studied, then the after notes replace them and the same is done again. The
state of each collection is compared with ``expected.sync.json`` and
``expected.import.json`` beside the case.
"""

from __future__ import annotations

import gc
import json
import os
import pickle
import random
import shutil
import socket
import subprocess
import sys
import time
import unicodedata
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from pipeline import ankifile, build, load_config, syncplan
from pipeline import identity as identity_module
from pipeline import sync as sync_module
from pipeline import syncmemo as syncmemo_module
from pipeline.cli import cli
from pipeline.errors import ContentError, EnvironmentProblem
from pipeline.export import anki as anki_export
from pipeline.notetype import NoteTypeLook
from pipeline.records import SplicedFile, Taken, TakenCard
from pipeline.sync import ORPHAN_TAG, SyncError, sync
from tests.conftest import FIXTURES, golden, steady_day

pytest.importorskip("anki.collection")
from anki.collection import Collection

from tests.test_anki import answer_good, import_package

CASES = FIXTURES / "sync"
MID = anki_export.MODEL_ID


# --- helpers ---------------------------------------------------------------------------------


def new_collection(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    col = Collection(str(path))
    steady_day(col)
    col.close()
    return path


def open_col(path: Path) -> Collection:
    return Collection(str(path))


def put_notes(source: Path, content: Path) -> None:
    """The notes of ``source`` replace those in ``content``; the lock file stays."""
    content.mkdir(exist_ok=True)
    for old in content.iterdir():
        if old.name != "cardsmith.lock.json":
            old.unlink()
    for new in source.iterdir():
        shutil.copy(new, content / new.name)


def study(path: Path) -> None:
    """Answer Good until nothing is due, in every deck."""
    col = open_col(path)
    try:
        for deck in col.decks.all_names_and_ids():
            if "::" not in deck.name:
                answer_good(col, deck.id, rounds=20)
    finally:
        col.close()


def snapshot(path: Path) -> dict[str, Any]:
    """The collection as a person sees it: notes, their decks and state, and the decks."""
    col = open_col(path)
    try:
        names = {d.id: d.name for d in col.decks.all_names_and_ids()}
        notes = []
        for nid, guid, flds, tags in col.db.all(
            "select id, guid, flds, tags from notes where mid = ? order by sfld, guid", MID
        ):
            cards = col.db.all(
                "select c.id, c.did, c.queue, (select count() from revlog r where r.cid = c.id) "
                "from cards c where c.nid = ?",
                nid,
            )
            fields = dict(zip(anki_export.FIELDS, flds.split("\x1f"), strict=True))
            notes.append(
                {
                    "id": guid,
                    "question": fields["Question"],
                    "answer": fields["Answer"],
                    "decks": sorted(names[c[1]] for c in cards),
                    "orphan": ORPHAN_TAG in tags.split(),
                    "suspended": all(c[2] == -1 for c in cards),
                    "reviews": sum(c[3] for c in cards),
                }
            )
        counts = dict(col.db.all("select did, count() from cards group by did"))
        decks = sorted(n for n in names.values() if n != "Default")
        empty = [
            d
            for d in decks
            if not any(
                counts.get(i, 0) for i, n in names.items() if n == d or n.startswith(d + "::")
            )
        ]
        model = col.models.get(MID)
        return {
            "notes": notes,
            "decks": decks,
            "empty_decks": empty,
            "css_current": model is not None and model["css"] == anki_export.note_model().css,
            "media": sorted(p.name for p in Path(col.media.dir()).iterdir()),
        }
    finally:
        col.close()


def mods(path: Path) -> list[object]:
    """Every modification time in the collection."""
    col = open_col(path)
    try:
        return [
            col.db.scalar("select mod from col"),
            col.db.all("select id, mod from notes order by id"),
            col.db.all("select id, mod from cards order by id"),
            col.db.all("select id, mtime_secs from decks order by id"),
            col.db.all("select id, mtime_secs from notetypes order by id"),
            col.db.all("select key, mtime_secs from config order by key"),
        ]
    finally:
        col.close()


def assert_in_step(path: Path, content: Path) -> None:
    """One note per answered question, current, in its section's deck; orphans marked."""
    from pipeline.sync import notes_for
    from pipeline.syncplan import desired

    want = {w.guid: w for w in desired(notes_for(load_config(content))[0]).notes}
    col = open_col(path)
    try:
        names = {d.id: d.name for d in col.decks.all_names_and_ids()}
        guids = col.db.list("select guid from notes where mid = ?", MID)
        assert len(guids) == len(set(guids)), "a question has two notes"
        assert set(want) <= set(guids), "an answered question has no note"
        for nid, guid, flds, tags in col.db.all(
            "select id, guid, flds, tags from notes where mid = ?", MID
        ):
            cards = col.db.all("select did, odid, queue from cards where nid = ?", nid)
            if guid in want:
                assert tuple(flds.split("\x1f")) == want[guid].fields, f"stale note {guid}"
                assert {names[odid or did] for did, odid, _ in cards} == {want[guid].deck}
                assert ORPHAN_TAG not in tags.split()
            else:
                assert ORPHAN_TAG in tags.split(), f"orphan {guid} not tagged"
                assert all(q == -1 for _, _, q in cards), f"orphan {guid} not suspended"
        counts = dict(col.db.all("select did, count() from cards group by did"))
        for name in names.values():  # these collections hold nothing but cardsmith's decks
            below = [i for i, n in names.items() if n == name or n.startswith(name + "::")]
            assert name == "Default" or any(counts.get(i, 0) for i in below), f"empty {name}"
    finally:
        col.close()


# --- what each case does between the two rounds ---------------------------------------------


def _old_note_type(collection: Path, content: Path) -> None:
    """As an older cardsmith left it: other CSS and templates, in Anki and in the lock."""
    lock_path = content / "cardsmith.lock.json"
    lock = json.loads(lock_path.read_text("utf-8"))
    lock["note_type"]["digest"] = "0" * 64
    lock_path.write_text(json.dumps(lock, ensure_ascii=False), "utf-8")
    col = open_col(collection)
    model = col.models.get(MID)
    model["css"] = ".card { color: red }"
    model["tmpls"][0]["afmt"] = "{{Answer}}"
    col.models.update_dict(model)
    # The time the older package gave it, not the time of this edit.
    col.db.execute(
        "update notetypes set mtime_secs = ? where id = ?", lock["note_type"]["mod"], MID
    )
    record = col.get_config(ankifile.STATE_KEY, default=None)
    if record is not None:  # and its sync's record says it left that look
        old = NoteTypeLook(model["css"], model["tmpls"][0]["qfmt"], model["tmpls"][0]["afmt"])
        col.set_config(ankifile.STATE_KEY, {**record, "look": old.digest})
    col.close()


def _own_css_in_anki(collection: Path, _content: Path) -> None:
    col = open_col(collection)
    model = col.models.get(MID)
    model["css"] += "\n.mine { color: blue }"
    col.models.update_dict(model)
    col.close()


@pytest.mark.parametrize(
    ("change", "said"),
    [
        (_old_note_type, "(CSS and templates)"),
        (_own_css_in_anki, "(CSS and templates; edited in Anki since the last sync: replaced)"),
    ],
    ids=["an older cardsmith's", "edited in Anki"],
)
def test_a_note_type_edited_in_anki_is_told_apart_from_an_older_cardsmiths(
    synced: tuple[Path, Path], change: Callable[[Path, Path], None], said: str
) -> None:
    content, collection = synced
    change(collection, content)
    args = ["sync", "--content", str(content), "--collection", str(collection)]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    assert f"  note type cardsmith Q&A: update {said}" in result.output.splitlines()


def _edit_in_anki(collection: Path, _content: Path) -> None:
    col = open_col(collection)
    note = col.get_note(col.find_notes("")[0])
    note["Answer"] = "我在 Anki 里改的答案。"
    col.update_note(note)
    # Made an hour ago: the next package is newer (within the same second it might not be).
    col.db.execute("update notes set mod = mod - 3600 where id = ?", note.id)
    col.close()


def _delete_in_anki(collection: Path, _content: Path) -> None:
    col = open_col(collection)
    col.remove_notes(col.find_notes("Question:在*"))
    col.close()


def _pdf_build(_collection: Path, content: Path) -> None:
    # A build that is not for Anki must not lose the orphan.
    build(load_config(content, out=content.parent / "other", formats=("pdf",)))


#: Case -> what happens after the first round (in Anki or in the notes) for both paths.
BETWEEN: dict[str, Callable[[Path, Path], None]] = {
    "new_css": _old_note_type,
    "edited_in_anki": _edit_in_anki,
    "deleted_in_anki": _delete_in_anki,
}
#: Case -> what happens after the notes are edited, before the second round.
AFTER_EDIT: dict[str, Callable[[Path, Path], None]] = {"deleted_then_pdf": _pdf_build}


def _sync_round(content: Path, collection: Path) -> None:
    sync(load_config(content), collection)


def _import_round(content: Path, collection: Path) -> dict[str, int]:
    result = build(load_config(content, out=content.parent / "out", formats=("apkg",)))
    col = open_col(collection)
    try:
        import_package(col, content.parent / "out" / "cardsmith.apkg")
    finally:
        col.close()
    return result.report.counts


def run_case(case: Path, tmp: Path, how: str) -> dict[str, Any]:
    content = tmp / how / "content"
    collection = new_collection(tmp / how / "anki" / "collection.anki2")
    rounds: list[dict[str, int]] = []

    def one_round() -> None:
        if how == "sync":
            _sync_round(content, collection)
        else:
            rounds.append(_import_round(content, collection))

    put_notes(case / "before", content)
    one_round()
    study(collection)
    if case.name in BETWEEN:
        BETWEEN[case.name](collection, content)
    put_notes(case / "after", content)
    if case.name in AFTER_EDIT:
        AFTER_EDIT[case.name](collection, content)
    one_round()
    state = snapshot(collection)
    if how == "import":
        state["build_counts"] = rounds
    return state


@pytest.mark.parametrize("case", sorted(p.name for p in CASES.iterdir() if p.is_dir()))
@pytest.mark.parametrize("how", ["sync", "import"])
def test_case(case: str, how: str, tmp_path: Path) -> None:
    state = run_case(CASES / case, tmp_path, how)
    text = json.dumps(state, ensure_ascii=False, indent=1, sort_keys=True) + "\n"
    assert text == golden(CASES / case / f"expected.{how}.json", text)
    if how == "sync" and case != "edited_in_anki":
        assert_in_step(tmp_path / how / "anki" / "collection.anki2", tmp_path / how / "content")


# --- guarantees of sync itself ---------------------------------------------------------------


def synced_case(tmp_path: Path, case: str) -> tuple[Path, Path]:
    """The notes of ``case``'s ``before`` in ``tmp_path/content``, synced into a new
    collection: the notes folder and the collection."""
    content = tmp_path / "content"
    put_notes(CASES / case / "before", content)
    collection = new_collection(tmp_path / "anki" / "collection.anki2")
    sync(load_config(content), collection)
    return content, collection


@pytest.fixture
def synced(tmp_path: Path) -> Iterator[tuple[Path, Path]]:
    content, collection = synced_case(tmp_path, "moves")
    study(collection)
    yield content, collection


def test_a_sync_with_nothing_changed_changes_nothing(synced: tuple[Path, Path]) -> None:
    content, collection = synced
    before = mods(collection)
    result = sync(load_config(content), collection)
    assert result.plan.empty
    assert mods(collection) == before


def test_notes_in_decomposed_unicode_are_in_step_after_one_sync(tmp_path: Path) -> None:
    # Anki keeps a note's text in NFC; what a sync wrote was hashed as the notes had it
    # (NFD: e + a combining accent), and each later sync saw an edit made in Anki (found
    # by the fourteenth trial).
    content = tmp_path / "content"
    content.mkdir()
    text = (
        "## 节\n\n### What is a cafe\u0301 latte?\n\nCoffe\u0301e with milk.\n\n"
        "### Is it hot?\n\nYes.\n"
    )
    (content / "nfd.md").write_text(text, "utf-8")
    # Decks too: a heading and a file name (as macOS names files) in NFD failed every sync
    # looking up their deck (the twenty-fifth trial).
    nfd = unicodedata.normalize("NFD", "## 节 データベース\n\n#### 1. 索引？\n\n加速查找。\n")
    (content / unicodedata.normalize("NFD", "Café.md")).write_text(nfd, "utf-8")
    collection = new_collection(tmp_path / "anki" / "collection.anki2")
    assert len(sync(load_config(content), collection).plan.add) == 3
    again = sync(load_config(content), collection)
    assert again.plan.empty and not again.plan.conflict
    decks = snapshot(collection)["decks"]
    assert "Cardsmith::Café::节 データベース" in decks  # NFC, as Anki names decks


@pytest.mark.usefixtures("workers_at_any_size")
def test_a_question_over_two_lines_is_one_line_of_the_plan(tmp_path: Path) -> None:
    content = tmp_path / "content"
    content.mkdir()
    (content / "n.md").write_text("## 节\n\n1. 第一行\n   第二行？\n\n   答案。\n", "utf-8")
    collection = new_collection(tmp_path / "anki" / "collection.anki2")
    lines = sync(load_config(content), collection, dry_run=True).plan.lines()
    assert "  add: 第一行 第二行？ → Cardsmith::n::节" in lines


def test_a_dry_run_writes_nothing_in_the_cache_either(tmp_path: Path) -> None:
    # Compiled in workers, as large notes are.
    content = tmp_path / "content"
    put_notes(CASES / "moves" / "before", content)
    collection = new_collection(tmp_path / "anki" / "collection.anki2")
    config = load_config(content, out=tmp_path / "build", workers=2)
    cache = tmp_path / ".cardsmith-cache"
    assert sync(config, collection, dry_run=True).plan.lines()
    assert not cache.exists()  # not even made (the sixteenth trial)
    sync(config, collection)
    put_notes(CASES / "moves" / "after", content)

    def listing() -> list[tuple[str, int, int]]:
        return sorted((p.name, p.stat().st_size, p.stat().st_mtime_ns) for p in cache.iterdir())

    before, folder = listing(), cache.stat().st_mtime_ns
    assert sync(config, collection, dry_run=True).plan.lines()
    assert listing() == before
    assert cache.stat().st_mtime_ns == folder  # no file made and removed in it either


def test_dry_run_prints_the_plan_and_writes_nothing(synced: tuple[Path, Path]) -> None:
    content, collection = synced
    put_notes(CASES / "moves" / "after", content)
    lock = (content / "cardsmith.lock.json").read_text("utf-8")
    before = mods(collection)
    result = CliRunner().invoke(
        cli, ["sync", "--content", str(content), "--collection", str(collection), "--dry-run"]
    )
    assert result.exit_code == 0, result.output
    assert "move: GIL是什么？: Cardsmith::a::旧名 → 面试题::a::新名" in result.output
    assert "remove empty deck: Cardsmith" in result.output
    assert "dry run: nothing was written" in result.output
    assert mods(collection) == before
    assert (content / "cardsmith.lock.json").read_text("utf-8") == lock
    done = CliRunner().invoke(
        cli, ["sync", "--content", str(content), "--collection", str(collection)]
    )
    assert done.exit_code == 0, done.output
    assert done.output.splitlines()[-1].startswith("Anki is in step: ")  # what was written
    again = CliRunner().invoke(
        cli, ["sync", "--content", str(content), "--collection", str(collection)]
    )
    assert again.output.splitlines()[-1] == "Anki is up to date: nothing was written to it"


def test_conflicts_are_left_unless_forced(tmp_path: Path) -> None:
    content, collection = synced_case(tmp_path, "edited_in_anki")
    _edit_in_anki(collection, content)
    put_notes(CASES / "edited_in_anki" / "after", content)
    result = sync(load_config(content), collection)
    assert [w.question for w, _ in result.plan.conflict] == ["在 Anki 里改过的问题"]
    assert "我在 Anki 里改的答案" in str(snapshot(collection)["notes"])
    again = sync(load_config(content), collection)  # still listed, still left
    assert len(again.plan.conflict) == 1
    # Not "in step" while a conflict is left (the eleventh trial).
    assert result.plan.done_line().startswith("Anki is updated: ")
    assert result.plan.done_line().endswith(
        "1 conflict(s) left as they are (--force overwrites them)"
    )
    forced = sync(load_config(content), collection, force=True)
    assert len(forced.plan.forced) == 1
    assert_in_step(collection, content)
    assert sync(load_config(content), collection).plan.empty


def test_delete_orphans_says_how_many_reviews_go(synced: tuple[Path, Path]) -> None:
    content, collection = synced
    (content / "b.md").unlink()
    sync(load_config(content), collection)
    assert [n["orphan"] for n in snapshot(collection)["notes"]].count(True) == 1
    result = CliRunner().invoke(
        cli,
        ["sync", "--content", str(content), "--collection", str(collection), "--delete-orphans"],
    )
    assert result.exit_code == 0, result.output
    assert (
        "delete: 1 orphan note(s) and their 2 review(s) (Anki's statistics keep the review "
        "log; no card keeps the schedule)"
    ) in result.output
    assert "delete: 列表和元组的区别 (2 review(s))" in result.output  # each one named
    assert all(not n["orphan"] for n in snapshot(collection)["notes"])
    col = open_col(collection)
    try:  # what the message says of the log: Anki leaves it when it deletes a card
        assert col.db.scalar("select count() from revlog where cid not in (select id from cards)")
    finally:
        col.close()
    assert_in_step(collection, content)


def test_an_orphan_edited_in_anki_is_not_deleted_without_force(
    synced: tuple[Path, Path],
) -> None:
    # --delete-orphans took a note edited in Anki with it, without a word (the thirteenth
    # trial); an edited note is never overwritten without a word, nor deleted.
    content, collection = synced
    (content / "b.md").unlink()
    sync(load_config(content), collection)
    col = open_col(collection)
    try:
        (nid,) = col.find_notes("tag:cardsmith::orphan")
        note = col.get_note(nid)
        note["Answer"] += "<p>我在 Anki 里补充的</p>"
        col.update_note(note)
    finally:
        col.close()
    spared = sync(load_config(content), collection, delete_orphans=True)
    assert not spared.plan.delete and len(spared.plan.spared) == 1
    assert (
        "  not deleted: 列表和元组的区别 was edited in Anki since the last sync (--force "
        "deletes it)" in spared.lines()
    )
    assert spared.plan.done_line().endswith(
        "1 orphan(s) edited in Anki not deleted (--force deletes them)"
    )
    assert "我在 Anki 里补充的" in str(snapshot(collection)["notes"])
    forced = sync(load_config(content), collection, delete_orphans=True, force=True)
    assert len(forced.plan.delete) == 1
    assert "列表和元组的区别" not in str(snapshot(collection)["notes"])


def test_orphans_the_collection_never_held_are_named_and_forgotten_with_delete_orphans(
    synced: tuple[Path, Path], tmp_path: Path
) -> None:
    # A question built (never synced) and deleted again is an orphan only in the lock: a
    # sync said nothing of it and --delete-orphans left it there (the eleventh trial).
    content, collection = synced
    notes = content / "b.md"
    notes.write_text(notes.read_text("utf-8") + "\n#### 2. 什么是切片？\n\n取子序列。\n", "utf-8")
    build(load_config(content, out=tmp_path / "out", formats=("json",)))
    notes.write_text(notes.read_text("utf-8").split("\n#### 2.")[0] + "\n", "utf-8")
    args = ["sync", "--content", str(content), "--collection", str(collection)]
    kept = CliRunner().invoke(cli, args)
    assert kept.exit_code == 0, kept.output
    assert (
        "  1 orphan(s) of the lock have no note in this collection (listed by cardsmith "
        "orphans); --delete-orphans forgets them"
    ) in kept.output.splitlines()
    assert "取子序列" not in str(snapshot(collection)["notes"])
    listed = CliRunner().invoke(cli, ["orphans", "--content", str(content)])
    assert listed.output.startswith("1 orphan(s)\n")
    deleted = CliRunner().invoke(cli, [*args, "--delete-orphans"])
    assert "  forget: 1 orphan(s) of the lock this collection has no note of" in deleted.output
    assert CliRunner().invoke(cli, ["orphans", "--content", str(content)]).output == (
        "0 orphan(s)\n"
    )
    assert_in_step(collection, content)


def test_an_open_collection_is_a_clear_exit_2(synced: tuple[Path, Path]) -> None:
    content, collection = synced
    col = open_col(collection)  # what Anki holds while it runs
    try:
        result = CliRunner().invoke(
            cli, ["sync", "--content", str(content), "--collection", str(collection)]
        )
    finally:
        col.close()
    assert result.exit_code == 2
    assert result.output.strip().splitlines() == [
        f"cardsmith: error: {collection} is open in Anki (or being synced): close Anki first, "
        "or use cardsmith sync --ankiconnect while Anki runs"
    ]


def test_a_dry_run_shows_its_plan_against_a_collection_anki_holds_as_the_file_holds_it(
    synced: tuple[Path, Path],
) -> None:
    # It writes nothing, and reads the file without Anki's library (which would refuse).
    content, collection = synced
    put_notes(CASES / "moves" / "after", content)
    args = ["sync", "--dry-run", "--content", str(content), "--collection", str(collection)]
    closed = CliRunner().invoke(cli, args)
    col = open_col(collection)
    try:
        held = CliRunner().invoke(cli, args)
    finally:
        col.close()
    assert held.exit_code == closed.exit_code == 0, held.output
    assert held.output == closed.output
    assert "to move" in held.output


def _beside(collection: Path) -> list[str]:
    return sorted(p.name for p in collection.parent.iterdir())


def test_a_sync_leaves_no_file_beside_the_collection_that_anki_would_not(
    synced: tuple[Path, Path],
) -> None:
    content, collection = synced
    before = _beside(collection)
    put_notes(CASES / "moves" / "after", content)
    sync(load_config(content), collection)  # writes
    sync(load_config(content), collection)  # writes nothing
    assert _beside(collection) == before
    assert not [name for name in before if name.endswith(("-wal", "-shm"))]


def _crashed_with_changes(collection: Path, into: Path) -> Path:
    """A copy of ``collection`` as Anki leaves it when it stops short: a change still in
    the -wal file beside it."""
    col = open_col(collection)
    try:
        col.decks.id("Made before the crash", create=True)
        into.mkdir()
        for name in ("collection.anki2", "collection.anki2-wal"):
            shutil.copyfile(collection.parent / name, into / name)
    finally:
        col.close()
    return into / "collection.anki2"


@pytest.mark.parametrize("kind", ["older schema", "changes in a -wal file"])
def test_a_dry_run_never_writes_even_what_only_anki_can_read(
    synced: tuple[Path, Path], tmp_path: Path, kind: str
) -> None:
    # Anki's library writes as it opens such a collection (it upgrades the schema, takes
    # in the -wal file): a dry run reads a copy.
    content, collection = synced
    if kind == "older schema":
        col = open_col(collection)
        col.close(downgrade=True)
        target = collection
    else:
        target = _crashed_with_changes(collection, tmp_path / "crashed")
    files = {
        name: (target.parent / name).read_bytes()
        for name in _beside(target)
        if (target.parent / name).is_file()
    }
    put_notes(CASES / "moves" / "after", content)
    result = sync(load_config(content), target, dry_run=True)
    assert result.plan.move and not result.applied
    assert {name: (target.parent / name).read_bytes() for name in files} == files
    assert _beside(target) == sorted(files) + (
        ["collection.media"] if kind == "older schema" else []
    )


def test_a_collection_that_cannot_be_written_says_so(
    synced: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    # As on a read-only disk, where even root cannot write (chmod would not stop root).
    content, collection = synced
    put_notes(CASES / "moves" / "after", content)
    real = os.access
    monkeypatch.setattr(os, "access", lambda p, mode: mode != os.W_OK and real(p, mode))
    with pytest.raises(SyncError, match="cannot be written: the file or its folder is read-only"):
        sync(load_config(content), collection)
    assert sync(load_config(content), collection, dry_run=True).plan.move


@pytest.mark.parametrize("dry_run", [True, False], ids=["dry run", "sync"])
def test_a_sync_names_a_reworded_question_with_the_question_it_was(
    tmp_path: Path, dry_run: bool
) -> None:
    # Its note and reviews follow the new wording: the person sees which old question
    # they came from before anything is written (found by the tenth trial).
    content, collection = synced_case(tmp_path, "reword_and_answer_edit")
    put_notes(CASES / "reword_and_answer_edit" / "after", content)
    args = ["sync", "--content", str(content), "--collection", str(collection)]
    result = CliRunner().invoke(cli, [*args, "--dry-run"] if dry_run else args)
    assert result.exit_code == 0, result.output
    renamed = [line for line in result.output.splitlines() if "renamed (" in line]
    assert len(renamed) == 1
    # The normaliser drops "Python中的" and "Python的" alike: the questions are the same.
    assert renamed[0] == (
        "  renamed (similar question, 100%): Python中的虚拟环境是什么？ -> Python的虚拟环境是什么？"
    )


def test_a_card_moved_into_the_persons_own_deck_goes_back_and_their_decks_stay(
    synced: tuple[Path, Path],
) -> None:
    # The person's decks, one holding a card they moved: the card goes back to its
    # section's deck, and their decks stay (all three were removed: the twelfth trial).
    content, collection = synced
    col = open_col(collection)
    try:
        deep = col.decks.id("Study::Later::Deep")
        assert deep is not None
        col.decks.id("MyDeck")
        nid = col.find_notes('"note:cardsmith Q&A"')[0]
        col.set_deck(col.card_ids_of_note(nid), deep)
    finally:
        col.close()
    result = sync(load_config(content), collection)
    assert len(result.plan.move) == 1 and not result.plan.remove_decks
    after = snapshot(collection)
    assert {"Study", "Study::Later", "Study::Later::Deep", "MyDeck"} <= set(after["decks"])
    assert all(d.startswith("Cardsmith::") for n in after["notes"] for d in n["decks"])


def test_the_closing_line_counts_every_deck_a_removal_takes(synced: tuple[Path, Path]) -> None:
    # Removing a deck removes the decks under it: the plan names the top of each branch,
    # the count is of every deck (it read "2 removed" where four went: the tenth trial).
    content, collection = synced
    before = set(snapshot(collection)["decks"])
    put_notes(CASES / "moves" / "after", content)
    args = ["sync", "--content", str(content), "--collection", str(collection)]
    dry = CliRunner().invoke(cli, [*args, "--dry-run"])
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    after = set(snapshot(collection)["decks"])
    gone, made = before - after, after - before
    assert len(gone) > len([ln for ln in result.output.splitlines() if "remove empty deck" in ln])
    assert f"{len(gone)} empty deck(s) removed" in result.output.splitlines()[-1]
    # The dry run names every deck the sync makes, and counts every one it removes (it
    # named only the tops of the removed branches: the eleventh trial).
    assert (
        made
        and {ln[len("  make deck: ") :] for ln in dry.output.splitlines() if "make deck: " in ln}
        == made
    )
    assert f"  ({len(gone)} empty decks removed in all, with those under them)" in dry.output


def test_a_missing_collection_is_refused(tmp_path: Path) -> None:
    put_notes(CASES / "new_css" / "before", tmp_path / "content")
    with pytest.raises(SyncError, match="no Anki collection") as refused:
        sync(load_config(tmp_path / "content"), tmp_path / "nowhere.anki2")
    # Where a profile's collection is, and who makes a new one (the eleventh trial).
    assert "~/.local/share/Anki2/<profile>/ on Linux" in str(refused.value)
    assert str(refused.value).endswith(
        "Anki makes a new profile's collection the first time it opens it"
    )
    assert not (tmp_path / "nowhere.anki2").exists()


def test_a_character_no_pdf_font_has_does_not_stop_a_sync(tmp_path: Path) -> None:
    # The same notes stop a PDF build (font-coverage is an error there); a sync prints no PDF.
    content = tmp_path / "content"
    shutil.copytree(FIXTURES / "check" / "font_coverage", content)
    collection = new_collection(tmp_path / "anki" / "collection.anki2")
    with pytest.raises(ContentError) as stopped:
        build(load_config(content, out=tmp_path / "out", formats=("pdf",)))
    assert {d.code for d in stopped.value.diagnostics} == {"font-coverage"}
    result = sync(load_config(content), collection)
    assert len(result.plan.add) == 2
    assert [n["question"] for n in snapshot(collection)["notes"]] == ["表情符号？", "象形文字？"]


def test_a_sync_prints_the_notes_warnings_at_their_lines(tmp_path: Path) -> None:
    content = tmp_path / "content"
    content.mkdir()
    (content / "n.md").write_text("## 节\n\n#### 1. 图在哪？\n\n![图](gone.png)\n", "utf-8")
    collection = new_collection(tmp_path / "anki" / "collection.anki2")
    result = CliRunner().invoke(
        cli, ["sync", "--content", str(content), "--collection", str(collection)]
    )
    assert result.exit_code == 0, result.output
    assert f"{content / 'n.md'}:5: warning:" in result.output
    assert "gone.png" in result.output


def numbered_notes(content: Path, files: int, questions: int) -> Path:
    """``content`` made, with ``files`` note files of a section and ``questions`` numbered
    questions each (``f0.md``, ``f1.md``...)."""
    content.mkdir()
    for f in range(files):
        asked = "".join(
            f"#### {q + 1}. 问题{f}-{q}？\n\n答案{f}-{q}。\n\n" for q in range(questions)
        )
        (content / f"f{f}.md").write_text(f"## 节{f}\n\n{asked}", "utf-8")
    return content


def test_a_sync_that_would_orphan_most_questions_is_refused_like_a_build(
    tmp_path: Path,
) -> None:
    content = numbered_notes(tmp_path / "content", files=4, questions=4)
    collection = new_collection(tmp_path / "anki" / "collection.anki2")
    args = ["sync", "--content", str(content), "--collection", str(collection)]
    assert CliRunner().invoke(cli, args).exit_code == 0
    for f in range(1, 4):  # a half checkout: three files of four gone
        (content / f"f{f}.md").unlink()
    before, lock = mods(collection), (content / "cardsmith.lock.json").read_bytes()
    refused = CliRunner().invoke(cli, args)
    assert refused.exit_code == 2
    assert "this sync would orphan 12 of the 16 question(s)" in refused.output
    assert "--allow-mass-orphan" in refused.output
    assert mods(collection) == before
    assert (content / "cardsmith.lock.json").read_bytes() == lock
    dry = CliRunner().invoke(cli, [*args, "--dry-run"])  # a dry run shows what would happen
    assert dry.exit_code == 0 and "12 to orphan" in dry.output, dry.output
    allowed = CliRunner().invoke(cli, [*args, "--allow-mass-orphan"])
    assert allowed.exit_code == 0, allowed.output
    col = open_col(collection)
    assert len(col.find_notes(f"tag:{ORPHAN_TAG}")) == 12
    col.close()


@pytest.mark.parametrize("other", ["empty", "another person's notes"])
def test_a_sync_from_a_folder_whose_lock_knows_none_of_the_collection_is_refused(
    tmp_path: Path, other: str
) -> None:
    # A wrong --content has a lock that knows none of the collection's notes: the lock's
    # guard saw nothing to orphan, and the sync orphaned (or with --delete-orphans deleted)
    # every note of the collection (the twenty-fourth trial).
    content = numbered_notes(tmp_path / "content", files=4, questions=4)
    collection = new_collection(tmp_path / "anki" / "collection.anki2")
    assert (
        CliRunner()
        .invoke(cli, ["sync", "--content", str(content), "--collection", str(collection)])
        .exit_code
        == 0
    )
    wrong = tmp_path / "wrong"
    wrong.mkdir()
    if other != "empty":
        (wrong / "x.md").write_text("## 别的\n\n#### 1. 别人的问题？\n\n别人的答案。\n", "utf-8")
    args = ["sync", "--content", str(wrong), "--collection", str(collection)]
    before = mods(collection)
    for flags in ([], ["--delete-orphans"]):
        refused = CliRunner().invoke(cli, [*args, *flags])
        assert refused.exit_code == 2, refused.output
        assert "would orphan 16 of the 16 cardsmith note(s)" in refused.output
        assert "--allow-mass-orphan" in refused.output
        assert mods(collection) == before
        assert not (wrong / "cardsmith.lock.json").exists()
    dry = CliRunner().invoke(cli, [*args, "--dry-run"])  # a dry run shows what would happen
    assert dry.exit_code == 0 and "16 to orphan" in dry.output, dry.output
    allowed = CliRunner().invoke(cli, [*args, "--allow-mass-orphan"])
    assert allowed.exit_code == 0, allowed.output
    col = open_col(collection)
    assert len(col.find_notes(f"tag:{ORPHAN_TAG}")) == 16
    col.close()


#: A sync whose plan is handed to Anki, then Ctrl-C: stopped while Anki is written.
STOPPED_WRITING = """
import os, signal, sys, time
import pipeline.cli
from pipeline.ankifile import CollectionSide

carry_out = CollectionSide.carry_out

def then_stopped(self, *args, **kwargs):
    carry_out(self, *args, **kwargs)
    self.outcome()  # Anki has written the plan
    os.kill(os.getpid(), signal.SIGINT)
    time.sleep(10)

CollectionSide.carry_out = then_stopped
sys.argv = ["cardsmith", "sync", "--content", sys.argv[1], "--collection", sys.argv[2]]
pipeline.cli.main()
"""


#: A sync carried out in full, then Ctrl-C as its report is printed.
STOPPED_REPORTING = """
import os, signal, sys, time
import pipeline.cli

echo = pipeline.cli._echo

def then_stopped(text, *args, **kwargs):
    if text.startswith("  add:"):
        os.kill(os.getpid(), signal.SIGINT)
        time.sleep(10)
    echo(text, *args, **kwargs)

pipeline.cli._echo = then_stopped
sys.argv = ["cardsmith", "sync", "--content", sys.argv[1], "--collection", sys.argv[2]]
pipeline.cli.main()
"""


#: A sync whose lock is written, then Ctrl-C as its memo is written.
STOPPED_KEEPING_MEMO = """
import os, signal, sys, time
import pipeline.cli
import pipeline.sync

def then_stopped(*args, **kwargs):
    os.kill(os.getpid(), signal.SIGINT)
    time.sleep(10)

pipeline.sync.write_memo = then_stopped
sys.argv = ["cardsmith", "sync", "--content", sys.argv[1], "--collection", sys.argv[2]]
pipeline.cli.main()
"""


#: A sync carried out in full, then Ctrl-C once it returned (its report's note is over).
STOPPED_AFTER = """
import os, signal, sys, time
from pathlib import Path
from pipeline import load_config
from pipeline.interrupts import stopped_by_signals
from pipeline.sync import sync

with stopped_by_signals():
    sync(load_config(Path(sys.argv[1])), Path(sys.argv[2]))
    os.kill(os.getpid(), signal.SIGINT)
    time.sleep(10)
"""

_IN_STEP = "the sync was carried out in full (Anki and the lock file are in step)"


def _stopped_sync(
    tmp_path: Path, script: str
) -> tuple[Path, Path, subprocess.CompletedProcess[str]]:
    """Six questions synced into a new collection by ``script`` (one of the ``STOPPED_*``
    programs above, given the notes and the collection), in a process of its own: the
    notes, the collection and the finished process."""
    content = numbered_notes(tmp_path / "content", files=2, questions=3)
    collection = new_collection(tmp_path / "anki" / "collection.anki2")
    proc = subprocess.run(
        [sys.executable, "-c", script, str(content), str(collection)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    return content, collection, proc


@pytest.mark.parametrize(
    ("script", "said", "locked"),
    [
        (
            STOPPED_WRITING,
            "Anki may have been updated and the lock not: sync again (the same notes are "
            "found, and nothing is added twice)",
            False,
        ),
        (
            STOPPED_REPORTING,
            f"{_IN_STEP}; only its report was cut short",
            True,
        ),
        (STOPPED_KEEPING_MEMO, _IN_STEP, True),
        (STOPPED_AFTER, _IN_STEP, True),
    ],
    ids=[
        "while Anki is written",
        "while its report is printed",
        "while its memo is written",
        "after it",
    ],
)
def test_a_sync_stopped_says_what_it_did(
    tmp_path: Path, script: str, said: str, locked: bool
) -> None:
    # "stopped by SIGINT" alone said nothing of Anki updated and the lock not (the
    # twenty-fourth trial), or of a sync carried out in full (the thirtieth, the
    # thirty-fourth: just after its report, or while its memo was written, where it said
    # the lock may not be).
    content, collection, proc = _stopped_sync(tmp_path, script)
    assert proc.returncode == 130, proc.stderr
    assert proc.stderr.endswith(f"cardsmith: stopped by SIGINT; {said}\n")
    assert (content / "cardsmith.lock.json").exists() == locked
    again = CliRunner().invoke(
        cli, ["sync", "--content", str(content), "--collection", str(collection)]
    )
    assert again.exit_code == 0 and "0 to add" in again.output, again.output
    assert (content / "cardsmith.lock.json").exists()


#: Ctrl-C landing as the thread that sends the plan starts, before the sync holds it, and
#: the plan still being pickled when the stopped sync closes the pipe.
STOPPED_SENDING = """
import os, signal, sys, time
from multiprocessing import reduction
import pipeline.cli
from pipeline import ankifile

aside, dumps, parent = ankifile._sent_aside, reduction.ForkingPickler.dumps, os.getpid()

def slow(cls, obj, protocol=None):
    time.sleep(0.5)
    return dumps(obj, protocol)

def stopped_as_it_starts(conn, message):
    if os.getpid() != parent:  # the collection's process sends what it read
        return aside(conn, message)
    reduction.ForkingPickler.dumps = classmethod(slow)
    aside(conn, message)
    os.kill(os.getpid(), signal.SIGINT)
    time.sleep(10)

ankifile._sent_aside = stopped_as_it_starts
sys.argv = ["cardsmith", "sync", "--content", sys.argv[1], "--collection", sys.argv[2]]
pipeline.cli.main()
"""


def test_a_sync_stopped_as_it_sends_its_plan_prints_no_traceback(tmp_path: Path) -> None:
    # The thirty-sixth trial: 16 of 140 syncs stopped by Ctrl-C printed the traceback of
    # the thread sending the plan, the pipe closed under it. Nothing reached Anki here: the
    # next sync adds every note, once.
    content, collection, proc = _stopped_sync(tmp_path, STOPPED_SENDING)
    assert proc.returncode == 130, proc.stderr
    assert "Traceback" not in proc.stderr and "Exception" not in proc.stderr, proc.stderr
    assert proc.stderr.endswith(
        "cardsmith: stopped by SIGINT; Anki may have been updated and the lock not: sync "
        "again (the same notes are found, and nothing is added twice)\n"
    )
    assert not (content / "cardsmith.lock.json").exists()
    assert snapshot(collection)["notes"] == []
    again = CliRunner().invoke(
        cli, ["sync", "--content", str(content), "--collection", str(collection)]
    )
    assert again.exit_code == 0 and "6 to add" in again.output, again.output
    assert len(snapshot(collection)["notes"]) == 6


def test_other_decks_and_tags_are_never_touched(synced: tuple[Path, Path]) -> None:
    content, collection = synced
    col = open_col(collection)
    col.decks.id("Cardsmith::a::mine", create=True)  # the person's own (empty) deck
    note = col.get_note(col.find_notes("")[0])
    note.tags.append("my_tag")
    col.update_note(note)
    col.close()
    put_notes(CASES / "moves" / "after", content)
    sync(load_config(content), collection)
    state = snapshot(collection)
    assert "Cardsmith::a::mine" in state["decks"]
    assert "Cardsmith::b::数据" not in state["decks"]
    col = open_col(collection)
    assert len(col.find_notes("tag:my_tag")) == 1
    col.close()


# --- the collection read with SQLite alone --------------------------------------------------


def _add_filtered(col: Collection, name: str, search: str) -> None:
    """A filtered deck of the cards ``search`` finds, as a person makes one to cram."""
    deck = col.sched.get_or_create_filtered_deck(deck_id=0)
    deck.name = name
    deck.config.search_terms[0].search = search
    col.sched.add_or_update_filtered_deck(deck)


def _lived_in(collection: Path, content: Path) -> None:
    """A collection as a person leaves it: their own deck, tag, suspended card and filtered
    deck, reviews, an orphan, an image."""
    put_notes(CASES / "moves" / "after", content)
    sync(load_config(content), collection)
    (content / "c.md").write_text("## 数据\n", "utf-8")  # its question gone: an orphan
    sync(replace(load_config(content), allow_mass_orphan=True), collection)
    col = open_col(collection)
    try:
        col.decks.id("Mine::empty", create=True)
        nids = col.find_notes(f"mid:{MID}")
        note = col.get_note(nids[0])
        note.tags.append("my_tag")
        col.update_note(note)
        col.sched.suspend_cards(list(col.get_note(nids[1]).card_ids()))
        _add_filtered(col, "Cram", f"mid:{MID}")
        col.media.write_data("mine.png", b"\x89PNG made by hand")
    finally:
        col.close()


def test_the_collection_reads_the_same_with_sqlite_as_with_ankis_library(
    synced: tuple[Path, Path],
) -> None:
    content, collection = synced
    _lived_in(collection, content)
    files = sorted(p.name for p in collection.parent.iterdir())
    direct = ankifile.read_directly(collection)
    assert sorted(p.name for p in collection.parent.iterdir()) == files, "no -wal, no -shm"
    assert direct is not None, "a collection of Anki's current schema is read directly"
    col = open_col(collection)
    try:
        through_anki = ankifile.read_state(col)
        assert direct[0] == through_anki
        assert any(e.orphaned for e in through_anki.notes.values())
        assert "Cram" in through_anki.decks and "mine.png" in through_anki.media
        assert ankifile._fingerprint(col.db.first) == direct[1]  # as read: not read again
    finally:
        col.close()


def _filtered(collection: Path, name: str, search: str) -> None:
    col = open_col(collection)
    try:
        _add_filtered(col, name, search)
    finally:
        col.close()


def test_a_filtered_deck_named_as_a_section_stops_the_sync_before_anything_is_written(
    synced: tuple[Path, Path],
) -> None:
    # Anki's library refused to move cards into it half-way through the plan: the notes
    # were updated, the cards not moved, the lock not written (the twelfth trial).
    content, collection = synced
    _filtered(collection, "Cardsmith::c::数据", '"deck:Cardsmith::a::基础"')
    before = mods(collection)
    (content / "b.md").rename(content / "c.md")
    with pytest.raises(SyncError, match="'Cardsmith::c::数据' is a filtered deck in Anki"):
        sync(load_config(content), collection)
    assert mods(collection) == before


def test_a_card_studied_in_a_filtered_deck_stays_there_when_its_home_deck_changes(
    synced: tuple[Path, Path],
) -> None:
    content, collection = synced
    _filtered(collection, "Cram", f"mid:{MID}")
    (content / "b.md").rename(content / "c.md")
    sync(load_config(content), collection)
    col = open_col(collection)
    try:
        cram = col.decks.id_for_name("Cram")
        rows = col.db.all("select did, odid from cards")
        names = {d.id: d.name for d in col.decks.all_names_and_ids()}
    finally:
        col.close()
    assert rows and all(did == cram for did, _ in rows)  # still studied there
    assert "Cardsmith::c::数据" in {names[odid] for _, odid in rows}  # its new home
    assert sync(load_config(content), collection).plan.empty  # in step


def test_a_question_back_through_an_apkg_import_is_unsuspended_by_the_next_sync(
    synced: tuple[Path, Path],
) -> None:
    # The import took the orphan tag away and left the card suspended; every sync after it
    # said "in step" (the twenty-fifth trial).
    content, collection = synced
    (content / "b.md").rename(content / "b.keep")
    assert len(sync(load_config(content), collection).plan.suspend) == 1
    (content / "b.keep").rename(content / "b.md")
    note = content / "b.md"
    text = note.read_text("utf-8")
    note.write_text(text.replace("元组不可变。", "元组不可变，可作键。"), "utf-8")
    # An import updates a note only when the package's is newer, to the second: a package
    # built in the second the sync wrote the note is skipped (left alone: see the note).
    time.sleep(1.1)
    build(load_config(content, out=content.parent / "out", formats=("apkg",)))
    col = open_col(collection)
    try:
        import_package(col, content.parent / "out" / "cardsmith.apkg")
    finally:
        col.close()
    held = {n["question"]: (n["orphan"], n["suspended"]) for n in snapshot(collection)["notes"]}
    assert held["列表和元组的区别"] == (False, True)  # what the import left
    result = sync(load_config(content), collection)
    assert "  back: 列表和元组的区别 (unsuspended)" in result.lines(), result.lines()
    assert not any(n["suspended"] for n in snapshot(collection)["notes"])
    assert sync(load_config(content), collection).plan.empty


def test_a_question_back_keeps_a_suspension_no_sync_ever_made(
    synced: tuple[Path, Path],
) -> None:
    # Only the person's own suspended card orphaned: no sync had suspended anything, the
    # record kept no suspensions, and the card came back unsuspended (the twenty-fifth trial).
    content, collection = synced
    col = open_col(collection)
    try:
        col.sched.suspend_cards(col.find_cards('"note:cardsmith Q&A" 列表'))
    finally:
        col.close()
    (content / "b.md").rename(content / "b.keep")
    gone = sync(load_config(content), collection)
    assert len(gone.plan.orphan) == 1 and not gone.plan.suspend  # suspended already
    (content / "b.keep").rename(content / "b.md")
    result = sync(load_config(content), collection)
    assert "  back: 列表和元组的区别 (left suspended: you suspended it)" in result.lines()
    assert not result.plan.unsuspend
    assert all(n["suspended"] for n in snapshot(collection)["notes"] if "列表" in n["question"])


def test_a_question_back_unsuspends_only_what_the_sync_suspended(
    synced: tuple[Path, Path],
) -> None:
    # The person's own suspension was lost when the question came back (the twelfth trial).
    content, collection = synced
    col = open_col(collection)
    try:
        mine = col.find_cards('"note:cardsmith Q&A" 列表')
        col.sched.suspend_cards(mine)
    finally:
        col.close()
    kept = (content / "a.md").read_text("utf-8")
    (content / "a.md").write_text("## 基础\n", "utf-8")  # a.md's questions gone
    (content / "b.md").rename(content / "b.keep")  # and b.md's, the person's suspended one
    sync(replace(load_config(content), allow_mass_orphan=True), collection)
    assert all(n["suspended"] for n in snapshot(collection)["notes"])
    (content / "a.md").write_text(kept, "utf-8")
    (content / "b.keep").rename(content / "b.md")
    result = sync(load_config(content), collection)
    assert len(result.plan.revive) == 4
    assert "  back: 列表和元组的区别 (left suspended: you suspended it)" in result.lines()
    states = {n["question"]: n["suspended"] for n in snapshot(collection)["notes"]}
    assert states == {
        "什么是装饰器？": False,
        "什么是元类？": False,
        "GIL是什么？": False,
        "列表和元组的区别": True,
    }


def _reworded(note: Any) -> None:
    note["Answer"] += "!"
    assert note.col is not None
    note.col.update_note(note)


def test_the_state_read_crosses_from_its_process_whole(synced: tuple[Path, Path]) -> None:
    # The collection's process sends what it read pickled, its notes a field at a time.
    content, collection = synced
    _lived_in(collection, content)
    direct = ankifile.read_directly(collection)
    assert direct is not None
    again = pickle.loads(pickle.dumps(direct[0], pickle.HIGHEST_PROTOCOL))
    assert again == direct[0] and list(again.notes) == list(direct[0].notes)
    assert any(e.orphaned for e in again.notes.values())


@pytest.mark.parametrize(
    "change",
    [
        lambda col: _reworded(col.get_note(col.find_notes("")[0])),
        lambda col: col.decks.id("Another", create=True),
        lambda col: col.sched.suspend_cards([col.find_cards("")[0]]),
        lambda col: col.set_config("cardsmith.sync", {"notes": {}, "decks": []}),
    ],
    ids=["note saved", "deck added", "card suspended", "sync record"],
)
def test_a_collection_changed_after_it_was_read_is_told_apart(
    synced: tuple[Path, Path], change: Callable[[Collection], object]
) -> None:
    _content, collection = synced
    direct = ankifile.read_directly(collection)
    assert direct is not None
    col = open_col(collection)
    try:
        change(col)
        assert ankifile._fingerprint(col.db.first) != direct[1]
    finally:
        col.close()


def test_changes_anki_has_not_yet_written_into_the_file_are_left_to_anki(
    synced: tuple[Path, Path],
) -> None:
    # Anki running (or stopped short) keeps its last changes in the -wal file beside it.
    _content, collection = synced
    col = open_col(collection)
    try:
        col.decks.id("Another", create=True)
        assert Path(f"{collection}-wal").stat().st_size > 0
        assert ankifile.read_directly(collection) is None
    finally:
        col.close()


# --- the long test: a dozen rounds of mixed edits with studying in between -------------------


def _notes_text(sections: dict[str, list[tuple[str, str]]]) -> str:
    out = []
    for title, questions in sections.items():
        out.append(f"## {title}\n")
        for i, (q, a) in enumerate(questions, 1):
            out.append(f"#### {i}. {q}\n\n{a}\n" if a else f"#### {i}. {q}\n")
    return "\n".join(out)


def test_a_dozen_rounds_of_edits_keep_anki_in_step(tmp_path: Path) -> None:
    rng = random.Random(13)
    files: dict[str, dict[str, list[tuple[str, str]]]] = {
        f"f{f}.md": {
            f"节{f}{s}": [(f"问题{f}{s}{q}是什么？", f"答案{f}{s}{q}。") for q in range(4)]
            for s in range(3)
        }
        for f in range(2)
    }
    content = tmp_path / "content"
    content.mkdir()
    collection = new_collection(tmp_path / "anki" / "collection.anki2")
    counter = iter(range(1000))
    reviews: dict[int, int] = {}

    def questions() -> list[tuple[str, str, int]]:
        return [
            (f, s, i) for f, secs in files.items() for s, qs in secs.items() for i in range(len(qs))
        ]

    def edit() -> None:
        f, s, i = rng.choice(questions())
        q, a = files[f][s][i]
        kind = rng.choice(
            ["answer", "reword", "move", "delete", "add", "unanswer", "section", "root"]
        )
        n = next(counter)
        if kind == "answer":
            files[f][s][i] = (q, a + f"补充{n}。")
        elif kind == "reword":
            files[f][s][i] = (q.replace("是什么？", "指的是什么？"), a)
        elif kind == "move":
            del files[f][s][i]
            other = rng.choice(list(files[f]))
            files[f][other].append((q, a))
        elif kind == "delete":
            del files[f][s][i]
        elif kind == "add":
            files[f][s].insert(i, (f"新问题{n}是什么？", f"新答案{n}。"))
        elif kind == "unanswer":
            files[f][s][i] = (q, "" if a else f"答案回来了{n}。")
        elif kind == "section":
            files[f] = {(t + "改" if t == s else t): v for t, v in files[f].items()}
        else:
            (content / "cardsmith.toml").write_text(f'root_deck = "根{n}"\n', "utf-8")

    for _round in range(12):
        for name, sections in files.items():
            (content / name).write_text(_notes_text(sections), "utf-8")
        sync(load_config(content), collection)
        assert_in_step(collection, content)
        col = open_col(collection)
        now = dict(col.db.all("select id, reps from cards"))
        col.close()
        assert all(now.get(cid, -1) >= n for cid, n in reviews.items()), "a review was lost"
        study(collection)
        col = open_col(collection)
        reviews = dict(col.db.all("select id, reps from cards"))
        col.close()
        for _ in range(rng.randint(2, 4)):
            edit()
        if _round == 6:  # a file renamed
            files["g.md"] = files.pop("f1.md")
            (content / "f1.md").unlink()


def test_an_orphan_with_a_likely_successor_gets_the_aliases_line(tmp_path: Path) -> None:
    content = tmp_path / "content"
    content.mkdir()
    notes = content / "n.md"
    notes.write_text("## s\n#### 1. 梯度消失的原因是什么？\n\n链式法则。\n", "utf-8")
    collection = new_collection(tmp_path / "anki" / "collection.anki2")
    sync(load_config(content), collection)
    notes.write_text("## t\n#### 1. 梯度消失和梯度爆炸怎么处理？\n\n残差。\n", "utf-8")
    result = CliRunner().invoke(
        cli, ["sync", "--content", str(content), "--collection", str(collection)]
    )
    (old,) = [n for n in snapshot(collection)["notes"] if n["orphan"]]
    assert f'    "梯度消失和梯度爆炸怎么处理？" = "{old["id"]}"' in result.output.splitlines()
    # Never the advice to delete it (found by the fifteenth trial).
    assert "1 of them with a likely successor" in result.output
    assert "--delete-orphans deletes them" not in result.output
    # With the line added, the old note (and its reviews) carries the new question.
    (content / "cardsmith.toml").write_text(
        f'[aliases]\n"梯度消失和梯度爆炸怎么处理？" = "{old["id"]}"\n', "utf-8"
    )
    sync(load_config(content), collection)
    by_id = {n["id"]: n for n in snapshot(collection)["notes"]}
    assert by_id[old["id"]]["question"] == "梯度消失和梯度爆炸怎么处理？"
    assert not by_id[old["id"]]["orphan"] and not by_id[old["id"]]["suspended"]


def test_a_note_deleted_in_anki_is_added_back_with_the_reason(tmp_path: Path) -> None:
    content, collection = synced_case(tmp_path, "deleted_in_anki")
    _delete_in_anki(collection, content)
    (content / "n.md").write_text(
        (content / "n.md").read_text("utf-8") + "\n#### 新问题？\n\n新答案。\n", "utf-8"
    )
    args = ["sync", "--content", str(content), "--collection", str(collection)]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    added = [line for line in result.output.splitlines() if line.startswith("  add: ")]
    assert added == [
        "  add: 在 Anki 里删掉的问题 → Cardsmith::n::s (deleted in Anki since the last sync: "
        "its question is still here)",
        "  add: 新问题？ → Cardsmith::n::s",
    ]


def test_notes_with_errors_are_not_synced(tmp_path: Path) -> None:
    content = tmp_path / "content"
    shutil.copytree(FIXTURES / "check" / "unclosed_fence", content)
    collection = new_collection(tmp_path / "anki" / "collection.anki2")
    before = mods(collection)
    result = CliRunner().invoke(
        cli, ["sync", "--content", str(content), "--collection", str(collection)]
    )
    assert result.exit_code == 1
    assert "sync failed" in result.output and "nothing was written" in result.output
    assert mods(collection) == before
    assert not (content / "cardsmith.lock.json").exists()


def test_sync_needs_exactly_one_target(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["sync", "--content", str(tmp_path)])
    assert result.exit_code == 2
    assert "give --collection PATH or --ankiconnect [URL] (one of them)" in result.output
    both = ["--collection", str(tmp_path / "c.anki2"), "--ankiconnect"]
    result = CliRunner().invoke(cli, ["sync", "--content", str(tmp_path), *both])
    assert result.exit_code == 2
    assert "give --collection PATH or --ankiconnect [URL] (not both)" in result.output


def _restore_lock_after(monkeypatch: pytest.MonkeyPatch, name: str, content: Path) -> bytes:
    """Make ``<module>.<name>`` (``sync.gather``, say) put an older lock in place once it
    has run (as a ``git checkout`` of the lock would while a sync runs); the older lock's
    bytes."""
    lock = content / "cardsmith.lock.json"
    older = lock.read_bytes()
    module_name, name = name.split(".")
    module = {"sync": sync_module, "ankifile": ankifile}[module_name]
    real = getattr(module, name)

    def then_restored(*args: Any, **kwargs: Any) -> Any:
        found = real(*args, **kwargs)
        (content / "restored.tmp").write_bytes(older)
        (content / "restored.tmp").replace(lock)  # another file under the lock's name
        return found

    monkeypatch.setattr(module, name, then_restored)
    return older


@pytest.mark.parametrize(
    ("restored_after", "message", "anki_updated"),
    [
        ("sync.gather", "the lock file changed while this sync ran", False),
        ("ankifile.apply", "Anki was updated, the lock was not written", True),
    ],
    ids=["while the notes are read", "while Anki is updated"],
)
def test_a_lock_restored_while_a_sync_runs_is_never_written_over(
    synced: tuple[Path, Path],
    monkeypatch: pytest.MonkeyPatch,
    restored_after: str,
    message: str,
    anki_updated: bool,
) -> None:
    # Before Anki is touched the sync stops; once Anki was updated, it leaves the lock as
    # restored, and the next sync brings Anki in step.
    content, collection = synced
    put_notes(CASES / "moves" / "after", content)
    older = _restore_lock_after(monkeypatch, restored_after, content)
    before = mods(collection)
    with pytest.raises(EnvironmentProblem, match=message):
        sync(load_config(content), collection)
    assert (mods(collection) != before) == anki_updated
    assert (content / "cardsmith.lock.json").read_bytes() == older
    monkeypatch.undo()
    sync(load_config(content), collection)
    assert_in_step(collection, content)


class _Unsendable(Exception):
    """An error that cannot be pickled (as some of Anki's own may not be)."""

    def __init__(self, code: int, detail: str) -> None:
        super().__init__(f"{code}: {detail}")
        self.code = code

    def __reduce__(self) -> Any:
        raise TypeError("not picklable")


@pytest.mark.parametrize(
    ("raised", "expected"),
    [
        (SyncError("the disk is full"), "the disk is full"),
        (
            _Unsendable(7, "deep inside Anki"),
            r"writing the plan \(_Unsendable: 7: deep inside Anki\)",
        ),
    ],
)
def test_what_anki_raises_in_the_collections_process_is_the_syncs_error(
    synced: tuple[Path, Path],
    monkeypatch: pytest.MonkeyPatch,
    raised: Exception,
    expected: str,
) -> None:
    # The collection is opened, read and written in a process of its own (forked with the
    # sync, so what is patched here is patched there); its error ends the sync here.
    content, collection = synced
    put_notes(CASES / "moves" / "after", content)
    lock = (content / "cardsmith.lock.json").read_bytes()

    def failing(*_args: object) -> None:
        raise raised

    monkeypatch.setattr(ankifile, "apply", failing)
    with pytest.raises(SyncError, match=expected) as stopped:
        sync(load_config(content), collection)
    assert str(stopped.value).endswith(
        "the lock was not written: remove the cause (a full disk?) and sync again to finish"
    )
    assert (content / "cardsmith.lock.json").read_bytes() == lock  # no id recorded
    open_col(collection).close()  # the collection is closed again


def test_a_sync_stopped_by_its_notes_leaves_the_collection_closed_and_unchanged(
    synced: tuple[Path, Path],
) -> None:
    content, collection = synced
    (content / "broken.md").write_text("## s\n\n1. q？\n\n   [x](../../../x.md)\n", "utf-8")
    before = mods(collection)
    with pytest.raises(ContentError):
        sync(load_config(content), collection)
    assert mods(collection) == before  # mods() opens it: it was closed


def test_a_sync_stopped_by_its_notes_ends_even_when_the_collection_outgrows_the_pipe(
    tmp_path: Path,
) -> None:
    # The collection's process sends what it read while it opens the collection; a state
    # bigger than the pipe holds is still being sent when the notes stop the sync.
    content = numbered_notes(tmp_path / "content", files=4, questions=1000)
    collection = new_collection(tmp_path / "anki" / "collection.anki2")
    sync(load_config(content), collection)
    state = ankifile.read_directly(collection)
    assert state is not None and len(pickle.dumps(state[0])) > _pipe_holds()
    (content / "broken.md").write_text("## s\n\n1. q？\n\n   [x](../../../x.md)\n", "utf-8")
    before = mods(collection)
    args = ["sync", "--content", str(content), "--collection", str(collection)]
    # In a process of its own, timed: a hang fails the test instead of stopping the run.
    stopped = subprocess.run(
        [sys.executable, "-m", "pipeline", *args], capture_output=True, text=True, timeout=120
    )
    assert stopped.returncode == 1, stopped.stderr
    assert "broken.md:5: error:" in stopped.stderr
    assert mods(collection) == before


def test_a_lock_that_cannot_be_written_says_anki_was_updated_and_the_next_sync_finishes(
    synced: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    content, collection = synced
    put_notes(CASES / "moves" / "after", content)

    def full(_path: Path, _data: bytes) -> bool:
        raise OSError(28, "No space left on device")

    with monkeypatch.context() as patched:
        patched.setattr(sync_module, "write_lock_bytes", full)
        with pytest.raises(EnvironmentProblem) as stopped:
            sync(load_config(content), collection)
    assert str(stopped.value).startswith(
        "No space left on device; Anki was updated, the lock was not written: sync again once "
    )
    again = sync(load_config(content), collection)  # the same ids: nothing left to write
    assert again.plan.empty
    assert_in_step(collection, content)


def _stopped_short(collection: Path, into: Path) -> Path:
    """A copy of ``collection`` as a write stopped short leaves it (a full disk): changes
    in its ``-wal`` file, the file itself not yet whole (its header not written)."""
    import sqlite3

    db = sqlite3.connect(collection, isolation_level=None)
    try:
        db.execute("pragma journal_mode = wal")
        db.execute("pragma wal_autocheckpoint = 0")  # the change stays in the -wal file
        db.execute("create table probe (x)")
        db.execute("insert into probe values (randomblob(50000))")
        shutil.copy(collection, into)
        shutil.copy(f"{collection}-wal", f"{into}-wal")
    finally:
        db.close()
    data = bytearray(into.read_bytes())
    data[:100] = bytes(100)
    into.write_bytes(bytes(data))
    return into


def test_a_collection_with_changes_still_in_its_wal_file_is_synced_not_refused(
    tmp_path: Path,
) -> None:
    content = tmp_path / "content"
    put_notes(CASES / "moves" / "before", content)
    made = new_collection(tmp_path / "made" / "collection.anki2")
    collection = _stopped_short(made, tmp_path / "collection.anki2")
    args = ["sync", "--content", str(content), "--collection", str(collection)]
    dry = CliRunner().invoke(cli, [*args, "--dry-run"])
    assert dry.exit_code == 0, dry.output  # was: "not an Anki collection: not a database"
    synced = CliRunner().invoke(cli, args)
    assert synced.exit_code == 0, synced.output
    assert_in_step(collection, content)


def _pipe_holds() -> int:
    """Bytes a pipe between two processes takes before its writer waits: the buffers of
    both ends of a socket pair (what ``multiprocessing.Pipe`` is made of)."""
    ends = socket.socketpair()
    try:
        return sum(
            end.getsockopt(socket.SOL_SOCKET, option)
            for end, option in zip(ends, (socket.SO_SNDBUF, socket.SO_RCVBUF), strict=True)
        )
    finally:
        for end in ends:
            end.close()


def _other_sqlite(path: Path) -> None:
    import sqlite3

    db = sqlite3.connect(path)
    db.execute("create table t (x)")
    db.execute("insert into t values (42)")
    db.commit()
    db.close()


@pytest.mark.parametrize(
    ("make", "expected"),
    [
        (lambda p: p.write_bytes(b""), "an empty file, not an Anki collection"),
        (lambda p: p.write_text("hello\n"), "not an Anki collection: not a database"),
        (_other_sqlite, "not an Anki collection: a database without Anki's tables"),
    ],
    ids=["empty", "text", "another program's database"],
)
@pytest.mark.parametrize("dry_run", [True, False], ids=["dry run", "sync"])
def test_a_file_that_is_no_collection_is_refused_and_left_as_it_was(
    tmp_path: Path, make: Callable[[Path], object], expected: str, dry_run: bool
) -> None:
    # Anki's library would make a collection in it (found by the third trial).
    content = tmp_path / "content"
    put_notes(CASES / "moves" / "before", content)
    target = tmp_path / "anki" / "collection.anki2"
    target.parent.mkdir()
    make(target)
    before = target.read_bytes()
    with pytest.raises(SyncError, match=expected):
        sync(load_config(content), target, dry_run=dry_run)
    assert target.read_bytes() == before
    assert sorted(p.name for p in target.parent.iterdir()) == ["collection.anki2"]


def test_a_sync_whose_lock_knows_none_of_the_collection_says_what_it_orphans(
    tmp_path: Path,
) -> None:
    # A lock not committed: questions are matched by their text alone, and a reworded one
    # lost its reviews to an orphan without a word (the twenty-fourth trial).
    content, collection = synced_case(tmp_path, "moves")
    study(collection)
    lock = content / "cardsmith.lock.json"
    kept = lock.read_bytes()
    lock.unlink()
    note = content / "a.md"
    note.write_text(note.read_text("utf-8").replace("什么是装饰器？", "装饰器是什么？"), "utf-8")
    deleting = sync(load_config(content), collection, dry_run=True, delete_orphans=True)
    assert not deleting.plan.delete and len(deleting.plan.unknown) == 1  # its reviews stay
    result = sync(load_config(content), collection)
    (warned,) = [d for d in result.diagnostics if d.code == "lock-unknown"]
    assert warned.message.startswith(
        "this sync orphans 1 note(s) that cardsmith.lock.json does not know, with 2 review(s)"
    )
    assert len(result.plan.orphan) == 1
    lock.write_bytes(kept)  # put back, as the warning says: the reviews follow the question
    back = sync(load_config(content), collection)
    assert len(back.plan.revive) == 1  # and the note added meanwhile, never studied, goes
    assert [(o.question, o.reviews) for o in back.plan.orphan] == [("装饰器是什么？", 0)]
    assert not [d for d in back.diagnostics if d.code == "lock-unknown"]


def test_a_second_notes_folder_never_deletes_the_firsts_notes(tmp_path: Path) -> None:
    # Two notes folders, one collection: the second's --delete-orphans deleted the first's
    # studied notes, too few for the mass-orphan guard (the twenty-fifth trial).
    first, collection = synced_case(tmp_path, "moves")
    study(collection)
    reviews = {n["id"]: n["reviews"] for n in snapshot(collection)["notes"]}
    second = tmp_path / "second"
    second.mkdir()
    (second / "db.md").write_text("## 库\n\n#### 1. 什么是索引？\n\n加速查找的结构。\n", "utf-8")
    result = sync(load_config(second), collection, delete_orphans=True)
    assert not result.plan.delete and len(result.plan.unknown) == 4
    assert any(d.code == "lock-unknown" for d in result.diagnostics)
    assert any("--delete-orphans leaves them" in line for line in result.plan.lines())
    again = sync(load_config(second), collection, dry_run=True).plan.lines()
    assert again[0].startswith("0 to add, 0 to update, 0 to move, 0 to orphan")
    assert any(
        "4 orphan(s) this notes folder's lock does not know, 4 of them orphaned before" in line
        for line in again
    )
    col = open_col(collection)
    assert col.db is not None and col.db.scalar("select count() from notes") == 5
    col.close()
    back = sync(load_config(first), collection, delete_orphans=True)  # the first folder
    assert len(back.plan.revive) == 4 and not back.plan.unknown
    # The second's note, never studied: nothing to lose (it comes back with its folder).
    assert [e.question for e in back.plan.delete] == ["什么是索引？"]
    after = {n["id"]: n["reviews"] for n in snapshot(collection)["notes"]}
    assert {k: after[k] for k in reviews} == reviews and all(reviews.values())


def test_a_profile_folder_given_as_the_collection_names_its_file(tmp_path: Path) -> None:
    # click said only "is a directory" (the twenty-fourth trial).
    profile = tmp_path / "Anki2" / "用户 1"
    collection = new_collection(profile / "collection.anki2")
    for given, told in ((profile, f"give {collection}"), (tmp_path, "a profile's collection")):
        args = ["sync", "--content", str(CASES / "moves" / "before"), "--collection", str(given)]
        refused = CliRunner().invoke(cli, args)
        assert refused.exit_code == 2
        assert f"{given} is a folder, not a collection file" in refused.output
        assert told in refused.output


# --- the memo: a re-sync carries the files it settled over, and ends as one without it ------


def _memo_edit(files: dict[str, dict[str, list[tuple[str, str]]]], rng: random.Random) -> None:
    """One edit between two syncs: the kinds that move ids, decks and answers."""
    path = rng.choice(sorted(files))
    sections = files[path]
    title = rng.choice(sorted(sections))
    rows = sections[title]
    at = rng.randrange(len(rows)) if rows else 0
    kind = rng.randrange(8)
    if kind == 0 and rows:  # reworded
        q, a = rows[at]
        rows[at] = (q[:-1] + rng.choice("甲乙丙丁") + "？", a)
    elif kind == 1 and rows:  # answer edited, or removed
        q, a = rows[at]
        rows[at] = (q, rng.choice(("", a + rng.choice("甲乙丙丁"))))
    elif kind == 2 and rows:
        del rows[at]
    elif kind == 3:  # a new question, answered or not yet
        rows.insert(at, (f"新问题{rng.randrange(10**6)}是什么？", rng.choice(("新的答案。", ""))))
    elif kind == 4 and rows:  # moved to another file
        other = files[rng.choice(sorted(files))]
        other.setdefault("搬来", []).append(rows.pop(at))
    elif kind == 5:  # a section renamed
        sections[title + "新"] = sections.pop(title)
    elif kind == 6 and len(rows) > 1:  # two questions swapped
        j = rng.randrange(len(rows))
        rows[at], rows[j] = rows[j], rows[at]
    elif kind == 7 and rows:  # a question copied in its file
        rows.insert(rng.randrange(len(rows) + 1), rows[at])


def _spy(
    monkeypatch: pytest.MonkeyPatch, where: Any, name: str, measure: Callable[[Any], Any]
) -> list[Any]:
    """``where.name`` replaced by itself that also keeps ``measure`` of each result."""
    seen: list[Any] = []
    real = getattr(where, name)

    def spied(*args: Any, **kwargs: Any) -> Any:
        found = real(*args, **kwargs)
        seen.append(measure(found))
        return found

    monkeypatch.setattr(where, name, spied)
    return seen


def _lock_without_times(content: Path) -> Any:
    data = json.loads((content / "cardsmith.lock.json").read_text("utf-8"))
    for key in ("notes", "orphans"):
        for entry in data.get(key, []):
            entry.pop("mod", None)
    data.pop("note_type", None)
    return data


def _answer_edited_in_anki(collection: Path, question: str) -> None:
    col = open_col(collection)
    try:
        nid = col.find_notes(f'"Question:*{question}*"')[0]
        note = col.get_note(nid)
        note["Answer"] += " (mine)"
        col.update_note(note)
    finally:
        col.close()


@pytest.mark.parametrize(("seed", "workers"), [(0, 1), (1, 1), (2, 1), (0, 2), (1, 2), (2, 2)])
@pytest.mark.usefixtures("workers_at_any_size")
def test_a_sync_with_the_memo_leaves_anki_and_the_lock_as_one_without_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, seed: int, workers: int
) -> None:
    # Two copies of the same notes and collection, synced after every edit: one with the
    # memo the last sync left (the files it settled carried over unread), one without it.
    # Both must print the same, write the same lock and leave the same collection. With
    # workers, an edited file's unchanged cards are carried over without their cards too.
    rng = random.Random(seed)
    files: dict[str, dict[str, list[tuple[str, str]]]] = {
        f"f{f}.md": {
            f"节{f}{s}": [(f"问题{f}{s}{q}是什么？", f"答案{f}{s}{q}。") for q in range(3)]
            for s in range(2)
        }
        for f in range(4)
    }
    carried = _spy(monkeypatch, sync_module, "quick_notes", lambda q: len(q.carried) if q else -1)
    reused = _spy(monkeypatch, sync_module, "unchanged_notes", len)
    spliced = _spy(monkeypatch, syncmemo_module, "respliced", lambda r: len(r.held) if r else -1)
    # The next lock takes rows from the lock file's bytes (identity.lock_bytes).
    earlier = _spy(monkeypatch, identity_module, "_earlier_rows", lambda rows: rows is not None)
    roots = [tmp_path / "with", tmp_path / "without"]
    for root in roots:
        new_collection(root / "anki" / "collection.anki2")
        (root / "content").mkdir()
    for step in range(10):
        seen = []
        for root in roots:
            content, collection = root / "content", root / "anki" / "collection.anki2"
            for path, sections in files.items():
                text = _notes_text(sections)
                if not (content / path).exists() or (content / path).read_text("utf-8") != text:
                    (content / path).write_text(text, "utf-8")
            if step == 5:  # a carried note edited in Anki: a conflict, either way
                _answer_edited_in_anki(collection, files["f3.md"][sorted(files["f3.md"])[0]][0][0])
            config = load_config(content, out=root / "build", workers=workers)
            if root.name == "without":
                syncmemo_module.write_memo(sync_module.settings(config), None)
            result = sync(config, collection)
            seen.append(
                (
                    result.lines(),
                    result.plan.done_line(),
                    result.diagnostics,
                    _lock_without_times(content),
                    [
                        {k: v for k, v in n.items() if k != "reviews"}
                        for n in snapshot(collection)["notes"]
                    ],
                    snapshot(collection)["decks"],
                )
            )
        assert seen[0] == seen[1], f"step {step}"
        _memo_edit(files, rng)
        if step % 3 == 2:
            _memo_edit(files, rng)
    assert any(n > 0 for n in carried), carried
    assert any(earlier), earlier
    if workers == 1:
        assert any(n > 0 for n in reused), reused  # an edited file's other notes, not made again
    else:  # an edited file's other cards, held without their cards
        assert any(n > 0 for n in spliced) and -1 not in spliced, spliced


def test_a_lock_restored_while_the_memo_is_used_falls_back_to_every_note(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The memo holds for the lock's bytes as read; restored between that read and the
    # matching, the lock no longer holds the carried ids: the sync reads every file.
    content = tmp_path / "content"
    put_notes(CASES / "moves" / "before", content)
    collection = new_collection(tmp_path / "anki" / "collection.anki2")
    config = load_config(content, out=tmp_path / "build")
    sync(config, collection)
    sync(config, collection)  # the memo now settles every file
    lock = content / "cardsmith.lock.json"
    empty = lock.read_text("utf-8").split('"notes"')[0] + '"notes": []}\n'
    real = identity_module.identify

    def restored_first(*args: Any, **kwargs: Any) -> Any:
        lock.write_text(empty, "utf-8")  # a lock of no notes, restored meanwhile
        return real(*args, **kwargs)

    monkeypatch.setattr(syncmemo_module, "identify", restored_first)
    (content / "extra.md").write_text("## 节\n\n### 新问题是什么？\n\n新的答案。\n", "utf-8")
    sync(config, collection)
    assert_in_step(collection, content)


@pytest.mark.usefixtures("workers_at_any_size")
def test_a_question_copied_in_its_file_has_the_file_matched_with_all_its_cards(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A held card must keep its own entry; a copy of its question in the same file would
    # compete for it. The worker kept the whole records in the cache: the sync matches
    # that file with all its cards, the other edited file stays spliced.
    content, collection = tmp_path / "content", new_collection(tmp_path / "anki" / "c.anki2")
    content.mkdir()
    rows = {
        name: [(f"{name}问题{q}是什么？", f"{name}答案{q}。") for q in range(4)] for name in "ab"
    }
    for name, questions in rows.items():
        (content / f"{name}.md").write_text(_notes_text({f"{name}节": questions}), "utf-8")
    config = load_config(content, out=tmp_path / "build", workers=2)
    sync(config, collection)
    rows["a"] += [("a问题2是什么？", "抄来的答案。")]
    rows["b"][0] = ("b问题0到底是什么？", rows["b"][0][1])
    for name, questions in rows.items():
        (content / f"{name}.md").write_text(_notes_text({f"{name}节": questions}), "utf-8")
    seen = _spy(
        monkeypatch,
        sync_module,
        "quick_notes",
        lambda q: (sorted(f.path for f in q.files), sorted(q.spliced)) if q else None,
    )
    result = sync(config, collection)
    assert seen == [(["a.md"], ["b.md"])]
    assert [w.question for w in result.plan.add] == ["a问题2是什么？"]
    assert [w.question for w, _ in result.plan.update] == ["b问题0到底是什么？"]


@pytest.mark.parametrize("workers", [1, 2])
@pytest.mark.usefixtures("workers_at_any_size")
def test_an_edited_files_other_notes_come_from_the_memo_and_an_anki_edit_is_still_seen(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, workers: int
) -> None:
    # One question of a file reworded: the file is compiled again, and its other notes are
    # wanted as the memo keeps them (not made again; with workers, their cards stay in the
    # worker). One of those, edited in Anki since the last sync, is a conflict all the
    # same, left as the person edited it.
    content, collection = tmp_path / "content", new_collection(tmp_path / "anki" / "c.anki2")
    content.mkdir()
    rows = [(f"问题{q}是什么？", f"答案{q}。") for q in range(4)]
    (content / "a.md").write_text(_notes_text({"节": rows}), "utf-8")
    (content / "b.md").write_text(_notes_text({"另": [("别的问题？", "别的答案。")]}), "utf-8")
    config = load_config(content, out=tmp_path / "build", workers=workers)
    sync(config, collection)
    rows[0] = ("问题0到底是什么？", rows[0][1])
    (content / "a.md").write_text(_notes_text({"节": rows}), "utf-8")
    (content / "b.md").write_text(_notes_text({"另": [("别的问题改了？", "别的答案。")]}), "utf-8")
    _answer_edited_in_anki(collection, "问题2是什么")
    reused = _spy(monkeypatch, sync_module, "unchanged_notes", set)
    held = _spy(monkeypatch, syncmemo_module, "respliced", lambda r: len(r.held) if r else -1)
    result = sync(config, collection)
    # Questions 1, 2 and 3: as the memo keeps them.
    assert (len(reused[0]), sum(held)) == ((3, 0) if workers == 1 else (0, 3))
    assert [w.question for w, _ in result.plan.conflict] == ["问题2是什么？"]
    assert sorted(w.question for w, _ in result.plan.update) == [
        "别的问题改了？",
        "问题0到底是什么？",
    ]
    col = open_col(collection)
    try:
        answers = sorted(col.get_note(n)["Answer"] for n in col.find_notes(""))
    finally:
        col.close()
    mine = next(a for a in answers if "答案2" in a)
    assert mine.endswith(" (mine)")  # left as edited: a conflict, not overwritten


def test_a_note_edited_in_anki_costs_only_its_own_file_the_memo(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Nothing changed in the notes; one carried note edited in Anki. The plan finds it not
    # as the memo says, and the sync plans again with the memo but for that note's file:
    # the conflict is listed, the other files stay carried.
    content, collection = tmp_path / "content", new_collection(tmp_path / "anki" / "c.anki2")
    content.mkdir()
    for name in ("a", "b", "c"):
        rows = [(f"{name}问题{q}是什么？", f"{name}答案{q}。") for q in range(3)]
        (content / f"{name}.md").write_text(_notes_text({f"{name}节": rows}), "utf-8")
    config = load_config(content, out=tmp_path / "build")
    sync(config, collection)
    _answer_edited_in_anki(collection, "b问题1是什么")
    carried = _spy(monkeypatch, sync_module, "quick_notes", lambda q: sorted(q.carried))
    result = sync(config, collection)
    assert carried == [["a.md", "b.md", "c.md"], ["a.md", "c.md"]]
    assert [w.question for w, _ in result.plan.conflict] == ["b问题1是什么？"]
    assert not result.plan.update and not result.plan.add


def test_a_file_with_a_question_not_answered_yet_is_carried_over(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A question not answered yet makes no note: its file is settled all the same, and the
    # next sync carries it over unread (it was compiled every sync). One whose answer was
    # removed is not: an orphan keeps the note it had.
    content, collection = tmp_path / "content", new_collection(tmp_path / "anki" / "c.anki2")
    content.mkdir()
    (content / "a.md").write_text(
        _notes_text({"节": [("问甲？", "答甲。"), ("问乙？", "")]}), "utf-8"
    )
    (content / "b.md").write_text(
        _notes_text({"另": [("问丙？", "答丙。"), ("问丁？", "答丁。")]}), "utf-8"
    )
    config = load_config(content, out=tmp_path / "build")
    sync(config, collection)
    (content / "b.md").write_text(
        _notes_text({"另": [("问丙？", "答丙。"), ("问丁？", "")]}), "utf-8"
    )
    sync(config, collection)  # 问丁 orphaned: b.md is not settled
    carried = _spy(monkeypatch, sync_module, "quick_notes", lambda q: sorted(q.carried))
    again = sync(config, collection)
    assert again.plan.empty
    assert carried == [["a.md"]]


def test_a_control_character_in_an_answer_is_no_conflict_on_the_next_sync(
    tmp_path: Path,
) -> None:
    # Anki removes it from the field it stores; the sync writes the field as Anki keeps it,
    # so the next sync does not read the note as edited in Anki (the twenty-ninth trial).
    content, collection = tmp_path / "content", new_collection(tmp_path / "anki" / "c.anki2")
    content.mkdir()
    (content / "a.md").write_text("## 节\n\n#### 1. 问甲？\n\n控制\a字符\x7f在这里。\n", "utf-8")
    config = load_config(content, out=tmp_path / "build")
    assert [w.question for w in sync(config, collection).plan.add] == ["问甲？"]
    again = sync(config, collection)
    assert again.plan.empty and not again.plan.conflict
    (notes,) = snapshot(collection)["notes"]
    assert "控制字符在这里。" in notes["answer"]


def test_the_collector_stays_paused_until_the_memo_is_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Turned on earlier, it first walked every object the sync made (0.014 s at 10k).
    content, collection = tmp_path / "content", new_collection(tmp_path / "anki" / "c.anki2")
    content.mkdir()
    (content / "a.md").write_text(_notes_text({"节": [("问甲？", "答甲。")]}), "utf-8")
    enabled = _spy(monkeypatch, sync_module, "write_memo", lambda _: gc.isenabled())
    assert gc.isenabled()
    sync(load_config(content, out=tmp_path / "build"), collection)
    assert enabled == [False] and gc.isenabled()


def test_a_sync_with_nothing_to_do_leaves_the_memo_as_it_is(tmp_path: Path) -> None:
    # A file with an unanswered question is never settled (compiled every sync), so the
    # memo is made again every sync; with the same bytes, the file is not written again.
    content, collection = tmp_path / "content", new_collection(tmp_path / "anki" / "c.anki2")
    content.mkdir()
    (content / "a.md").write_text(_notes_text({"节": [("问甲？", "答甲。")]}), "utf-8")
    (content / "b.md").write_text(
        _notes_text({"另": [("问乙？", "答乙。"), ("问丙？", "")]}), "utf-8"
    )
    config = load_config(content, out=tmp_path / "build")
    sync(config, collection)
    memo = tmp_path / ".cardsmith-cache" / "sync.memo"
    written = memo.stat()
    time.sleep(0.01)
    again = sync(config, collection)
    assert again.plan.empty
    assert (memo.stat().st_mtime_ns, memo.stat().st_ino) == (written.st_mtime_ns, written.st_ino)


def test_a_collection_changed_between_its_read_and_its_opening_is_planned_anew(
    synced: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    # The state read with SQLite is sent before Anki's library opens the collection; a
    # change in between (here: an answer edited as the library opens it) is found by the
    # fingerprint, nothing is written, and the plan is made again from what is there.
    content, collection = synced
    real = ankifile.open_collection

    def edited_as_it_opens(path: Path, shown: Path | None = None) -> Any:
        col = real(path, shown)
        note = col.get_note(col.find_notes("")[0])
        note["Answer"] = "在读和打开之间改的答案。"
        col.update_note(note)
        return col

    monkeypatch.setattr(ankifile, "open_collection", edited_as_it_opens)
    result = sync(load_config(content), collection)
    assert [e.question for _, e in result.plan.conflict] != []
    col = open_col(collection)
    try:
        answers = [col.get_note(n)["Answer"] for n in col.find_notes("")]
    finally:
        col.close()
    assert "在读和打开之间改的答案。" in answers  # left as edited: a conflict, not overwritten


def test_a_collection_that_cannot_be_opened_after_its_read_stops_even_an_empty_plan(
    synced: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    # The state read with SQLite went first; the opening fails (Anki took the collection
    # meanwhile): the sync says so, even with nothing to write, and writes nothing.
    content, collection = synced

    def taken(path: Path, shown: Path | None = None) -> Any:
        raise SyncError(f"{path} is open in Anki (or being synced)")

    monkeypatch.setattr(ankifile, "open_collection", taken)
    before = mods(collection)
    lock = (content / "cardsmith.lock.json").read_bytes()
    with pytest.raises(SyncError, match="is open in Anki"):
        sync(load_config(content), collection)
    assert mods(collection) == before
    assert (content / "cardsmith.lock.json").read_bytes() == lock


# --- an edited file's unchanged cards, held (syncmemo.respliced) -----------------------------

#: A settled file's memo: four answered questions in two sections, lines 3, 6, 9 and 12.
_MEMO = syncmemo_module.FileMemo(
    key="k",
    targets=(),
    title="f",
    diagnostics=(),
    guids=("g0", "g1", "g2", "g3"),
    questions=("问一？", "问二？", "问三？", "问四？"),
    lines=(3, 6, 9, 12),
    digests=("d0", "d1", "d2", "d3"),
    decks=("根::f::甲", "根::f::甲", "根::f::乙", "根::f::乙"),
    tags=(("t",),) * 4,
    media=((),) * 4,
)


def _taken_from_memo(memo: syncmemo_module.FileMemo) -> SplicedFile:
    """The file compiled again: its first two questions taken where they were, the third
    compiled anew (not here), the fourth taken one line down (a line added above it)."""
    kept = [
        TakenCard(memo.questions[j], memo.lines[j] + moved, memo.decks[j], f"n{j}", f"a{j}")
        for j, moved in ((0, 0), (1, 0), (3, 1))
    ]
    taken = (Taken(0, 0, 2, 0), Taken(3, 3, 4, 1))
    return SplicedFile("f.md", (), taken, tuple(kept), (), (), "f", (), "")


def test_a_spliced_files_taken_cards_are_held_with_the_memos_rows() -> None:
    again = syncmemo_module.respliced(_taken_from_memo(_MEMO), _MEMO)
    assert again is not None
    assert [(h.id, h.question, h.source.line, h.deck.path) for h in again.held] == [
        ("g0", "问一？", 3, "根::f::甲"),
        ("g1", "问二？", 6, "根::f::甲"),
        ("g3", "问四？", 13, "根::f::乙"),
    ]
    assert [(h.note_digest, h.answer_digest) for h in again.held] == [
        ("n0", "a0"),
        ("n1", "a1"),
        ("n3", "a3"),
    ]
    assert [row.guid for row in again.rows] == ["g0", "g1", "g3"]
    assert [row.digest for row in again.rows] == ["d0", "d1", "d3"]


@pytest.mark.parametrize(
    "change",
    [
        {"questions": ("问一？", "问二？", "问三？", "问四（改）？")},
        {"decks": ("根::f::甲", "根::f::乙", "根::f::乙", "根::f::乙")},
        {"lines": (3, 6, 9, 13)},  # the memo says it did not move
        {"digests": ("d0", "", "d2", "d3")},  # a card that made no note
        {"guids": ("g0", "g1", "g2"), "questions": ("问一？", "问二？", "问三？")},
    ],
    ids=["question", "deck", "line", "no note", "row missing"],
)
def test_a_taken_card_that_is_not_its_memo_row_holds_nothing(change: dict[str, Any]) -> None:
    # Never, unless the memo and the records spliced from part ways: the sync then reads
    # every card of the file.
    assert syncmemo_module.respliced(_taken_from_memo(_MEMO), replace(_MEMO, **change)) is None


#: A carried note as the memo keeps it and as the collection holds it, in step: then one
#: change to the collection at a time, and whether the note is still in step after it.
_CARRIED = syncplan.Carried("g1", "h1", "R::f::s", ("file::f", "section::s"), ("a.png",))
_HELD = syncplan.Existing(
    1, "g1", "h1", "问？", ("file::f", "section::s"), (11,), ("R::f::s",), (False,), 3, (False,)
)
_IN_ANKI: list[tuple[str, dict[str, Any], bool]] = [
    ("as left", {}, True),
    ("tags in Anki's order", {"tags": ("section::s", "file::f")}, True),
    ("a tag of the person's own", {"tags": ("file::f", "mine", "section::s")}, True),
    ("the deck's name in other case", {"decks": ("r::F::s",)}, True),
    ("fields edited", {"fields_hash": "h2"}, False),
    ("one of cardsmith's tags removed", {"tags": ("file::f",)}, False),
    ("tagged an orphan", {"tags": ("file::f", "section::s", ORPHAN_TAG)}, False),
    ("its card moved", {"decks": ("Elsewhere",)}, False),
    ("a second card elsewhere", {"cards": (11, 12), "decks": ("R::f::s", "X")}, False),
]


@pytest.mark.parametrize(
    ("change", "in_step"), [(c, s) for _, c, s in _IN_ANKI], ids=[n for n, _, _ in _IN_ANKI]
)
def test_carried_notes_are_checked_a_column_at_a_time_as_one_at_a_time(
    change: dict[str, Any], in_step: bool
) -> None:
    # 10,000 carried notes one by one took 15 ms of a re-sync: the plan compares them a
    # column at a time, and only a column that differs note by note. Among other notes in
    # step, the one changed decides, as it does alone.
    others = [
        (
            syncplan.Carried(f"o{k}", f"h{k}", "R::f::t", ("file::f",), ()),
            replace(
                _HELD,
                nid=100 + k,
                guid=f"o{k}",
                fields_hash=f"h{k}",
                tags=("file::f",),
                cards=(200 + k,),
                decks=("R::f::t",),
            ),
        )
        for k in range(3)
    ]
    carried = (_CARRIED, *(c for c, _ in others))
    notes = {"g1": replace(_HELD, **change), **{e.guid: e for _, e in others}}
    state = _state(notes, frozenset({"a.png"}))
    guids = [n.guid for n in carried]
    assert syncplan._in_step(carried, guids, state) is in_step
    assert [syncplan._note_in_step(n, state) for n in carried] == [in_step, True, True, True]
    assert not syncplan._in_step(carried, guids, _state(notes, frozenset()))  # image gone
    assert not syncplan._in_step(carried, guids, _state({}, frozenset({"a.png"})))  # deleted
    held = _state(notes, frozenset({"a.png"}), by_sync=frozenset({11}))
    assert syncplan._in_step(carried, guids, held) is in_step  # not suspended: not held
    suspended = {**notes, "g1": replace(notes["g1"], suspended=(True,) * len(notes["g1"].cards))}
    assert not syncplan._in_step(
        carried, guids, _state(suspended, frozenset({"a.png"}), frozenset({11}))
    )


def _state(
    notes: dict[str, syncplan.Existing],
    media: frozenset[str],
    by_sync: frozenset[int] | None = None,
) -> syncplan.State:
    return syncplan.State(
        notes=notes,
        model=None,
        model_fields=(),
        decks={},
        deck_cards={},
        media=media,
        written={},
        synced_decks=frozenset(),
        suspended_by_sync=by_sync,
    )


def test_a_notes_tags_that_differ_in_case_are_written_alike_in_every_run() -> None:
    # The thirty-fifth trial: front matter tagging ``[python, Python]``, a re-tagged note kept
    # one or the other as a set's hashes fell, run to run (PYTHONHASHSEED).
    program = (
        "from pipeline.syncplan import _tags_for\n"
        "print(_tags_for(('Mine', 'python', 'file::a', 'mine'), "
        "('file::a', 'python', 'Python', 'section::s', 'code::Python')))"
    )
    seen = {
        subprocess.run(
            [sys.executable, "-c", program],
            capture_output=True,
            text=True,
            check=True,
            env={**os.environ, "PYTHONHASHSEED": str(seed)},
        ).stdout
        for seed in range(8)
    }
    assert seen == {"('code::Python', 'file::a', 'mine', 'Python', 'section::s')\n"}
