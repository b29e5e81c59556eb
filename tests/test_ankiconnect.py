"""``cardsmith sync --ankiconnect`` against the real Anki desktop with the real AnkiConnect.

Anki (``aqt`` from PyPI) is installed into ``.anki-desktop`` by ``make anki-desktop`` (which
``make test`` runs when the add-on is there). The AnkiConnect add-on is not on PyPI: it is
taken from ``$ANKICONNECT_SRC`` or ``../shared/anki-desktop/``, which also has the scripts
that start Anki headless. Without them these tests are skipped, saying why.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from pipeline import ankiconnect as ankiconnect_module
from pipeline import load_config
from pipeline.ankiconnect import AnkiConnect
from pipeline.ankiconnect import sync as sync_running
from pipeline.errors import EnvironmentProblem
from pipeline.safeguards import MassOrphanError
from pipeline.sync import ORPHAN_TAG, SyncError, notes_for
from tests.conftest import FIXTURES, ROOT

DESKTOP = Path(os.environ.get("ANKI_DESKTOP_DIR", ROOT.parent / "shared" / "anki-desktop"))
VENV = Path(os.environ.get("ANKI_VENV", ROOT / ".anki-desktop"))
CASES = FIXTURES / "sync"

if not (DESKTOP / "start-anki.sh").is_file() or not (DESKTOP / "ankiconnect").is_dir():
    pytest.skip(f"no AnkiConnect add-on and start script at {DESKTOP}", allow_module_level=True)
if not (VENV / "bin" / "anki").is_file():
    pytest.skip(f"no Anki desktop in {VENV}: run make anki-desktop", allow_module_level=True)
pytest.importorskip("anki.collection")
from anki.collection import Collection  # noqa: E402


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _start(base: Path, port: int) -> str:
    """Start Anki with AnkiConnect on ``port``, its base folder ``base``: its URL."""
    env = {**os.environ, "ANKI_VENV": str(VENV), "ANKICONNECT_SRC": str(DESKTOP / "ankiconnect")}
    subprocess.run(
        [DESKTOP / "start-anki.sh", base, str(port)], env=env, check=True, capture_output=True
    )
    return f"http://127.0.0.1:{port}"


@pytest.fixture(scope="module")
def anki(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    """A running Anki with AnkiConnect: its URL and its base folder."""
    base = tmp_path_factory.mktemp("anki-desktop")
    url = _start(base, _free_port())
    try:
        yield url, base
    finally:
        subprocess.run([DESKTOP / "stop-anki.sh", base], check=False, capture_output=True)


def put_notes(source: Path, content: Path) -> None:
    content.mkdir(exist_ok=True)
    for old in content.iterdir():
        if old.suffix in (".md", ".toml", ".png"):
            old.unlink()
    for new in source.iterdir():
        shutil.copy(new, content / new.name)


def study(ac: AnkiConnect) -> None:
    cards = ac("findCards", query='"note:cardsmith Q&A" -is:suspended')
    ac("answerCards", answers=[{"cardId": c, "ease": 3} for c in cards])


def state(ac: AnkiConnect) -> dict[str, Any]:
    nids = ac("findNotes", query='"note:cardsmith Q&A"')
    notes = {}
    for info in ac("notesInfo", notes=nids):
        cards = ac("cardsInfo", cards=info["cards"])
        notes[info["fields"]["Question"]["value"]] = {
            "answer": info["fields"]["Answer"]["value"],
            "decks": sorted({c["deckName"] for c in cards}),
            "orphan": ORPHAN_TAG in info["tags"],
            "suspended": all(c["queue"] == -1 for c in cards),
            "reps": sum(c["reps"] for c in cards),
        }
    return {"notes": notes, "decks": sorted(ac("deckNames"))}


def test_the_same_plan_through_ankiconnect(
    anki: tuple[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url, base = anki
    ac = AnkiConnect(url)
    content = tmp_path / "content"
    put_notes(CASES / "moves" / "before", content)
    first = sync_running(load_config(content), url)
    assert len(first.plan.add) == 4 and first.plan.model == "create"
    study(ac)
    # In Anki: an answer edited. In the notes: moves, a renamed section and file, a new root
    # deck, and a question deleted.
    (nid,) = ac("findNotes", query='"note:cardsmith Q&A" "Question:什么是装饰器？"')
    ac("updateNoteFields", note={"id": nid, "fields": {"Answer": "我在 Anki 里改的"}})
    put_notes(CASES / "moves" / "after", content)
    (content / "a.md").write_text(
        (content / "a.md").read_text("utf-8").replace("#### 2. 什么是元类？\n\n创建类的类。\n", ""),
        "utf-8",
    )
    (content / "a.md").write_text(
        (content / "a.md").read_text("utf-8").replace("## 基础", "## 基础概念"), "utf-8"
    )
    dry = sync_running(load_config(content), url, dry_run=True)
    assert state(ac)["decks"][0] == "Cardsmith"  # nothing written by the dry run
    second = sync_running(load_config(content), url)
    assert len(second.plan.conflict) == 1 and len(second.plan.move) == 3
    assert second.plan.lines() == dry.plan.lines()
    got = state(ac)
    assert got["decks"] == [
        "Cardsmith",  # the orphan stays where it was
        "Cardsmith::a",
        "Cardsmith::a::基础",
        "Default",
        "面试题",
        "面试题::a",
        "面试题::a::基础概念",
        "面试题::a::新名",
        "面试题::c",
        "面试题::c::数据",
    ]
    assert got["notes"]["什么是装饰器？"]["answer"] == "我在 Anki 里改的"  # the conflict is left
    assert got["notes"]["什么是装饰器？"]["decks"] == ["面试题::a::基础概念"]  # but it moved
    assert got["notes"]["什么是元类？"]["orphan"] and got["notes"]["什么是元类？"]["suspended"]
    assert got["notes"]["GIL是什么？"]["decks"] == ["面试题::a::新名"]
    assert all(n["reps"] == 1 for n in got["notes"].values())  # no review lost
    assert sync_running(load_config(content), url).plan.empty  # nothing left to do
    # A lock restored (git checkout) while the notes were read: Anki is not touched.
    lock = content / "cardsmith.lock.json"
    older, before = lock.read_bytes(), state(ac)

    def then_restored(*args: Any, **kwargs: Any) -> Any:
        found = notes_for(*args, **kwargs)
        (content / "restored.tmp").write_bytes(older)
        (content / "restored.tmp").replace(lock)
        return found

    monkeypatch.setattr(ankiconnect_module, "notes_for", then_restored)
    (content / "a.md").write_text((content / "a.md").read_text("utf-8") + "\n改\n", "utf-8")
    with pytest.raises(EnvironmentProblem, match="the lock file changed while this sync ran"):
        sync_running(load_config(content), url)
    assert state(ac) == before and lock.read_bytes() == older
    monkeypatch.undo()
    forced = sync_running(load_config(content), url, force=True, delete_orphans=True)
    assert len(forced.plan.forced) == 1
    assert (
        "  delete: 1 orphan note(s) and their 1 review(s) (Anki's statistics keep the review "
        "log; no card keeps the schedule)"
    ) in forced.plan.lines()
    got = state(ac)
    assert "什么是元类？" not in got["notes"]
    assert got["decks"][:2] == ["Default", "面试题"]  # its empty decks went with it
    # The guids are the ids: read from the collection file once Anki has closed it.
    subprocess.run([DESKTOP / "stop-anki.sh", base], check=True, capture_output=True)
    col = Collection(str(base / "test" / "collection.anki2"))
    try:
        assert col.db is not None
        rows = col.db.all("select guid, flds from notes where mid = 1607392319")
    finally:
        col.close()
    assert len(rows) == 3 and all(guid == flds.split("\x1f")[3] for guid, flds in rows)


def test_a_filtered_deck_named_as_a_section_stops_the_sync_before_anything_is_written(
    tmp_path: Path,
) -> None:
    # Anki refuses to move a card into a filtered deck: the sync stopped half-way, the notes
    # updated, their cards not moved (the twelfth trial, with the collection file).
    base, port, content = tmp_path / "anki", _free_port(), tmp_path / "content"
    url = _start(base, port)
    try:
        put_notes(CASES / "moves" / "before", content)
        sync_running(load_config(content), url)
        subprocess.run([DESKTOP / "stop-anki.sh", base], check=True, capture_output=True)
        col = Collection(str(base / "test" / "collection.anki2"))
        try:  # a filtered deck, made as a person makes one (AnkiConnect has no action for it)
            deck = col.sched.get_or_create_filtered_deck(deck_id=0)  # type: ignore[arg-type]
            deck.name = "Cardsmith::c::数据"
            deck.config.search_terms[0].search = '"deck:Cardsmith::a::基础"'
            col.sched.add_or_update_filtered_deck(deck)
        finally:
            col.close()
        url = _start(base, port)
        before = state(AnkiConnect(url))
        (content / "b.md").rename(content / "c.md")
        with pytest.raises(SyncError, match="'Cardsmith::c::数据' is a filtered deck in Anki"):
            sync_running(load_config(content), url)
        assert state(AnkiConnect(url)) == before
    finally:
        subprocess.run([DESKTOP / "stop-anki.sh", base], check=False, capture_output=True)


def test_a_wrong_notes_folder_is_refused_through_ankiconnect_too(tmp_path: Path) -> None:
    # Its lock knows none of the notes Anki holds: the sync would orphan them all (the
    # twenty-fourth trial, with the collection file).
    base, content, wrong = tmp_path / "anki", tmp_path / "content", tmp_path / "wrong"
    content.mkdir()
    wrong.mkdir()
    for f in range(4):
        asked = "".join(f"#### {q + 1}. 问题{f}-{q}？\n\n答案{f}-{q}。\n\n" for q in range(4))
        (content / f"f{f}.md").write_text(f"## 节{f}\n\n{asked}", "utf-8")
    url = _start(base, _free_port())
    try:
        sync_running(load_config(content), url)
        study(AnkiConnect(url))
        before = state(AnkiConnect(url))
        with pytest.raises(MassOrphanError, match="would orphan 16 of the 16 cardsmith note"):
            sync_running(load_config(wrong), url, delete_orphans=True)
        assert state(AnkiConnect(url)) == before
        assert not (wrong / "cardsmith.lock.json").exists()
        sync_running(load_config(wrong, allow_mass_orphan=True), url, delete_orphans=True)
        got = state(AnkiConnect(url))["notes"]  # studied, and the lock knew none: kept
        assert len(got) == 16 and all(n["orphan"] and n["suspended"] for n in got.values())
        assert all(n["reps"] == 1 for n in got.values())
    finally:
        subprocess.run([DESKTOP / "stop-anki.sh", base], check=False, capture_output=True)


def test_no_ankiconnect_is_a_clear_error(tmp_path: Path) -> None:
    content = tmp_path / "content"
    put_notes(CASES / "new_css" / "before", content)
    with pytest.raises(SyncError, match=r"no AnkiConnect at http://127\.0\.0\.1:9 "):
        sync_running(load_config(content), "http://127.0.0.1:9")
