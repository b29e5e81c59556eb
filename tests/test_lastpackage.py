"""A package's summary counts what Anki sees when it imports it: against the last package,
whatever was built in between (``pipeline/lastpackage.py``)."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipeline import build, load_config
from pipeline.build import BuildResult
from pipeline.config import Config
from pipeline.lastpackage import LAST_PACKAGE

pytest.importorskip("anki.collection")
from anki.collection import Collection

from tests.test_anki import import_package
from tests.test_sync import new_collection

NOTES = (
    "## 基础\n\n#### 1. 甲是什么？\n\n答甲。\n\n#### 2. 乙是什么？\n\n答乙。\n\n"
    "## 进阶\n\n#### 3. 丙是什么？\n\n答丙。\n"
)


def _content(tmp_path: Path, text: str = NOTES) -> Path:
    content = tmp_path / "content"
    content.mkdir(parents=True, exist_ok=True)
    (content / "n.md").write_text(text, "utf-8")
    return content


def _config(content: Path, *formats: str, cache: bool = True) -> Config:
    return load_config(content, out=content.parent / "o", formats=formats, cache=cache)


def _mods(collection: Path) -> dict[str, int]:
    """Each cardsmith note's modification time, by guid."""
    col = Collection(str(collection))
    try:
        assert col.db is not None
        return {guid: mod for guid, mod in col.db.all("select guid, mod from notes")}
    finally:
        col.close()


def _summary(result: BuildResult) -> str:
    return result.report.summary_lines()[0]


def test_a_json_build_between_two_packages_takes_nothing_from_the_seconds_counts(
    tmp_path: Path,
) -> None:
    content = _content(tmp_path)
    collection = new_collection(tmp_path / "anki" / "collection.anki2")
    build(_config(content, "apkg"))
    import_package_at(collection, content.parent / "o" / "cardsmith.apkg")
    before = _mods(collection)
    # 甲's answer edited, 乙 moved to the other section, then a JSON build writes the lock.
    edited = NOTES.replace("答甲。", "答甲，改过。").replace(
        "#### 2. 乙是什么？\n\n答乙。\n\n## 进阶\n\n", "## 进阶\n\n#### 2. 乙是什么？\n\n答乙。\n\n"
    )
    (content / "n.md").write_text(edited, "utf-8")
    between = build(_config(content, "json"))
    assert _summary(between).startswith("Anki: 3 notes for a package (this build made none);")
    package = build(_config(content, "apkg"))
    counts = package.report.counts
    assert (counts["new"], counts["updated"], counts["unchanged"], counts["moved"]) == (0, 2, 1, 1)
    assert "since the last package 0 new, 2 updated, 1 unchanged" in _summary(package)
    assert [(m.card.question, m.old_deck) for m in package.report.moved] == [
        ("乙是什么？", "Cardsmith::n::基础")
    ]
    assert package.report.as_json()["since"] == "the last package"
    # What Anki saw: the two counted as updated, and only they.
    import_package_at(collection, content.parent / "o" / "cardsmith.apkg")
    after = _mods(collection)
    assert len(after) == 3
    assert sum(after[guid] != mod for guid, mod in before.items()) == 2


def test_an_answer_given_back_updates_the_note_anki_kept(tmp_path: Path) -> None:
    content = _content(tmp_path)
    build(_config(content, "apkg"))
    (content / "n.md").write_text(NOTES.replace("答乙。\n", ""), "utf-8")
    without = build(_config(content, "apkg"))  # 乙 left out of the package: Anki keeps it
    assert without.report.counts["orphaned"] == 1
    # Counted on every build until resolved, not as a change since the last one.
    again = build(_config(content, "json"))
    assert "0 moved; 1 orphan(s) kept until resolved" in again.report.summary_lines()[0]
    (content / "n.md").write_text(NOTES, "utf-8")
    back = build(_config(content, "apkg"))
    counts = back.report.counts
    assert (counts["new"], counts["updated"], counts["unchanged"]) == (0, 1, 2)


def test_a_first_package_after_json_builds_counts_the_lock_orphans_as_held(
    tmp_path: Path,
) -> None:
    content = _content(tmp_path)
    build(_config(content, "json"))
    (content / "n.md").write_text(NOTES.replace("答乙。\n", ""), "utf-8")
    build(_config(content, "json"))
    build(_config(content, "apkg"))  # no last package: against the lock, 乙 an orphan
    (content / "n.md").write_text(NOTES, "utf-8")
    back = build(_config(content, "apkg"))
    assert (back.report.counts["new"], back.report.counts["updated"]) == (0, 1)


def test_without_a_cache_the_counts_are_since_the_last_build(tmp_path: Path) -> None:
    content = _content(tmp_path)
    build(_config(content, "apkg", cache=False))
    (content / "n.md").write_text(NOTES.replace("答甲。", "答甲，改过。"), "utf-8")
    build(_config(content, "json", cache=False))
    package = build(_config(content, "apkg", cache=False))
    assert "since the last build 0 new, 0 updated, 3 unchanged" in _summary(package)
    assert not (tmp_path / ".cardsmith-cache").exists()


def test_another_content_folder_into_the_same_output_counts_against_its_own_lock(
    tmp_path: Path,
) -> None:
    first = _content(tmp_path / "a")
    build(_config(first, "apkg"))
    other = _content(tmp_path / "b", NOTES.replace("甲", "丁"))
    package = build(load_config(other, out=first.parent / "o", formats=("apkg",)))
    assert "since the last build 3 new" in _summary(package)


def test_a_sync_forgets_the_last_package(tmp_path: Path) -> None:
    from pipeline.sync import sync

    content = _content(tmp_path)
    config = _config(content, "apkg")
    build(config)
    memo = tmp_path / ".cardsmith-cache" / LAST_PACKAGE
    assert memo.is_file()
    sync(config, new_collection(tmp_path / "anki" / "collection.anki2"))
    assert not memo.exists()  # Anki now holds the notes as the lock records them
    again = build(config)
    assert "since the last build 0 new, 0 updated, 3 unchanged" in _summary(again)


def import_package_at(collection: Path, package: Path) -> None:
    col = Collection(str(collection))
    try:
        import_package(col, package)
    finally:
        col.close()
