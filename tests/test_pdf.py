"""The PDF cheat sheet, read back with poppler (pdftotext, pdffonts, pdfinfo)."""

from __future__ import annotations

import contextlib
import gc
import os
import re
import shutil
import signal
import struct
import subprocess
import sys
import time
import zlib
from pathlib import Path
from typing import Any

import pytest

from pipeline import ContentError, EnvironmentProblem, build, check, fontcheck, load_config
from pipeline.build import parse_all
from pipeline.errors import ConfigError, FileProblem
from pipeline.export import pdf
from pipeline.export.outputs import Outputs
from pipeline.identity import identify
from pipeline.records import BuildData
from tests.conftest import FIXTURES, SEEDS, golden

pytestmark = pytest.mark.skipif(
    shutil.which("pdftotext") is None, reason="poppler-utils missing: run make test"
)


def _poppler(tool: str, path: Path, *args: str) -> str:
    return subprocess.run(
        [tool, *args, str(path), *(["-"] if tool == "pdftotext" else [])],
        capture_output=True,
        text=True,
        check=True,
    ).stdout


def _build_pdf(content: Path, out: Path, **options: object) -> Path:
    build(load_config(content, out=out, formats=("pdf",), **options))
    return out / pdf.FILE_NAME


@pytest.fixture(scope="module")
def seed_pdf(tmp_path_factory: pytest.TempPathFactory) -> Path:
    tmp = tmp_path_factory.mktemp("seeds")
    shutil.copytree(SEEDS, tmp / "content")
    return _build_pdf(tmp / "content", tmp / "out")


def _png() -> bytes:
    """A valid 2x2 grey PNG, made here so the test needs no image library."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", 2, 2, 8, 0, 0, 0, 0)
    pixels = zlib.compress(b"\x00\x80\x80" * 2)
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", pixels) + chunk(b"IEND", b"")
    )


def _squash(text: str) -> str:
    return re.sub(r"\s+", "", text)


def test_every_answered_question_is_printed_in_order(seed_pdf: Path) -> None:
    text = _squash(_poppler("pdftotext", seed_pdf, "-raw"))  # content order, column by column
    cards = check(load_config(SEEDS)).collection.cards
    position = text.index("Transformer")  # after the table of contents
    for card in (c for c in cards if c.answered):
        question = _squash(re.sub(r"[*`]", "", card.question))
        found = text.find(question, position)
        assert found >= 0, card.question
        position = found + len(question)


def test_unanswered_questions_are_listed_at_the_end(seed_pdf: Path) -> None:
    text = _squash(_poppler("pdftotext", seed_pdf))
    todo = text.rindex(pdf.TODO_TITLE)
    assert text.find("模型评估指标有哪些", todo) > todo
    assert text.find("解释Python中的鸭子类型", todo) > todo


def test_every_font_is_embedded_and_cjk_is_noto(seed_pdf: Path) -> None:
    rows = _poppler("pdffonts", seed_pdf).splitlines()[2:]
    assert rows
    for row in rows:
        columns = row.split()
        assert columns[-5] == "yes", row  # emb
    names = " ".join(rows)
    assert "NotoSansCJKsc-Regular" in names and "DejaVuSansMono" in names


def test_page_count_and_size_are_plausible(seed_pdf: Path) -> None:
    info = _poppler("pdfinfo", seed_pdf)
    pages = int(re.search(r"Pages:\s+(\d+)", info).group(1))  # type: ignore[union-attr]
    assert 12 <= pages <= 40  # 166 answered questions, two columns of A4
    assert "595.276 x 841.89" in info


def test_letter_one_column_and_filters(tmp_path: Path) -> None:
    shutil.copytree(SEEDS, tmp_path / "content")
    out = _build_pdf(
        tmp_path / "content",
        tmp_path / "o",
        paper="us-letter",
        columns=1,
        pdf_decks=("面试题::NLP::Python",),
        pdf_todo=False,
    )
    assert "612 x 792" in _poppler("pdfinfo", out)
    text = _squash(_poppler("pdftotext", out))
    assert "修饰器的概念" in text and "什么是Pandas" not in text
    assert pdf.TODO_TITLE not in text
    tagged = _build_pdf(tmp_path / "content", tmp_path / "t", pdf_tags=("section::Pandas面试问题",))
    tagged_text = _squash(_poppler("pdftotext", tagged))
    assert "什么是Pandas" in tagged_text and "BERT基本结构" not in tagged_text


def test_deck_and_tag_compare_without_case_as_in_anki() -> None:
    cards = parse_all(load_config(SEEDS)).cards
    by_deck = pdf.selected(cards, load_config(SEEDS, pdf_decks=("面试题::nlp::python",)))
    assert by_deck and {c.deck.path.split("::")[2] for c in by_deck} == {"Python"}
    by_tag = pdf.selected(cards, load_config(SEEDS, pdf_tags=("SECTION::Pandas面试问题",)))
    assert by_tag and all("section::Pandas面试问题" in c.tags for c in by_tag)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"pdf_decks": ("面试题::NLPP",)}, "--deck 面试题::NLPP selects none (decks: 面试题::"),
        ({"pdf_tags": ("section::nothing",)}, "--tag section::nothing selects none"),
        (
            {"pdf_decks": ("面试题::NLP::Python",), "pdf_tags": ("section::Pandas面试问题",)},
            "no card has all of --deck 面试题::NLP::Python --tag section::Pandas面试问题",
        ),
    ],
)
def test_a_filter_that_selects_no_card_writes_nothing(
    tmp_path: Path, options: dict[str, Any], message: str
) -> None:
    # A typo'd deck printed an empty sheet over the last one, and the build said nothing.
    shutil.copytree(FIXTURES / "check" / "clean", tmp_path / "content")
    earlier = _build_pdf(tmp_path / "content", tmp_path / "o").read_bytes()
    shutil.rmtree(tmp_path / "content")
    shutil.copytree(SEEDS, tmp_path / "content")
    with pytest.raises(ConfigError, match="the PDF would print no card: ") as raised:
        _build_pdf(tmp_path / "content", tmp_path / "o", **options)
    assert message in str(raised.value) and str(raised.value).endswith("nothing was written")
    assert (tmp_path / "o" / pdf.FILE_NAME).read_bytes() == earlier


def test_a_long_word_of_code_wraps_inside_the_column(tmp_path: Path) -> None:
    # A base64 line or a long string in code ran past the page and was cut (the eleventh
    # trial): it wraps, and every character is still in the PDF's text.
    blob = "QUJD" * 50
    long = "a" * 300
    (tmp_path / "content").mkdir()
    (tmp_path / "content" / "n.md").write_text(
        "## 长行\n\n#### 1. 长的代码行会被截断吗？\n\n"
        f'```bash\necho {blob}ZEND\n```\n\n```python\nx = "{long}END"\n```\n\n'
        f"行内 `{blob}QEND` 也一样。\n",
        "utf-8",
    )
    out = _build_pdf(tmp_path / "content", tmp_path / "o", columns=2)
    text = _squash(_poppler("pdftotext", out, "-raw"))
    for whole in (f"echo{blob}ZEND", f'x="{long}END"', f"{blob}QEND"):
        assert whole in text


def test_a_question_taller_than_a_column_is_printed_whole(tmp_path: Path) -> None:
    # With a short answer it was kept in one piece, and ran off the page: 211 of its 400
    # phrases printed (the thirty-fourth trial).
    content = tmp_path / "content"
    content.mkdir()
    asked = "请解释这个很长的题干" * 400
    (content / "n.md").write_text(
        f"## 节\n\n1. {asked}？\n\n   短答。\n\n2. 下一题？\n\n   下一个答案。\n", "utf-8"
    )
    text = _poppler("pdftotext", _build_pdf(content, tmp_path / "out"), "-raw")
    # A page's footer and header stand between the two halves of a phrase cut by the page.
    body = re.sub(r"\d+/\d+面试题速查节", "", _squash(text))
    assert body.count("请解释这个很长的题干") == 400
    assert "短答。" in body and "下一个答案。" in body


def test_same_input_gives_the_same_pdf(tmp_path: Path) -> None:
    shutil.copytree(FIXTURES / "check" / "clean", tmp_path / "content")
    first = _build_pdf(tmp_path / "content", tmp_path / "a").read_bytes()
    second = _build_pdf(tmp_path / "content", tmp_path / "b").read_bytes()
    assert first == second


def test_long_code_lines_wrap_inside_the_column(tmp_path: Path) -> None:
    content = tmp_path / "content"
    content.mkdir()
    long_line = (
        "model = torchvision.models.detection.fasterrcnn_resnet50_fpn(pretrained=True, n=91)"
    )
    (content / "n.md").write_text(f"## s\n#### 1. q\n\n```python\n{long_line}\n```\n", "utf-8")
    out = _build_pdf(content, tmp_path / "o")
    layout = _poppler("pdftotext", out, "-layout")
    assert "fasterrcnn" in layout
    assert not any(long_line in line for line in layout.splitlines())  # it was broken up


def test_missing_image_is_a_visible_placeholder(tmp_path: Path) -> None:
    shutil.copytree(FIXTURES / "check" / "missing_image", tmp_path / "content")
    result = build(load_config(tmp_path / "content", out=tmp_path / "o", formats=("pdf",)))
    assert [d.code for d in result.diagnostics] == ["missing-image"]
    assert "图片缺失: figure.png" in _poppler("pdftotext", tmp_path / "o" / pdf.FILE_NAME)


def test_a_present_image_is_embedded(tmp_path: Path) -> None:
    content = tmp_path / "content"
    content.mkdir()
    (content / "dot.png").write_bytes(_png())
    (content / "n.md").write_text("## s\n#### 1. 图？\n\n![dot](dot.png)\n", "utf-8")
    out = _build_pdf(content, tmp_path / "o")
    assert "图片缺失" not in _poppler("pdftotext", out)
    images = _poppler("pdfimages", out, "-list").splitlines()[2:]
    assert [row.split()[3:5] for row in images] == [["2", "2"]]  # the 2x2 image, embedded


def test_a_character_no_font_covers_is_a_content_error_at_its_line(tmp_path: Path) -> None:
    content = tmp_path / "content"
    content.mkdir()
    (content / "n.md").write_text("## s\n#### 1. 象形文字？\n\n𓀀 是埃及象形文字。\n", "utf-8")
    with pytest.raises(ContentError) as err:
        _build_pdf(content, tmp_path / "o")
    (problem,) = err.value.diagnostics
    assert (problem.path, problem.line, problem.code) == ("n.md", 4, "font-coverage")
    # The advice names a font that has the character, not the CJK font already installed.
    assert "U+13000 𓀀" in problem.message and "Egyptian Hieroglyphs" in problem.message
    assert "fonts-noto-cjk" not in problem.message
    assert not (tmp_path / "o").exists()
    # A build without a PDF does not need the font.
    build(load_config(content, out=tmp_path / "j", formats=("json",)))


def test_a_character_only_the_code_font_has_prints_in_code_and_is_an_error_in_prose(
    tmp_path: Path,
) -> None:
    # ⌊ (U+230A) is in DejaVu Sans Mono, not in Noto Sans CJK (the twenty-second trial:
    # a LeetCode note's `⌊x⌋` stopped its build).
    assert ord("⌊") not in fontcheck._covered(("Noto Sans CJK SC",))
    content = tmp_path / "content"
    content.mkdir()
    note = content / "n.md"
    note.write_text("## s\n#### 1. 下取整？\n\n写作 `⌊x⌋`：\n\n```\nfloor = ⌊x⌋\n```\n", "utf-8")
    out = _build_pdf(content, tmp_path / "o")
    assert _poppler("pdftotext", out).count("⌊x⌋") == 2
    note.write_text("## s\n#### 1. 下取整？\n\n写作 `⌊x⌋`，读作 ⌊ 与 ⌋。\n", "utf-8")
    with pytest.raises(ContentError) as err:
        _build_pdf(content, tmp_path / "p")
    assert {(d.line, d.code) for d in err.value.diagnostics} == {(4, "font-coverage")}
    assert {d.message.split()[4] for d in err.value.diagnostics} == {"U+230A", "U+230B"}


def test_font_check_names_a_font_that_is_not_installed(tmp_path: Path) -> None:
    shutil.copytree(FIXTURES / "check" / "clean", tmp_path / "content")
    with pytest.raises(EnvironmentProblem, match="'No Such Font Sans' is not installed"):
        _build_pdf(tmp_path / "content", tmp_path / "o", fonts=("No Such Font Sans",))


def test_pdf_has_bookmarks_for_files_and_sections(seed_pdf: Path) -> None:
    data = seed_pdf.read_bytes()
    items = re.findall(rb"<</Parent \d+ 0 R[^>]*?/Title", data)  # pages have no /Title
    assert len(items) == 2 + 12 + 1  # two files, their twelve sections, the "to answer" page
    assert b"/Type/Outlines/First" in data and b"/Title(Transformer)" in data


def test_a_file_without_sections_prints_its_title_once(tmp_path: Path) -> None:
    # The questions before a file's first section filed under a heading of the file's own
    # name, printed again right below it (the thirty-fourth trial).
    content = tmp_path / "content"
    content.mkdir()
    (content / "机器学习.md").write_text(
        "1. 什么是过拟合？\n\n   记住了训练数据。\n\n"
        "## 正则化\n\n1. 什么是 L2？\n\n   权重衰减。\n",
        "utf-8",
    )
    cards = check(load_config(content)).collection.cards
    source = pdf.document(cards, load_config(content))
    headings = [line for line in source.splitlines() if line.startswith(("= ", "== "))]
    assert headings == ["= 机器学习", "== 正则化"]
    text = _poppler("pdftotext", _build_pdf(content, tmp_path / "out"), "-raw")
    assert "什么是过拟合？" in text and "什么是 L2？" in text


def test_parallel_and_serial_conversion_agree(tmp_path: Path) -> None:
    content = tmp_path / "content"
    content.mkdir()
    text = (SEEDS / "python.md").read_text("utf-8")
    for i in range(5):  # 675 answered questions: two slices, converted in two processes
        (content / f"part{i}.md").write_text(text, encoding="utf-8")
    cards = check(load_config(content)).collection.cards
    serial = pdf.document(cards, load_config(content, workers=1))
    assert pdf.document(cards, load_config(content, workers=2)) == serial
    assert serial.count("#qa(") == 5 * 135


def test_reading_a_fonts_coverage_leaves_no_cycles() -> None:
    # Builds run without the cycle collector; a CJK font's tables in a cycle would stay as
    # 60 MB of garbage.
    fontcheck.installed_fonts()
    gc.collect()
    enabled = gc.isenabled()
    gc.disable()
    try:
        assert fontcheck.coverage.__wrapped__("Noto Sans CJK SC")
        assert gc.collect() == 0
    finally:
        if enabled:
            gc.enable()


RENDER_CASES = sorted(p for p in (FIXTURES / "render").iterdir() if p.is_dir())


@pytest.mark.parametrize("folder", RENDER_CASES, ids=[p.name for p in RENDER_CASES])
def test_fixture_prints_expected_text(folder: Path, tmp_path: Path) -> None:
    # The sheet prints what the card shows: its text (from page 2, after the contents)
    # beside the card records in expected.json.
    shutil.copytree(folder, tmp_path / "content")
    out = _build_pdf(tmp_path / "content", tmp_path / "o", columns=1)
    actual = _poppler("pdftotext", out, "-raw", "-f", "2")
    assert actual == golden(folder / "expected.pdf.txt", actual)


def _images(pdf_file: Path) -> list[list[str]]:
    """(width, height) of every image embedded in the PDF, as pdfimages lists them."""
    return [row.split()[3:5] for row in _poppler("pdfimages", pdf_file, "-list").splitlines()[2:]]


def test_every_way_of_writing_an_image_is_printed(tmp_path: Path) -> None:
    shutil.copytree(FIXTURES / "render" / "image_forms", tmp_path / "content")
    result = build(load_config(tmp_path / "content", out=tmp_path / "o", formats=("pdf",)))
    # An Obsidian embed, a spaced path, a path from the content folder and a %-encoded one.
    assert len(_images(tmp_path / "o" / pdf.FILE_NAME)) == 4
    assert [d.code for d in result.diagnostics] == ["missing-image", "remote-image"]


def test_an_image_whose_bytes_are_not_its_extension_is_printed(tmp_path: Path) -> None:
    # A PNG saved as .jpg once stopped the whole build with a Typst error naming neither.
    shutil.copytree(FIXTURES / "render" / "image_bytes", tmp_path / "content")
    out = _build_pdf(tmp_path / "content", tmp_path / "o")
    assert _images(out) == [["2", "2"]]


def test_a_huge_image_is_scaled_down_before_typst_reads_it(tmp_path: Path) -> None:
    from PIL import Image

    from pipeline.images import MAX_SIDE

    content = tmp_path / "content"
    content.mkdir()
    Image.new("RGB", (6000, 1500), "white").save(content / "wide.png")
    (content / "n.md").write_text("## s\n#### 1. 大图？\n\n![大图](wide.png)\n", "utf-8")
    out = _build_pdf(content, tmp_path / "o")
    assert _images(out) == [[str(MAX_SIDE), str(MAX_SIDE // 4)]]
    assert (content / "wide.png").stat().st_size > 0  # the note's own file is untouched
    assert sorted(p.name for p in content.iterdir()) == ["cardsmith.lock.json", "n.md", "wide.png"]


def test_code_copied_from_the_sheet_has_no_zero_width_spaces(tmp_path: Path) -> None:
    shutil.copytree(FIXTURES / "render" / "long_tokens", tmp_path / "content")
    out = _build_pdf(tmp_path / "content", tmp_path / "o")
    text = _poppler("pdftotext", out)
    assert "\u200b" not in text
    assert "fasterrcnn_resnet50_fpn(pretrained=True" in text.replace("\n", "")


def test_long_unbreakable_prose_wraps_inside_its_column(tmp_path: Path) -> None:
    shutil.copytree(FIXTURES / "render" / "long_tokens", tmp_path / "content")
    out = _build_pdf(tmp_path / "content", tmp_path / "o")  # two columns of A4
    bbox = _poppler("pdftotext", out, "-bbox", "-f", "2", "-l", "2")
    page_width = 595.276
    words = re.findall(r'xMax="([\d.]+)" yMax="([\d.]+)">([^<]*)<', bbox)
    body = [(float(x), w) for x, y, w in words if 60 < float(y) < 800]  # header, footer out
    assert any("github" in w for _, w in body)
    assert max(x for x, _ in body) < page_width / 2  # nothing crosses into column 2


def test_emoji_print_in_colour_from_the_emoji_font(tmp_path: Path) -> None:
    shutil.copytree(FIXTURES / "render" / "emoji", tmp_path / "content")
    out = _build_pdf(tmp_path / "content", tmp_path / "o")
    # Typst embeds the colour bitmaps of Noto Color Emoji as a Type 3 font.
    assert "Type 3" in _poppler("pdffonts", out)
    assert "✅对，❌错，👉看这里" in _squash(_poppler("pdftotext", out))


def test_a_formula_the_converter_cannot_take_is_a_warning_not_a_failure(tmp_path: Path) -> None:
    shutil.copytree(FIXTURES / "render" / "math", tmp_path / "content")
    result = build(load_config(tmp_path / "content", out=tmp_path / "o", formats=("pdf",)))
    assert [(d.line, d.code) for d in result.diagnostics] == [(20, "math-pdf")]
    assert "\\boxed{x} = 1" in _poppler("pdftotext", tmp_path / "o" / pdf.FILE_NAME)


def test_emphasis_is_visible_in_the_sheet() -> None:
    # The CJK font has no italic, so emphasis is coloured as well.
    assert "#show emph: set text(fill:" in pdf.TEMPLATE.read_text(encoding="utf-8")


def test_an_image_too_large_to_decode_is_a_placeholder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from pipeline import images

    (tmp_path / "big.png").write_bytes(_png())
    # The 2×2 test image stands in for one of more than 120 million pixels.
    monkeypatch.setattr(images, "MAX_SIDE", 1)
    monkeypatch.setattr(images, "MAX_PIXELS", 3)
    printed = images.printable(tmp_path / "big.png", tmp_path)
    assert printed == images.Printable("", images.TOO_LARGE)
    monkeypatch.setattr(images, "MAX_PIXELS", 4)  # at the bound it is decoded and scaled
    assert images.printable(tmp_path / "big.png", tmp_path).format == "png"


def test_a_scaled_phone_photo_keeps_its_rotation(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Scaling drops EXIF, so the rotation it names is applied to the small copy.
    from PIL import Image

    from pipeline import images

    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90° clockwise to view"
    Image.new("RGB", (400, 200), "white").save(tmp_path / "photo.jpg", exif=exif)
    monkeypatch.setattr(images, "MAX_SIDE", 100)
    printed = images.printable(tmp_path / "photo.jpg", tmp_path)
    with Image.open(printed.path) as scaled:
        assert (printed.format, scaled.size) == ("jpg", (50, 100))


def test_an_svg_that_links_an_image_on_the_web_is_a_placeholder_not_a_failed_sheet(
    tmp_path: Path,
) -> None:
    # Typst refuses a whole sheet for one such SVG ("URLs are not allowed").
    content = tmp_path / "content"
    content.mkdir()
    svg = (
        '<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10">'
        '<image href="https://example.com/t.png" width="10" height="10"/></svg>'
    )
    (content / "web.svg").write_text(svg, encoding="utf-8")
    own = '<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"><rect/></svg>'
    (content / "own.svg").write_text(own, encoding="utf-8")
    (content / "n.md").write_text(
        "## s\n#### 1. 图？\n\n![web](web.svg)\n\n#### 2. 另一个？\n\n![own](own.svg)\n", "utf-8"
    )
    text = _poppler("pdftotext", _build_pdf(content, tmp_path / "o"))
    assert text.count("SVG 引用了网上的图片") == 1


def _checked_with_image(tmp_path: Path, image: bytes) -> tuple[Path, BuildData]:
    """Notes with one image, compiled and identified as a build would before its exporters."""
    content = tmp_path / "content"
    content.mkdir()
    (content / "dot.png").write_bytes(image)
    (content / "n.md").write_text("## s\n#### 1. 图？\n\n![dot](dot.png)\n", "utf-8")
    config = load_config(content, out=tmp_path / "o", formats=("pdf",))
    cards = parse_all(config, typst=True).cards  # with their Typst, as a PDF build has them
    return content, BuildData(identify(config, cards).cards, config)


@pytest.mark.parametrize("replaced_by", ["nothing", "a folder"])
def test_an_image_gone_since_the_notes_were_read_is_a_file_problem(
    tmp_path: Path, replaced_by: str
) -> None:
    # Deleted (or made a folder) while the build ran: exit 2 naming it, as the package says.
    content, data = _checked_with_image(tmp_path, _png())
    (content / "dot.png").unlink()
    if replaced_by == "a folder":
        (content / "dot.png").mkdir()
    with (
        pytest.raises(FileProblem, match=r"cannot read the image '.*dot\.png'"),
        Outputs(tmp_path / "o") as outputs,
    ):
        pdf.export(data, outputs)


def test_an_image_cut_short_since_the_notes_were_read_is_said_plainly(tmp_path: Path) -> None:
    import io

    from PIL import Image

    saved = io.BytesIO()
    Image.effect_noise((64, 64), 80).convert("RGB").save(saved, "PNG")
    whole = saved.getvalue()
    content, data = _checked_with_image(tmp_path, whole)
    (content / "dot.png").write_bytes(whole[:1000])  # being saved, say
    with (
        pytest.raises(EnvironmentProblem, match="was it changed while the build ran"),
        Outputs(tmp_path / "o") as outputs,
    ):
        pdf.export(data, outputs)


@pytest.mark.parametrize("replaced_by", ["nothing", "a folder"])
def test_an_image_gone_just_before_typst_reads_it_is_said_plainly(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, replaced_by: str
) -> None:
    # Between the sheet's own look at its images and Typst's read of them (found by a trial).
    content, data = _checked_with_image(tmp_path, _png())
    real = pdf.image_files

    def then_gone(*args: Any) -> dict[str, Any]:
        found = real(*args)
        (content / "dot.png").unlink()
        if replaced_by == "a folder":
            (content / "dot.png").mkdir()
        return found

    monkeypatch.setattr(pdf, "image_files", then_gone)
    with (
        pytest.raises(EnvironmentProblem, match=r"the image '.*dot\.png' is gone\); was it"),
        Outputs(tmp_path / "o") as outputs,
    ):
        pdf.export(data, outputs)


def test_typst_typesets_in_a_process_of_its_own(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Typst keeps what it memoizes for as long as its process lives: in a watch's process,
    # a PDF on every save grew it by 1.3 GB a rebuild at 10k questions. So Typst never
    # typesets in the build's process (it would raise here) but in a new interpreter.
    import typst

    def in_this_process(*_args: object, **_kwargs: object) -> object:
        raise AssertionError("Typst typeset in the build's own process")

    monkeypatch.setattr(typst, "compile_with_warnings", in_this_process)
    monkeypatch.setattr(typst, "compile", in_this_process)
    shutil.copytree(FIXTURES / "render" / "math", tmp_path / "content")
    out = _build_pdf(tmp_path / "content", tmp_path / "o", columns=1)
    printed = _poppler("pdftotext", out, "-raw", "-f", "2")
    assert printed == (FIXTURES / "render" / "math" / "expected.pdf.txt").read_text("utf-8")


def test_typst_cannot_write_the_sheet_is_a_file_problem_naming_the_folder(
    tmp_path: Path,
) -> None:
    from pipeline.typeset import typeset

    (tmp_path / "sheet.typ").write_text("= 标题\n", encoding="utf-8")
    target = tmp_path / "gone" / "sheet.pdf"  # a folder that is not there: the write fails
    with pytest.raises(FileProblem, match=r"cannot write the typeset sheet in .*gone.*No such"):
        typeset(tmp_path / "sheet.typ", Path("/"), target)


def test_typst_dies_with_a_build_killed_outright(tmp_path: Path) -> None:
    # A build killed with SIGKILL cannot stop its children: Typst's process asks the kernel to
    # kill it when its parent dies, as the build's other workers do.
    source = tmp_path / "sheet.typ"
    source.write_text("#for i in range(400000) [#i ]\n", encoding="utf-8")
    parent = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, pathlib; from pipeline.typeset import typeset; "
            "typeset(pathlib.Path(sys.argv[1]), pathlib.Path('/'), pathlib.Path(sys.argv[2]))",
            str(source),
            str(tmp_path / "sheet.pdf"),
        ]
    )
    child = None
    for _ in range(200):  # wait for Typst's process to start
        found = subprocess.run(
            ["pgrep", "-P", str(parent.pid)], capture_output=True, text=True
        ).stdout.split()
        if found:
            child = int(found[0])
            break
        time.sleep(0.05)
    assert child is not None, "Typst's process never started"
    parent.kill()
    parent.wait()
    try:
        for _ in range(100):
            if not Path(f"/proc/{child}").exists() or "Z" in _state(child):
                break
            time.sleep(0.05)
        else:
            pytest.fail("Typst's process outlived the build killed outright")
    finally:
        with contextlib.suppress(ProcessLookupError):  # never left typesetting for minutes
            os.kill(child, signal.SIGKILL)
    assert not (tmp_path / "sheet.pdf").exists()


def _state(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(") ")[1].split()[0]
    except (OSError, IndexError):
        return "Z"
