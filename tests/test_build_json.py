"""``cardsmith build --format json``: schema-valid, deterministic, atomic."""

from __future__ import annotations

import gc
import json
import shutil
import sys
from pathlib import Path

import jsonschema
import pytest

from pipeline import ContentError, EnvironmentProblem, build, load_config, resources
from tests.conftest import FIXTURES, SEEDS


def _copy_content(tmp_path: Path) -> Path:
    target = tmp_path / "content"
    shutil.copytree(SEEDS, target)
    return target


def _schema() -> dict[str, object]:
    text = resources.cards_schema().read_text(encoding="utf-8")
    return json.loads(text)  # type: ignore[no-any-return]


def test_seed_cards_json_validates_against_the_shipped_schema(tmp_path: Path) -> None:
    content = _copy_content(tmp_path)
    build(load_config(content, out=tmp_path / "out", formats=("json",)))
    data = json.loads((tmp_path / "out" / "cards.json").read_text("utf-8"))
    jsonschema.validate(data, _schema())
    assert len(data["cards"]) == 184
    assert [c["source"]["path"] for c in data["cards"]] == sorted(
        c["source"]["path"] for c in data["cards"]
    )
    first = data["cards"][0]
    assert first["question"] == "BERT基本结构" and first["source"] == {"path": "nlp.md", "line": 2}


def test_schema_rejects_a_card_without_id() -> None:
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({"schema_version": 1, "cards": [{"question": "q"}]}, _schema())


def _cards_json(content: Path, out: Path, **options: object) -> bytes:
    build(load_config(content, out=out, formats=("json",), **options))
    return (out / "cards.json").read_bytes()


def test_same_input_gives_same_bytes(tmp_path: Path) -> None:
    content = _copy_content(tmp_path)
    assert _cards_json(content, tmp_path / "a") == _cards_json(content, tmp_path / "b", workers=1)


def test_parallel_and_serial_parsing_agree(tmp_path: Path) -> None:
    content = tmp_path / "content"
    content.mkdir()
    text = (SEEDS / "python.md").read_text("utf-8")
    for i in range(6):  # large enough to use the worker processes
        (content / f"part{i}.md").write_text(text, encoding="utf-8")
    parallel = _cards_json(content, tmp_path / "par", workers=2)
    assert parallel == _cards_json(content, tmp_path / "ser", workers=1)


def test_a_failed_build_writes_nothing(tmp_path: Path) -> None:
    content = tmp_path / "content"
    shutil.copytree(FIXTURES / "check" / "path_outside", content)
    out = tmp_path / "out"
    with pytest.raises(ContentError) as err:
        build(load_config(content, out=out, formats=("json",)))
    assert {d.code for d in err.value.diagnostics} >= {"outside-content"}
    assert not out.exists()
    assert not (content / "cardsmith.lock.json").exists()


def test_a_rebuild_replaces_outputs_whole(tmp_path: Path) -> None:
    content = _copy_content(tmp_path)
    out = tmp_path / "out"
    build(load_config(content, out=out, formats=("json",)))
    build(load_config(content, out=out, formats=("json",)))
    assert sorted(p.name for p in out.iterdir()) == ["cards.json", "cardsmith.report.json"]


def test_a_build_failing_in_a_later_exporter_keeps_the_old_outputs(tmp_path: Path) -> None:
    # cards.json is streamed out before the PDF fails its font check: it must not show.
    content = _copy_content(tmp_path)
    out = tmp_path / "out"
    build(load_config(content, out=out, formats=("json",)))
    before = (out / "cards.json").read_bytes()
    notes = content / "python.md"
    notes.write_text(notes.read_text(encoding="utf-8") + "\n1. 新问题？\n   新答案。\n", "utf-8")
    with pytest.raises(EnvironmentProblem, match="not installed"):
        build(load_config(content, out=out, formats=("json", "pdf"), fonts=("No Such Font",)))
    assert (out / "cards.json").read_bytes() == before
    assert sorted(p.name for p in out.iterdir()) == ["cards.json", "cardsmith.report.json"]


def _cyclic_garbage_of_build(content: Path, out: Path) -> int:
    gc.collect()
    enabled = gc.isenabled()
    gc.disable()
    try:
        # One worker: everything runs in this process, where the collector can count it.
        build(load_config(content, out=out, formats=("json", "apkg", "pdf"), workers=1))
        return gc.collect()
    finally:
        if enabled:
            gc.enable()


def test_a_build_leaves_no_cyclic_garbage_that_grows_with_the_notes(tmp_path: Path) -> None:
    # build() runs with the cycle collector off; that is only safe if this stays small.
    content = _copy_content(tmp_path)
    once = _cyclic_garbage_of_build(content, tmp_path / "once")
    for n in range(4):  # five times the notes
        for note in SEEDS.glob("*.md"):
            shutil.copy(note, content / f"copy{n}-{note.name}")
    five_times = _cyclic_garbage_of_build(content, tmp_path / "five")
    assert once < 1000
    assert five_times < once + 100


@pytest.mark.parametrize(
    ("case", "strict"), [("path_outside", False), ("not_utf8", False), ("unanswered", True)]
)
def test_a_content_problem_stops_the_build_before_any_exporter_runs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, case: str, strict: bool
) -> None:
    # Cheap checks come first: a link leaving the content folder must not wait for (or be
    # hidden behind) seconds of typesetting, nor leave anything written.
    ran: list[str] = []
    monkeypatch.setattr(sys.modules["pipeline.build"], "exporter", ran.append)
    content = tmp_path / "content"
    shutil.copytree(FIXTURES / "check" / case, content)
    with pytest.raises(ContentError) as caught:
        build(load_config(content, out=tmp_path / "out"), strict=strict)
    assert ran == []
    assert caught.value.diagnostics
    assert not (tmp_path / "out").exists()
    assert not (content / "cardsmith.lock.json").exists()


def test_outputs_an_earlier_build_left_are_named_never_deleted(tmp_path: Path) -> None:
    content = tmp_path / "content"
    shutil.copytree(FIXTURES / "check" / "clean", content)
    out = tmp_path / "out"
    build(load_config(content, out=out, formats=("json", "apkg")))
    (content / "cardsmith.toml").write_text('package_name = "mydeck"\n', encoding="utf-8")
    result = build(load_config(content, out=out, formats=("json", "apkg")))
    assert result.left == (out / "cardsmith.apkg",)  # the package under its old name
    assert (out / "cardsmith.apkg").is_file() and (out / "mydeck.apkg").is_file()
    again = build(load_config(content, out=out, formats=("json",)))
    assert again.left == (out / "cardsmith.apkg", out / "mydeck.apkg")


def test_the_output_names_a_build_looks_for_are_the_exporters_own() -> None:
    from pipeline.build import OUTPUT_NAMES
    from pipeline.export import jsonfile, pdf

    assert OUTPUT_NAMES == {"json": jsonfile.FILE_NAME, "apkg": "*.apkg", "pdf": pdf.FILE_NAME}


def test_the_written_files_are_listed_in_the_order_of_the_formats(tmp_path: Path) -> None:
    # The package's exporter runs first (it zips in the background), whatever the order.
    content = tmp_path / "content"
    content.mkdir()
    (content / "a.md").write_text("## s\n\n1. q？\n\n   a。\n", encoding="utf-8")
    for formats in (("json", "apkg"), ("apkg", "json")):
        result = build(load_config(content, out=tmp_path / "out", formats=formats))
        names = [path.name for path in result.files]
        want = {"json": "cards.json", "apkg": "cardsmith.apkg"}
        assert names == [*(want[f] for f in formats), "cardsmith.report.json"]
