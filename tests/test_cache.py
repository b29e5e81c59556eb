"""The compiled-records cache: unchanged files are not compiled again; the bytes never differ."""

from __future__ import annotations

import dataclasses
import hashlib
import importlib.util
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from types import SimpleNamespace

import pytest

from pipeline import ContentError, build, check, load_config
from pipeline import cache as cache_module
from pipeline import parse as parse_module
from pipeline import validate as validate_module
from pipeline.build import Resident
from pipeline.cache import CACHE_DIR
from pipeline.config import Config
from pipeline.errors import Diagnostic
from pipeline.export import anki as anki_module
from pipeline.export import jsonfile
from pipeline.identity import load_lock
from pipeline.records import Card, ParsedFile
from tests.conftest import SEEDS, tiny_png

#: Two note files: one question, and a section without any.
TWO = {"a.md": "## s\n\n1. q？\n\n   a。\n", "b.md": "## t\n"}
OUTPUTS = ("cards.json", "cardsmith.apkg", "cheatsheet.pdf")
PNG = tiny_png(1)  # a whole image: only its hash is read


@pytest.fixture
def compiled(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The note files each build compiles (not served from the cache), in order."""
    seen: list[str] = []
    build_module = sys.modules["pipeline.build"]
    real: Callable[..., tuple[ParsedFile, object]] = build_module.compile_file

    def counting(
        root: Path, path: str, *args: object, **kwargs: object
    ) -> tuple[ParsedFile, object]:
        seen.append(path)
        return real(root, path, *args, **kwargs)

    monkeypatch.setattr(build_module, "compile_file", counting)
    return seen


def _notes(folder: Path, **files: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (folder / name.replace("__", "/")).write_text(text, encoding="utf-8")
    return folder


def _build(content: Path, out: Path, **options: object) -> dict[str, bytes]:
    build(load_config(content, out=out, **options))
    return {p.name: p.read_bytes() for p in out.iterdir() if p.name in OUTPUTS}


def _edit(path: Path) -> None:
    path.write_text(path.read_text("utf-8") + "\n## 新节\n\n1. 新问题？\n   新答案。\n", "utf-8")


def test_cold_warm_and_edited_builds_write_the_same_bytes_as_builds_without_cache(
    tmp_path: Path, compiled: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Two copies of the seeds go through the same steps, one cached, one not. An edited
    # note is stamped with the clock's time (so Anki takes the update): one fixed second.
    clock = SimpleNamespace(time=lambda: 1_800_000_000.0)
    monkeypatch.setattr(sys.modules["pipeline.identity"], "time", clock)
    cached, plain = tmp_path / "a" / "content", tmp_path / "b" / "content"
    shutil.copytree(SEEDS, cached)
    shutil.copytree(SEEDS, plain)
    for edit in (False, False, True):  # cold, warm, one file edited
        if edit:
            _edit(cached / "python.md")
            _edit(plain / "python.md")
        del compiled[:]
        with_cache = _build(cached, cached.parent / "build")
        assert set(with_cache) == set(OUTPUTS)
        cached_compiles = list(compiled)
        assert with_cache == _build(plain, plain.parent / "build", cache=False)
        assert compiled[len(cached_compiles) :] == ["nlp.md", "python.md"]  # no cache: all
    # The last (edited) build compiled the edited file only.
    assert cached_compiles == ["python.md"]


def test_an_unchanged_folder_is_not_compiled_again(tmp_path: Path, compiled: list[str]) -> None:
    content = _notes(tmp_path / "content", **TWO)
    _build(content, tmp_path / "build", formats=("json",))
    assert compiled == ["a.md", "b.md"]
    assert (tmp_path / CACHE_DIR / "CACHEDIR.TAG").is_file()
    _build(content, tmp_path / "build", formats=("json",))
    assert compiled == ["a.md", "b.md"]


def test_no_cache_compiles_every_file_and_leaves_the_cache_alone(
    tmp_path: Path, compiled: list[str]
) -> None:
    content = _notes(tmp_path / "content", **{"a.md": "## s\n\n1. q？\n\n   a。\n"})
    _build(content, tmp_path / "build", formats=("json",), cache=False)
    assert not (tmp_path / CACHE_DIR).exists()
    _build(content, tmp_path / "build", formats=("json",))
    _build(content, tmp_path / "build", formats=("json",), cache=False)
    assert compiled == ["a.md", "a.md", "a.md"]


@pytest.mark.parametrize(
    "setting",
    [
        'root_deck = "别的"\n',
        'default_language = "python"\n',
        "question_level = 2\n",
        'question_style = "list"\n',
        'question_pattern = "^q"\n',
    ],
    ids=["root_deck", "default_language", "level", "style", "pattern"],
)
def test_a_changed_setting_makes_every_file_a_miss(
    tmp_path: Path, compiled: list[str], setting: str
) -> None:
    content = _notes(tmp_path / "content", **TWO)
    _build(content, tmp_path / "build", formats=("json",))
    (content / "cardsmith.toml").write_text(setting, encoding="utf-8")
    after = _build(content, tmp_path / "build", formats=("json",))
    assert compiled == ["a.md", "b.md", "a.md", "b.md"]
    assert after == _build(content, tmp_path / "plain", formats=("json",), cache=False)


def test_a_changed_title_makes_only_its_file_a_miss(tmp_path: Path, compiled: list[str]) -> None:
    content = _notes(tmp_path / "content", **TWO)
    _build(content, tmp_path / "build", formats=("json",))
    (content / "cardsmith.toml").write_text('[titles]\n"a.md" = "甲"\n', encoding="utf-8")
    _build(content, tmp_path / "build", formats=("json",))
    assert compiled == ["a.md", "b.md", "a.md"]


def test_a_pdf_build_compiles_again_for_typst_and_a_json_build_reuses_it(
    tmp_path: Path, compiled: list[str]
) -> None:
    content = _notes(tmp_path / "content", **{"a.md": "## s\n\n1. q？\n\n   a。\n"})
    _build(content, tmp_path / "build", formats=("json",))
    _build(content, tmp_path / "build", formats=("pdf",))  # needs the Typst rendering
    _build(content, tmp_path / "build", formats=("json",))
    assert compiled == ["a.md", "a.md"]


def test_a_pdf_builds_entry_serves_a_json_build_without_the_pdfs_warnings(
    tmp_path: Path, compiled: list[str]
) -> None:
    # "printed as TeX source in the PDF" is the PDF's: a JSON build (or a sync) said it or
    # not as a PDF build had filled the cache or not (the eleventh trial).
    notes = '## s\n\n1. q？\n\n   $a"b$ 答。\n'
    content = _notes(tmp_path / "content", **{"a.md": notes})
    pdf = build(load_config(content, out=tmp_path / "p", formats=("pdf",))).diagnostics
    json_only = build(load_config(content, out=tmp_path / "j", formats=("json",))).diagnostics
    assert compiled == ["a.md"]  # the JSON build took the PDF build's entry
    assert [d.code for d in pdf] == ["math-pdf"]
    assert json_only == ()


def test_another_cardsmith_version_or_code_makes_every_file_a_miss(
    tmp_path: Path, compiled: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    content = _notes(tmp_path / "content", **{"a.md": "## s\n\n1. q？\n\n   a。\n"})
    _build(content, tmp_path / "build", formats=("json",))
    monkeypatch.setattr(sys.modules["pipeline.cache"], "code_fingerprint", lambda: "other")
    _build(content, tmp_path / "build", formats=("json",))
    assert compiled == ["a.md", "a.md"]


def test_the_code_fingerprint_follows_pyyaml_without_importing_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # PyYAML reads front matter only: importing it for its version cost every build 8 ms.
    found = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys; from pipeline.cache import code_fingerprint; "
            "code_fingerprint(); print('yaml' in sys.modules)",
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    assert found.stdout.strip() == "False"
    before = cache_module.code_fingerprint()
    upgraded = tmp_path / "__init__.py"
    upgraded.write_text("__version__ = '99.0'\n")
    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util,
        "find_spec",
        lambda name: SimpleNamespace(origin=str(upgraded)) if name == "yaml" else real(name),
    )
    cache_module.code_fingerprint.cache_clear()
    try:
        assert cache_module.code_fingerprint() != before
    finally:
        cache_module.code_fingerprint.cache_clear()


@pytest.mark.parametrize(
    "damage",
    [
        lambda data: data[: len(data) // 2],
        lambda data: b"",
        lambda data: b"garbage, not a pickle",
        lambda data: b"\x80\x05N.",  # a valid pickle of None
        lambda data: data.replace(b"a\xe3\x80\x82", b"b\xe3\x80\x82"),  # the answer, changed
    ],
    ids=["truncated", "empty", "garbage", "another-object", "tampered-records"],
)
def test_a_damaged_entry_is_a_miss_never_trusted(
    tmp_path: Path, compiled: list[str], damage: Callable[[bytes], bytes]
) -> None:
    content = _notes(tmp_path / "content", **{"a.md": "## s\n\n1. q？\n\n   a。\n"})
    first = _build(content, tmp_path / "build", formats=("json",))
    (entry,) = (tmp_path / CACHE_DIR).glob("*.pickle")
    entry.write_bytes(damage(entry.read_bytes()))
    again = _build(content, tmp_path / "build", formats=("json",))
    assert compiled == ["a.md", "a.md"]
    assert again == first


def test_an_image_changed_or_removed_makes_its_note_a_miss(
    tmp_path: Path, compiled: list[str]
) -> None:
    content = _notes(
        tmp_path / "content",
        **{"a.md": "## s\n\n1. q？\n\n   ![图](img/x.png)\n", "b.md": "## t\n\n1. p？\n\n   a。\n"},
    )
    (content / "img").mkdir()
    (content / "img" / "x.png").write_bytes(PNG)
    _build(content, tmp_path / "build", formats=("json",))
    (content / "img" / "x.png").write_bytes(tiny_png(2))
    changed = _build(content, tmp_path / "build", formats=("json",))
    assert changed == _build(content, tmp_path / "plain", formats=("json",), cache=False)
    (content / "img" / "x.png").unlink()
    result = build(load_config(content, out=tmp_path / "build", formats=("json",)))
    assert [d.code for d in result.diagnostics] == ["missing-image"]
    assert compiled == ["a.md", "b.md", "a.md", "a.md", "b.md", "a.md"]
    # The file's bytes and key are those of the first build, its records are not: the
    # cards.json kept for it then (same key, same ids) must not be served.
    gone = {p.name: p.read_bytes() for p in (tmp_path / "build").iterdir() if p.name in OUTPUTS}
    assert gone == _build(content, tmp_path / "plain2", formats=("json",), cache=False)


def test_a_linked_note_created_or_removed_makes_its_linking_note_a_miss(
    tmp_path: Path, compiled: list[str]
) -> None:
    content = _notes(tmp_path / "content", **{"a.md": "## s\n\n1. q？\n\n   见 [b](b.md)。\n"})
    config = load_config(content, out=tmp_path / "build", formats=("json",))
    assert [d.code for d in build(config).diagnostics] == ["missing-link"]
    (content / "b.md").write_text("## t\n\n1. p？\n\n   b。\n", encoding="utf-8")
    assert [d.code for d in build(config).diagnostics] == []
    (content / "b.md").unlink()
    assert [d.code for d in build(config).diagnostics] == ["missing-link"]
    assert compiled == ["a.md", "a.md", "b.md", "a.md"]


def test_entries_of_deleted_files_are_removed(tmp_path: Path) -> None:
    files = {"a.md": "## s\n\n1. q？\n\n   a。\n", "b.md": "## t\n\n1. p？\n\n   b。\n"}
    content = _notes(tmp_path / "content", **files)
    _build(content, tmp_path / "build", formats=("json",))
    assert len(list((tmp_path / CACHE_DIR).glob("*.pickle"))) == 2
    assert len(list((tmp_path / CACHE_DIR).glob("*.json"))) == 2
    (content / "b.md").unlink()
    _build(content, tmp_path / "build", formats=("json",))
    assert len(list((tmp_path / CACHE_DIR).glob("*.pickle"))) == 1
    assert len(list((tmp_path / CACHE_DIR).glob("*.json"))) == 1


def test_an_unchanged_file_is_not_encoded_again_unless_its_ids_changed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    encoded: list[str] = []
    real = jsonfile.card_record

    def counting(card: Card) -> dict[str, object]:
        encoded.append(card.question)
        return real(card)

    monkeypatch.setattr(jsonfile, "card_record", counting)
    content = _notes(tmp_path / "content", **TWO, **{"c.md": "## u\n\n1. r？\n\n   b。\n"})
    first = _build(content, tmp_path / "build", formats=("json",))
    assert encoded == ["q？", "r？"]
    _edit(content / "c.md")
    edited = _build(content, tmp_path / "build", formats=("json",))
    assert encoded[2:] == ["r？", "新问题？"]  # a.md's lines were copied from the cache
    assert edited == _build(content, tmp_path / "plain", formats=("json",), cache=False)
    # The same file, another id (an older lock restored, say): encoded again, never stale.
    lock = content / "cardsmith.lock.json"
    old_id = json.loads(first["cards.json"])["cards"][0]["id"]
    lock.write_text(lock.read_text("utf-8").replace(old_id, "csRESTORED01"), "utf-8")
    del encoded[:]
    again = _build(content, tmp_path / "build", formats=("json",))
    assert encoded == ["q？"]
    assert json.loads(again["cards.json"])["cards"][0]["id"] == "csRESTORED01"


def test_a_failed_build_and_check_write_no_cache(tmp_path: Path, compiled: list[str]) -> None:
    content = _notes(tmp_path / "content", **{"a.md": "## s\n\n1. q？\n\n   [x](../../out.md)\n"})
    with pytest.raises(ContentError):
        build(load_config(content, out=tmp_path / "build", formats=("json",)))
    check(load_config(content, out=tmp_path / "build"))
    assert not (tmp_path / CACHE_DIR).exists()
    assert compiled == ["a.md", "a.md"]


def test_the_cache_is_beside_the_output_folder(tmp_path: Path) -> None:
    content = _notes(tmp_path / "content", **{"a.md": "## s\n"})
    _build(content, tmp_path / "site" / "out", formats=("json",))
    assert sorted(p.name for p in (tmp_path / "site").iterdir()) == [CACHE_DIR, "out"]
    assert Config(out=Path("build")).out.parent == Path(".")


def test_a_killed_builds_temporary_files_are_removed_a_running_ones_kept(tmp_path: Path) -> None:
    content = _notes(tmp_path / "content", **TWO)
    _build(content, tmp_path / "build", formats=("json",))
    cache = tmp_path / CACHE_DIR
    dead = cache / ".4194304999.abc123.tmp"  # a pid no process has
    alive = cache / f".{os.getppid()}.abc123.tmp"
    for temp in (dead, alive):
        temp.write_bytes(b"half")
    _build(content, tmp_path / "build", formats=("json",))
    assert not dead.exists() and alive.exists()


def test_every_setting_is_keyed_or_known_not_to_shape_a_compiled_card() -> None:
    # A new setting must be sorted into one list or the other before the cache can serve it.
    fields = {f.name for f in dataclasses.fields(Config)}
    keyed = {*cache_module.COMPILE_SETTINGS, "content", "titles"}
    assert keyed.isdisjoint(cache_module.OTHER_SETTINGS)
    assert keyed | cache_module.OTHER_SETTINGS == fields


def test_a_question_level_set_after_the_hint_takes_effect_at_once(tmp_path: Path) -> None:
    notes = "# 分布式\n\n### 什么是 CAP 定理？\n\n一致性、可用性、分区容错。\n"
    content = _notes(tmp_path / "content", **{"dist.md": notes})
    first = build(load_config(content, out=tmp_path / "build", formats=("json",)))
    assert [d.code for d in first.diagnostics] == ["no-questions"]
    (content / "cardsmith.toml").write_text("question_level = 3\n", encoding="utf-8")
    again = build(load_config(content, out=tmp_path / "build", formats=("json",)))
    assert again.diagnostics == ()
    cards = json.loads((tmp_path / "build" / "cards.json").read_text("utf-8"))["cards"]
    assert [c["question"] for c in cards] == ["什么是 CAP 定理？"]


def test_a_long_running_build_keeps_records_in_memory_and_judges_them_again(
    tmp_path: Path, compiled: list[str]
) -> None:
    # watch and preview: a rebuild reads no entry of an unchanged file (the disk cache is
    # removed here to prove it), yet an image changed on disk is still a miss.
    content = _notes(
        tmp_path / "content",
        **{"a.md": "## s\n\n1. q？\n\n   ![图](x.png)\n", "b.md": "## t\n\n1. p？\n\n   a。\n"},
    )
    (content / "x.png").write_bytes(PNG)
    config = load_config(content, out=tmp_path / "build", formats=("json", "apkg"))
    with Resident() as resident:
        build(config, resident=resident)
        shutil.rmtree(tmp_path / CACHE_DIR)
        _edit(content / "b.md")
        build(config, resident=resident)
        assert compiled == ["a.md", "b.md", "b.md"]
        (content / "x.png").write_bytes(tiny_png(2))
        build(config, resident=resident)
        assert compiled == ["a.md", "b.md", "b.md", "a.md"]
        kept = {p.name: p.read_bytes() for p in (tmp_path / "build").iterdir() if p.name in OUTPUTS}
        assert kept == _build(content, tmp_path / "plain", formats=("json", "apkg"), cache=False)
        (content / "b.md").unlink()
        build(config, resident=resident)
        assert sorted(resident.records.records) == [("a.md", False)]  # a deleted file's let go


def test_no_cache_keeps_nothing_in_memory(tmp_path: Path, compiled: list[str]) -> None:
    content = _notes(tmp_path / "content", **TWO)
    config = load_config(content, out=tmp_path / "build", formats=("json",), cache=False)
    with Resident() as resident:
        build(config, resident=resident)
        build(config, resident=resident)
    assert compiled == ["a.md", "b.md", "a.md", "b.md"] and not resident.records.records


def test_the_lock_a_long_running_build_keeps_is_the_lock_file_read_again(
    tmp_path: Path,
) -> None:
    # watch keeps the lock it wrote and skips parsing the file while it holds those bytes:
    # that is only right if the file reads back as exactly that lock.
    content = tmp_path / "content"
    shutil.copytree(SEEDS, content)
    config = load_config(content, out=tmp_path / "build", formats=("json",))
    with Resident() as resident:
        build(config, resident=resident)
        assert resident.lock is not None
        data, kept = resident.lock
        assert config.lock_path.read_bytes() == data
        assert load_lock(config.lock_path) == kept
        assert load_lock(config.lock_path, resident.lock) is kept
        config.lock_path.write_bytes(data.replace(b'"version": 2', b'"version":  2', 1))
        assert load_lock(config.lock_path, resident.lock) is not kept  # other bytes: read
        assert load_lock(config.lock_path, resident.lock) == kept


@pytest.fixture
def carded(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The questions whose cards each compile makes (not taken from an earlier compile)."""
    made: list[str] = []
    parser = parse_module._FileParser
    real = parser.compile_card

    def counting(self: parse_module._FileParser, source: parse_module._CardSource) -> None:
        made.append(source.question)
        real(self, source)

    monkeypatch.setattr(parser, "compile_card", counting)
    return made


def test_an_edited_file_reuses_the_unchanged_cards_of_its_entry(
    tmp_path: Path, carded: list[str]
) -> None:
    # A fresh build (no watch): the file's last entry on disk gives the cards that did not
    # change; a damaged entry gives none, and the outputs are the same bytes either way.
    text = "## s\n\n1. q？\n\n   a。\n\n2. p？\n\n   b。\n"
    content = _notes(tmp_path / "content", **{"a.md": text})
    _build(content, tmp_path / "build")
    assert carded == ["q？", "p？"]
    (content / "a.md").write_text(text.replace("b。", "改。"), encoding="utf-8")
    edited = _build(content, tmp_path / "build")
    assert carded == ["q？", "p？", "p？"]
    assert edited == _build(content, tmp_path / "plain", cache=False)
    del carded[:]
    (entry,) = (tmp_path / CACHE_DIR).glob("*.pickle")
    entry.write_bytes(entry.read_bytes()[:-1])  # cut short: never read
    (content / "a.md").write_text(text, encoding="utf-8")
    again = _build(content, tmp_path / "build")
    assert carded == ["q？", "p？"]
    assert again == _build(content, tmp_path / "plain2", cache=False)


def test_cards_of_an_entry_compiled_under_other_settings_are_not_reused(
    tmp_path: Path, carded: list[str]
) -> None:
    text = "## s\n\n1. q？\n\n   a。\n\n2. p？\n\n   b。\n"
    content = _notes(tmp_path / "content", **{"a.md": text})
    _build(content, tmp_path / "build")
    (content / "cardsmith.toml").write_text('root_deck = "别的"\n', encoding="utf-8")
    (content / "a.md").write_text(text.replace("b。", "改。"), encoding="utf-8")
    other = _build(content, tmp_path / "build")
    assert carded == ["q？", "p？", "q？", "p？"]
    assert other == _build(content, tmp_path / "plain", cache=False)


def test_a_long_running_build_reads_a_file_again_whenever_it_may_have_changed(
    tmp_path: Path, compiled: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # watch hashes a note file or a kept cards.json fragment once, and then trusts it while
    # its inode, size and times are the same. Written in place with the same size and its
    # modification time put back, a file still has a new change time: read again.
    content = _notes(tmp_path / "content", **TWO, **{"c.md": "## u\n\n1. r？\n\n   b。\n"})
    config = load_config(content, out=tmp_path / "build", formats=("json",))
    name = hashlib.sha256(b"c.md\0False").hexdigest()[:32]
    fragment = tmp_path / CACHE_DIR / f"{name}.json"  # c.md's lines of cards.json
    with Resident() as resident:
        build(config, resident=resident)
        # Changed a moment ago: not trusted (a second write in the same tick would not show).
        assert content / "a.md" not in resident.records.hashed
        monkeypatch.setattr(cache_module, "_SETTLED_NS", 0)
        build(config, resident=resident)  # reads and hashes again, and trusts from now on
        assert {content / "a.md", content / "c.md", fragment} <= set(resident.records.hashed)
        build(config, resident=resident)
        assert compiled == ["a.md", "b.md", "c.md"]
        for path, old, new in ((content / "a.md", "a。", "b。"), (fragment, '"r', '"R')):
            before = path.stat()
            path.write_bytes(path.read_bytes().replace(old.encode(), new.encode()))
            os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))
            assert path.stat().st_size == before.st_size
            build(config, resident=resident)
        assert compiled == ["a.md", "b.md", "c.md", "a.md"]
        kept = (tmp_path / "build" / "cards.json").read_text("utf-8")
    plain = _build(content, tmp_path / "plain", formats=("json",), cache=False)
    assert kept.encode() == plain["cards.json"]
    assert '"b。' in kept and '"r？' in kept and '"R' not in kept


def test_a_long_running_build_checks_again_only_the_files_whose_cards_changed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    content = _notes(
        tmp_path / "content",
        **{
            "a.md": "## s\n\n1. 没有答案？\n\n1. 代码？\n\n   ```\n   x = 1\n   ```\n",
            "b.md": "## t\n\n1. 图？\n\n   ![远](https://example.com/x.png)\n",
        },
    )
    checked: list[str] = []
    first_check = validate_module.CHECKS[0]

    def counted(cards: Sequence[Card], root: Path) -> Iterable[Diagnostic]:
        checked.extend(card.source.path for card in cards)
        return first_check[1](cards, root)

    monkeypatch.setattr(
        validate_module, "CHECKS", ((first_check[0], counted), *validate_module.CHECKS[1:])
    )
    # With the PDF: b.md's one problem, its remote image, is the PDF's.
    config = load_config(content, out=tmp_path / "build", formats=("json", "pdf"))
    with Resident() as resident:
        first = build(config, resident=resident).diagnostics
        assert sorted(set(checked)) == ["a.md", "b.md"]
        del checked[:]
        (content / "a.md").write_text("## s\n\n1. 没有答案？\n", "utf-8")
        again = build(config, resident=resident).diagnostics
        assert checked == ["a.md"]  # b.md's cards are the ones checked last time
    assert {d.code for d in first} == {"unanswered", "fence-language", "remote-image"}
    assert again == check(config).collection.diagnostics
    assert {d.code for d in again} == {"unanswered", "remote-image"}


def test_a_long_running_build_makes_again_only_the_package_rows_of_changed_cards(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    content = _notes(
        tmp_path / "content",
        **{
            "a.md": "## s\n\n1. 甲？\n\n   答甲。\n\n1. 乙？\n\n   ![图](x.png)\n",
            "b.md": "## t\n\n1. 丙？\n\n   答丙。\n",
        },
    )
    (content / "x.png").write_bytes(PNG)
    made: list[str] = []
    real = anki_module.note_fields

    def counted(card: Card, *args: object) -> tuple[str, ...]:
        made.append(card.question)
        return real(card, *args)  # type: ignore[arg-type]

    monkeypatch.setattr(anki_module, "note_fields", counted)
    config = load_config(content, out=tmp_path / "build", formats=("apkg",))
    with Resident() as resident:
        build(config, resident=resident)
        build(config, resident=resident)  # every card settled: only the image's row again
        del made[:]
        (content / "b.md").write_text("## t\n\n1. 丙？\n\n   答丙，改了。\n", "utf-8")
        build(config, resident=resident)
        assert made == ["乙？", "丙？"]
        kept = (tmp_path / "build" / "cardsmith.apkg").read_bytes()
    assert (
        kept
        == _build(content, tmp_path / "plain", formats=("apkg",), cache=False)["cardsmith.apkg"]
    )


def test_an_obsidian_embed_found_by_name_is_a_hit_on_the_next_build(
    tmp_path: Path, compiled: list[str]
) -> None:
    # ![[x.png]] names an image stored elsewhere in the folder, as Obsidian finds it; judged
    # again without looking for it by name, it was "missing", and its file never a hit.
    content = _notes(tmp_path / "content", **{"a.md": "## s\n\n1. 图？\n\n   ![[x.png]]\n"})
    (content / "img").mkdir()
    (content / "img" / "x.png").write_bytes(PNG)
    first = _build(content, tmp_path / "build", formats=("json",))
    again = _build(content, tmp_path / "build", formats=("json",))
    assert compiled == ["a.md"] and again == first
    assert json.loads(first["cards.json"])["cards"][0]["images"] == ["x.png"]


@pytest.mark.usefixtures("workers_at_any_size")
def test_entries_the_workers_wrote_are_the_next_builds_hits(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Notes large enough for workers: each worker writes the entry of the file it compiled.
    # The workers are other processes: each compile is written down in a file.
    build_module = sys.modules["pipeline.build"]
    log = tmp_path / "compiled.txt"
    real: Callable[..., tuple[ParsedFile, object]] = build_module.compile_file

    def logged(root: Path, path: str, *args: object, **kwargs: object) -> tuple[ParsedFile, object]:
        with log.open("a", encoding="utf-8") as out:
            out.write(f"{os.getpid()} {path}\n")
        return real(root, path, *args, **kwargs)

    def written(self: cache_module.Entry, parsed: ParsedFile) -> tuple[bytes, Path | None]:
        found = real_write(self, parsed)
        with log.open("a", encoding="utf-8") as out:
            out.write(f"{os.getpid()} wrote {parsed.path}\n")
        return found

    real_write = cache_module.Entry.write
    monkeypatch.setattr(build_module, "compile_file", logged)
    monkeypatch.setattr(cache_module.Entry, "write", written)
    content = tmp_path / "content"
    shutil.copytree(SEEDS, content)
    first = _build(content, tmp_path / "build", workers=2)
    compiles = log.read_text("utf-8").split("\n")[:-1]
    assert sorted(c.split()[-1] for c in compiles) == sorted(["nlp.md", "python.md"] * 2)
    assert str(os.getpid()) not in {c.split()[0] for c in compiles}  # in the workers
    assert not [p.name for p in (tmp_path / CACHE_DIR).iterdir() if p.suffix == ".tmp"]
    assert _build(content, tmp_path / "build", workers=2) == first
    assert log.read_text("utf-8").split("\n")[:-1] == compiles  # every file a hit


@pytest.mark.usefixtures("workers_at_any_size")
def test_entries_the_workers_wrote_for_a_failed_build_are_removed(tmp_path: Path) -> None:
    broken = {"c.md": "## s\n\n1. q？\n\n   [x](../../x.md)\n"}
    content = _notes(tmp_path / "content", **TWO, **broken)
    with pytest.raises(ContentError):
        build(load_config(content, out=tmp_path / "build", formats=("json",), workers=2))
    assert not [p for p in (tmp_path / CACHE_DIR).iterdir() if p.name != "CACHEDIR.TAG"]
    check(load_config(content, out=tmp_path / "build", workers=2))  # a check saves nothing
    assert not [p for p in (tmp_path / CACHE_DIR).iterdir() if p.name != "CACHEDIR.TAG"]
