"""The Anki package, imported into a real Anki collection (the ``anki`` package from PyPI)."""

from __future__ import annotations

import hashlib
import json
import random
import shutil
import sqlite3
import zipfile
import zlib
from collections.abc import Iterator
from pathlib import Path

import pytest

from pipeline import build, load_config
from pipeline.errors import ConfigError, ExportCheckError
from pipeline.export import anki as anki_export
from tests.conftest import FIXTURES, SEEDS, golden, steady_day, tiny_png

anki_collection = pytest.importorskip("anki.collection")
from anki.collection import (  # noqa: E402
    Collection,
    ImportAnkiPackageOptions,
    ImportAnkiPackageRequest,
)
from anki.import_export_pb2 import ImportAnkiPackageUpdateCondition  # noqa: E402
from anki.scheduler.v3 import CardAnswer  # noqa: E402

IF_NEWER = ImportAnkiPackageUpdateCondition.Value("IMPORT_ANKI_PACKAGE_UPDATE_CONDITION_IF_NEWER")


@pytest.fixture
def col(tmp_path: Path) -> Iterator[Collection]:
    (tmp_path / "anki").mkdir()
    collection = Collection(str(tmp_path / "anki" / "collection.anki2"))
    steady_day(collection)
    yield collection
    collection.close()


def import_package(col: Collection, package: Path) -> None:
    col.import_anki_package(
        ImportAnkiPackageRequest(
            package_path=str(package),
            options=ImportAnkiPackageOptions(update_notes=IF_NEWER, with_scheduling=False),
        )
    )


def notes_by_id(col: Collection) -> dict[str, dict[str, str]]:
    """Every cardsmith note, keyed by its ID field."""
    notes = {}
    for nid in col.find_notes('"note:cardsmith Q&A"'):
        note = col.get_note(nid)
        notes[note["ID"]] = {name: note[name] for name in anki_export.FIELDS}
    return notes


def answer_good(col: Collection, deck_id: int, rounds: int = 100) -> None:
    """Answer Good in a deck until nothing is due there (learning steps included)."""
    col.decks.select(deck_id)
    for _ in range(rounds):
        queued = col.sched.get_queued_cards(fetch_limit=50)
        if not queued.cards:
            break
        for qc in queued.cards:
            card = col.get_card(qc.card.id)
            card.start_timer()
            col.sched.answer_card(
                col.sched.build_answer(card=card, states=qc.states, rating=CardAnswer.GOOD)
            )


def study_all(col: Collection) -> dict[int, int]:
    """Study the Cardsmith decks until nothing is due; card id -> review count."""
    answer_good(col, col.decks.id_for_name("Cardsmith") or 1)
    return {cid: col.get_card(cid).reps for cid in col.find_cards("")}


def build_apkg(content: Path, out: Path) -> Path:
    build(load_config(content, out=out, formats=("apkg",)))
    return out / "cardsmith.apkg"


# --- the seed notes ---------------------------------------------------------------------


def test_seed_package_imports_cleanly(tmp_path: Path, col: Collection) -> None:
    content = tmp_path / "content"
    shutil.copytree(SEEDS, content)
    package = build_apkg(content, tmp_path / "out")
    import_package(col, package)
    notes = notes_by_id(col)
    assert len(notes) == 166  # 184 questions, 18 unanswered
    decks = {d.name for d in col.decks.all_names_and_ids()}
    assert {"面试题::NLP::Transformer", "面试题::Python与机器学习::PyTorch面试问题"} <= decks
    model = col.models.by_name(anki_export.MODEL_NAME)
    assert model is not None
    assert [f["name"] for f in model["flds"]] == list(anki_export.FIELDS)
    assert ".nightMode" in model["css"] and ".highlight .k" in model["css"]
    highlighted = [n for n in notes.values() if '<pre class="highlight"' in n["Answer"]]
    assert len(highlighted) == 38  # answered questions with a code block (41 blocks)
    generator = next(
        n for n in notes.values() if n["Question"].startswith("什么是Python中的生成器")
    )
    assert "<strong>延迟计算</strong>" in generator["Answer"]
    image_card = next(n for n in notes.values() if n["Question"] == "LoRA的作用和原理")
    assert '<span class="missing-image">[图片缺失: 1.png]</span>' in image_card["Answer"]
    tags = col.get_note(col.find_notes('"ID:' + next(iter(notes)) + '"')[0]).tags
    assert "file::NLP" in tags and "section::Transformer" in tags


def test_package_is_compressed_and_never_a_collection_restore(tmp_path: Path) -> None:
    content = tmp_path / "content"
    shutil.copytree(SEEDS, content)
    package = build_apkg(content, tmp_path / "out")
    with zipfile.ZipFile(package) as zf:
        assert {i.compress_type for i in zf.infolist()} == {zipfile.ZIP_DEFLATED}
        assert {i.date_time for i in zf.infolist()} == {(1980, 1, 1, 0, 0, 0)}
    with pytest.raises(ConfigError):
        build(
            load_config(content, out=tmp_path / "x", formats=("apkg",), package_name="collection")
        )


def test_note_type_is_a_public_contract() -> None:
    contract = (
        json.dumps(
            {
                "id": anki_export.MODEL_ID,
                "name": anki_export.MODEL_NAME,
                "fields": list(anki_export.FIELDS),
            },
            ensure_ascii=False,
            indent=1,
        )
        + "\n"
    )
    # Changing this breaks every update of every user's notes: never regenerate it lightly.
    assert contract == golden(FIXTURES / "anki" / "notetype.json", contract)


# --- identity across edits, with a real collection -----------------------------------------

ORIGINAL = """## 基础

#### 1. 什么是装饰器？

接受函数并返回新函数的函数。

#### 2. GIL是什么？

全局解释器锁，同一时刻只有一个线程执行字节码。

#### 3. 列表和元组的区别

列表可变，元组不可变。

#### 4. 什么是生成器？

用 yield 按需产生值的函数。

#### 5. 深拷贝和浅拷贝

浅拷贝只复制第一层。

## 进阶

#### 1. 什么是元类？

创建类的类。
"""

EDITED = """## 基础

#### 1. 什么是闭包？

引用了外部变量的内部函数。

#### 2. 什么是装饰器？

接受函数并返回新函数的函数，常用于日志和缓存。

#### 3. 解释一下 GIL 是什么

全局解释器锁，同一时刻只有一个线程执行字节码。

#### 4. 列表和元组的区别

列表可变，元组不可变。

## 进阶

#### 1. 什么是元类？

创建类的类。

#### 2. 深拷贝和浅拷贝

浅拷贝只复制第一层。
"""


def test_edits_keep_history_and_update_in_place(tmp_path: Path, col: Collection) -> None:
    content = tmp_path / "content"
    content.mkdir()
    notes_md = content / "notes.md"
    notes_md.write_text(ORIGINAL, encoding="utf-8")
    import_package(col, build_apkg(content, tmp_path / "out1"))
    before = notes_by_id(col)
    assert len(before) == 6
    reps = study_all(col)
    assert len(reps) == 6 and all(n >= 1 for n in reps.values())
    ids = {fields["Question"]: nid for nid, fields in before.items()}

    # Answer changed, question reworded, a question inserted with renumbering, one deleted,
    # one moved to another section: then rebuild at once (same second) and re-import.
    notes_md.write_text(EDITED, encoding="utf-8")
    result = build(load_config(content, out=tmp_path / "out2", formats=("apkg",)))
    import_package(col, tmp_path / "out2" / "cardsmith.apkg")
    after = notes_by_id(col)

    assert result.report.counts == {  # as Anki sees it: renamed and moved notes are updated
        "new": 1,
        "updated": 3,
        "unchanged": 2,
        "renamed": 1,
        "moved": 1,
        "orphaned": 1,
        "skipped": 0,
    }
    assert len(after) == 7  # the deleted question stays until the person deletes it (orphan)
    assert [o.question for o in result.report.orphans] == ["什么是生成器？"]
    # No note turned into a different question.
    assert after[ids["什么是装饰器？"]]["Question"] == "什么是装饰器？"
    assert "常用于日志和缓存" in after[ids["什么是装饰器？"]]["Answer"]  # answer change applied
    assert after[ids["GIL是什么？"]]["Question"] == "解释一下 GIL 是什么"  # reworded, same note
    assert "进阶" in after[ids["深拷贝和浅拷贝"]]["Source"]  # moved, same note
    new = [nid for nid in after if nid not in before]
    assert [after[n]["Question"] for n in new] == ["什么是闭包？"]
    # Every studied card keeps its history.
    for cid, n in reps.items():
        card = col.get_card(cid)
        assert card.reps == n
    assert col.db.scalar("select count() from revlog") == sum(reps.values())
    # One note per guid: no duplicates.
    guids = col.db.list("select guid from notes")
    assert len(guids) == len(set(guids))


def test_rebuild_without_changes_is_byte_identical_even_in_a_fresh_clone(tmp_path: Path) -> None:
    content = tmp_path / "content"
    shutil.copytree(SEEDS, content)
    first = build_apkg(content, tmp_path / "a").read_bytes()
    second = build_apkg(content, tmp_path / "b").read_bytes()
    clone = tmp_path / "clone"
    shutil.copytree(content, clone)  # notes + lock file, as a fresh clone has them
    third = build_apkg(clone, tmp_path / "c").read_bytes()
    assert (
        hashlib.sha256(first).digest()
        == hashlib.sha256(second).digest()
        == hashlib.sha256(third).digest()
    )


def test_changed_note_is_newer_even_within_the_same_second(tmp_path: Path) -> None:
    content = tmp_path / "content"
    content.mkdir()
    (content / "n.md").write_text("## s\n#### 1. q\n\nold\n", encoding="utf-8")
    mods = []
    for answer in ("new", "newer", "newest"):
        build(load_config(content, out=tmp_path / "o", formats=("apkg",)))
        lock = json.loads((content / "cardsmith.lock.json").read_text("utf-8"))
        mods.append(lock["notes"][0]["mod"])
        (content / "n.md").write_text(f"## s\n#### 1. q\n\n{answer}\n", encoding="utf-8")
    assert mods[0] < mods[1] < mods[2]


# --- media ------------------------------------------------------------------------------------


def _png(colour: bytes) -> bytes:
    return tiny_png(colour[0])  # its content is all that matters to the hash


def test_images_are_named_by_content_hash(tmp_path: Path, col: Collection) -> None:
    content = tmp_path / "content"
    for folder, colour in (("a", b"\x01"), ("b", b"\x02")):
        (content / folder).mkdir(parents=True)
        (content / folder / "1.png").write_bytes(_png(colour))
        (content / folder / "n.md").write_text(
            f"## {folder}\n#### 1. 图{folder}？\n\n![图](1.png)\n", encoding="utf-8"
        )
    package = build_apkg(content, tmp_path / "out")
    with zipfile.ZipFile(package) as zf:
        media = json.loads(zf.read("media"))
    names = sorted(media.values())
    assert len(names) == 2 and all(n.endswith(".png") for n in names)
    import_package(col, package)
    srcs = sorted(n["Answer"].split('src="')[1].split('"')[0] for n in notes_by_id(col).values())
    assert srcs == names  # each card points at its own image, under its content-hash name
    media_dir = Path(col.media.dir())
    assert sorted(p.name for p in media_dir.iterdir()) == names


def test_self_check_catches_a_package_that_lost_a_note(tmp_path: Path) -> None:
    content = tmp_path / "content"
    shutil.copytree(FIXTURES / "check" / "clean", content)
    package = build_apkg(content, tmp_path / "o")
    with zipfile.ZipFile(tmp_path / "o" / "cardsmith.apkg") as zf:
        db = tmp_path / "c.anki2"
        db.write_bytes(zf.read("collection.anki2"))
    conn = sqlite3.connect(db)
    (guid,) = conn.execute("select guid from notes").fetchone()
    conn.close()
    anki_export.self_check(package, [guid])  # the real package passes
    with pytest.raises(ExportCheckError, match="1 notes written, 2 expected"):
        anki_export.self_check(package, [guid, "csNotWritten"])


def test_an_image_in_a_question_is_packed_and_shown_on_the_front(
    tmp_path: Path, col: Collection
) -> None:
    # The exporter once pointed only the answer's images at the packed media: a local image
    # in a question stopped the whole build at the package's self-check.
    content = tmp_path / "content"
    shutil.copytree(FIXTURES / "render" / "image_in_question", content)
    import_package(col, build_apkg(content, tmp_path / "out"))
    name = hashlib.sha256((content / "flow.png").read_bytes()).hexdigest()[:20] + ".png"
    notes = {n["Question"]: n for n in notes_by_id(col).values()}
    front = next(q for q in notes if "流程" in q)
    assert f'<img src="{name}" alt="流程">' in front
    assert f'<img src="{name}" alt="同一张图">' in next(
        n["Answer"] for q, n in notes.items() if q != front
    )
    assert [p.name for p in Path(col.media.dir()).iterdir()] == [name]
    card = col.get_card(col.find_cards(f'"ID:{notes[front]["ID"]}"')[0])
    assert name in card.question()  # what Anki renders on the front


# --- everything inside an answer arrives intact -----------------------------------------------


def test_math_arrives_in_anki_for_its_mathjax(tmp_path: Path, col: Collection) -> None:
    content = tmp_path / "content"
    shutil.copytree(FIXTURES / "render" / "math", content)
    import_package(col, build_apkg(content, tmp_path / "out"))
    answer = next(n["Answer"] for n in notes_by_id(col).values() if "Q^*" in n["Answer"])
    # Anki renders \(…\) and \[…\] with its bundled MathJax; no emphasis, no lost backslash.
    assert r"\(Q^*(s,a)\)" in answer and r"\(V^*(s)\)" in answer
    assert r"\(\sqrt{d_k}\)" in answer and r"\left\{\begin{array}" in answer
    assert r"\[\mathrm{Attention}" in answer and "<em>" not in answer
    assert "$5 and $10" in answer  # prices stay text
    card = col.get_card(col.find_cards(r'"Answer:*Q^\**"')[0])
    assert r"\(Q^*(s,a)\)" in card.answer()  # what Anki renders on the back


def test_raw_html_is_kept_harmless_and_its_images_are_packed(
    tmp_path: Path, col: Collection
) -> None:
    content = tmp_path / "content"
    shutil.copytree(FIXTURES / "render" / "raw_html", content)
    import_package(col, build_apkg(content, tmp_path / "out"))
    name = hashlib.sha256((content / "fig.png").read_bytes()).hexdigest()[:20] + ".png"
    answers = " ".join(n["Answer"] for n in notes_by_id(col).values())
    for kept in ("<br>", "<sub>2</sub>", "<kbd>Ctrl</kbd>", "<mark>", "<details>", "<center>"):
        assert kept in answers
    for gone in ("<script", "alert", "onerror", "javascript:", "<!--"):
        assert gone not in answers
    assert f'<img src="{name}" width="200" alt="结构">' in answers
    assert [p.name for p in Path(col.media.dir()).iterdir()] == [name]


def test_obsidian_embeds_and_spaced_paths_are_packed(tmp_path: Path, col: Collection) -> None:
    content = tmp_path / "content"
    shutil.copytree(FIXTURES / "render" / "image_forms", content)
    import_package(col, build_apkg(content, tmp_path / "out"))
    (answer,) = (n["Answer"] for n in notes_by_id(col).values())
    name = hashlib.sha256((content / "注意力.png").read_bytes()).hexdigest()[:20] + ".png"
    assert answer.count(f'src="{name}"') == 4  # four ways to write one picture, one file
    assert "图片缺失: 不存在 的图.png" in answer  # reported as written, not %-encoded
    assert [p.name for p in Path(col.media.dir()).iterdir()] == [name]


@pytest.mark.parametrize("size", [0, 1, 4096, 3 * 4096, 3 * 4096 + 17])
def test_the_database_is_deflated_on_two_cores_into_one_stream_whatever_it_is_fed_in(
    size: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Blocks of 4 KB here (8 MB in a build): none, one, several, an exact multiple.
    monkeypatch.setattr(anki_export, "_BLOCK", 4096)
    data = bytes(random.Random(size).choice(b"<p>code</p> \\n") for _ in range(size))
    outputs = []
    for feed in (1, 1000, 1 << 20):
        with anki_export._TwoCoreDeflate() as deflate:
            out = b"".join(deflate.compress(data[i : i + feed]) for i in range(0, size, feed))
            outputs.append(out + deflate.flush())
    assert outputs[0] == outputs[1] == outputs[2]  # the same bytes, however it was fed
    assert zlib.decompress(outputs[0], -15) == data  # one whole DEFLATE stream


def test_a_package_is_a_whole_zip(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(anki_export, "_BLOCK", 4096)  # the seeds' database is many blocks
    shutil.copytree(SEEDS, tmp_path / "content")
    build(load_config(tmp_path / "content", out=tmp_path / "o", formats=("apkg",)))
    with zipfile.ZipFile(tmp_path / "o" / "cardsmith.apkg") as package:
        assert package.testzip() is None  # every entry's CRC checked
        assert package.getinfo("collection.anki2").file_size > 20 * 4096
