"""The printable cheat sheet: the cards typeset by Typst, CJK fonts named and embedded.

Typst rather than WeasyPrint: on these very notes it renders both seed files in under a
second against 6-10 s, and ten times the content in 6 s against 79 s and 1.6 GB
(shared/research/pdf-engines.md). The cost is owning a Markdown-to-Typst writer
(``pipeline/typstmd.py``) and a Pygments-to-Typst formatter (``highlight.highlight``).
Typst draws missing glyphs as boxes without a word, so fonts are checked first
(``pipeline/fontcheck.py``), and images are read by their real format (``pipeline/images.py``).
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Mapping, Sequence
from itertools import groupby
from pathlib import Path

from .. import fontcheck, resources
from ..config import Config
from ..errors import ConfigError, EnvironmentProblem, ExportCheckError, FileProblem, quoted
from ..highlight import typst_string
from ..images import Printable, printable
from ..pdflimits import MAX_SHEET_BYTES, sheet_message
from ..records import BuildData, Card
from ..typeset import typeset
from ..typstmd import escape
from .outputs import Outputs

TEMPLATE = resources.pdf_template()
FILE_NAME = "cheatsheet.pdf"
TODO_TITLE = "待回答"
_KEEP_LINES = 30  # questions shorter than about half a column are never split
_CHARS_PER_LINE = 28
_IMAGE_LINES = _KEEP_LINES + 1


def _under(deck: str, top: str) -> bool:
    return deck == top or deck.startswith(top + "::")


def selected(cards: Sequence[Card], config: Config) -> list[Card]:
    """The cards to print: every card, or those under ``--deck`` paths and with one of the
    ``--tag`` tags. Deck names and tags compare without regard to case, as Anki's do.

    Raises :class:`ConfigError` when a ``--deck`` or ``--tag`` (``pdf_decks``, ``pdf_tags``)
    selects no card, naming the decks there are: a typo printed an empty sheet over the
    last one (found by the eleventh trial).
    """
    decks = [d.casefold() for d in config.pdf_decks]
    tags = {t.casefold() for t in config.pdf_tags}
    seen_decks: set[str] = set()
    seen_tags: set[str] = set()
    chosen = []
    for card in cards:
        deck = card.deck.path.casefold()
        in_deck = [d for d in decks if _under(deck, d)]
        seen_decks.update(in_deck)
        tagged = tags.intersection(t.casefold() for t in card.tags)
        seen_tags.update(tagged)
        if (in_deck or not decks) and (tagged or not tags):
            chosen.append(card)
    if chosen or not cards:
        return chosen
    unknown = [
        *(f"--deck {d}" for d in config.pdf_decks if d.casefold() not in seen_decks),
        *(f"--tag {t}" for t in config.pdf_tags if t.casefold() not in seen_tags),
    ]
    filters = " ".join(
        [*(f"--deck {d}" for d in config.pdf_decks), *(f"--tag {t}" for t in config.pdf_tags)]
    )
    what = f"{', '.join(unknown)} selects none" if unknown else f"no card has all of {filters}"
    names = sorted({"::".join(c.deck.parts[:2]) for c in cards})
    shown = ", ".join(names[:12]) + (f" and {len(names) - 12} more" if len(names) > 12 else "")
    raise ConfigError(
        f"the PDF would print no card: {what} (decks: {shown}; tags look like "
        "section::<section> or code::python); nothing was written"
    )


def _estimated_lines(card: Card) -> int:
    code = sum(b.code.count("\n") + 1 for b in card.code_blocks)
    # An image can be as tall as a column: a card with one is never kept in one piece, or
    # a kept card taller than the page would lose its end.
    images = sum(_IMAGE_LINES for t in card.targets if t.image and t.kind == "local")
    # The question counts too: a question taller than a column, kept whole with a short
    # answer, ran off the page and lost its end (the thirty-fourth trial).
    text = card.question + card.answer
    return 2 + len(text) // _CHARS_PER_LINE + text.count("\n") // 2 + code + images


def _section_title(card: Card) -> str:
    return " · ".join(card.deck.sections) or card.deck.file_title


def _qa(card: Card) -> str:
    """One answered card's ``#qa`` block, from the Typst its note file was compiled to."""
    keep = "true" if _estimated_lines(card) <= _KEEP_LINES else "false"
    return f"#qa(keep: {keep})[{card.question_typst}][{card.answer_typst}]\n"


def document(
    cards: Sequence[Card], config: Config, images: Mapping[str, Printable] | None = None
) -> str:
    """The whole Typst source of the cheat sheet (the cards compiled with Typst).

    ``images`` maps each image path the cards print to the file and format Typst reads.
    """
    emoji = fontcheck.installed(fontcheck.EMOJI_FONTS)
    text_fonts = (*config.fonts, *emoji)
    mono_fonts = (*config.mono_fonts, *emoji)
    out = [
        f"#let cs-paper = {typst_string(config.paper)}",
        f"#let cs-columns = {config.columns}",
        f"#let doc-title = {typst_string(config.pdf_title)}",
        f"#let text-fonts = ({', '.join(typst_string(f) for f in text_fonts)},)",
        f"#let mono-fonts = ({', '.join(typst_string(f) for f in mono_fonts)},)",
        _images_dict(images or {}),
        TEMPLATE.read_text(encoding="utf-8"),
    ]
    answered = [c for c in cards if c.answered]
    for title, in_file in groupby(answered, key=lambda c: c.deck.file_title):
        out.append(f"= {escape(title)}\n")
        for section, in_section in groupby(in_file, key=_section_title):
            cards_here = list(in_section)
            # Cards under no section file under the title itself: a heading of the same
            # name again below the file's printed it twice (the thirty-fourth trial).
            if cards_here[0].deck.sections:
                out.append(f"== {escape(section)}\n")
            out.extend(_qa(card) for card in cards_here)
    todo = [c for c in cards if not c.answered]
    if todo and config.pdf_todo:
        out.append(f"#pagebreak(weak: true)\n= {TODO_TITLE}\n")
        for section, in_section in groupby(todo, key=lambda c: "::".join(c.deck.parts[1:])):
            items = ", ".join(f"[{c.question_typst}]" for c in in_section)
            out.append(f"#subhead[{escape(section.replace('::', ' · '))}]\n#list({items})\n")
    return "\n".join(out)


# --- fonts -----------------------------------------------------------------------------------


def check_fonts(config: Config) -> None:
    """Stop before rendering when a configured font is not installed (the environment).

    A character no font covers is a content problem, reported at its line by
    :func:`pipeline.fontcheck.diagnose` before any exporter runs.
    """
    problems = [
        f"the {what} font '{family}' is not installed"
        for what, families in (("text", config.fonts), ("code", config.mono_fonts))
        for family in families
        if fontcheck.coverage(family) is None
    ]
    if problems:
        raise EnvironmentProblem(
            "cannot print the cheat sheet: "
            + "; ".join(problems)
            + ". Install a CJK font (Debian: apt-get install fonts-noto-cjk fonts-dejavu-core) "
            "or name installed fonts under [pdf] fonts/mono_fonts in cardsmith.toml"
        )


# --- images ----------------------------------------------------------------------------------


def image_files(cards: Sequence[Card], root: Path, scratch: Path) -> dict[str, Printable]:
    """Each local image the cards print (``/`` + its file) -> how Typst prints it."""
    files = sorted(
        {t.file for c in cards for t in c.targets if t.image and t.kind == "local" and t.file}
    )
    try:
        return {"/" + f: printable(root / f, scratch) for f in files}
    except OSError as exc:  # gone (or made a folder) since the notes were read
        raise FileProblem("read the image", Path(exc.filename or root), exc) from exc


def _images_dict(images: Mapping[str, Printable]) -> str:
    pairs = ", ".join(
        f"{typst_string(key)}: ({typst_string(p.path)}, {typst_string(p.format)})"
        for key, p in sorted(images.items())
    )
    return f"#let cs-images = ({pairs or ':'})"


def export(data: BuildData, outputs: Outputs) -> None:
    """``cheatsheet.pdf``: fonts checked first, then typeset by Typst in a process of its own
    (:func:`~pipeline.typeset.typeset`), which Ctrl-C stops at once."""
    cards = selected(data.cards, data.config)
    check_fonts(data.config)
    root = data.config.content.resolve()
    with tempfile.TemporaryDirectory(prefix="cardsmith-images-") as scratch:
        images = image_files(cards, root, Path(scratch))
        source = document(cards, data.config, images)
        if len(source) > MAX_SHEET_BYTES:  # refused before Typst takes the memory
            raise EnvironmentProblem(sheet_message(len(source)))
        sheet, pdf_file = Path(scratch) / "sheet.typ", Path(scratch) / "sheet.pdf"
        try:
            sheet.write_text(source, encoding="utf-8")
        except OSError as exc:
            raise FileProblem("write the sheet's Typst source in", Path(scratch), exc) from exc
        # Images are named by absolute path (the notes' own, or a scaled copy in the
        # scratch folder), all vetted by the path rules; so the root is the file system's.
        warnings, error = typeset(sheet, Path(root.anchor), pdf_file)
        if error:
            # Every image was whole when the notes were read: one gone, a folder or cut short
            # now changed while the build ran, which is no bug of ours.
            gone = [p.path for p in images.values() if p.path and not Path(p.path).is_file()]
            if gone or "decode image" in error:
                what = f"the image {quoted(gone[0])} is gone" if gone else error
                raise EnvironmentProblem(
                    f"Typst could not read an image of the cheat sheet ({what}); was it changed "
                    "while the build ran? Build again"
                )
            raise ExportCheckError(f"Typst could not typeset the cheat sheet: {error}")
        font_warnings = [w for w in warnings if "font" in w.lower()]
        if font_warnings:
            raise EnvironmentProblem("; ".join(font_warnings))
        with outputs.open(FILE_NAME) as out, pdf_file.open("rb") as typeset_pdf:
            shutil.copyfileobj(typeset_pdf, out, 1 << 20)
