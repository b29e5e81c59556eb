"""The printable cheat sheet: the cards typeset by Typst, CJK fonts named and embedded.

Typst rather than WeasyPrint: on these very notes it renders both seed files in under a
second against 6-10 s, and ten times the content in 6 s against 79 s and 1.6 GB
(shared/research/pdf-engines.md). The cost is owning a Markdown-to-Typst writer
(``pipeline/typstmd.py``) and a Pygments-to-Typst formatter (``highlight.typst_code``).
Typst draws missing glyphs as boxes without a word, so fonts are checked first.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable, Sequence
from functools import lru_cache
from itertools import groupby
from typing import Any

from .. import resources
from ..config import Config
from ..errors import EnvironmentProblem, ExportCheckError
from ..highlight import typst_string
from ..parallel import interruptible
from ..records import BuildData, Card
from ..typstmd import escape
from .outputs import Outputs

TEMPLATE = resources.pdf_template()
FILE_NAME = "cheatsheet.pdf"
TODO_TITLE = "待回答"
_KEEP_LINES = 30  # questions shorter than about half a column are never split
_CHARS_PER_LINE = 28


def selected(cards: Sequence[Card], config: Config) -> list[Card]:
    """The cards to print: every card, or those under ``--deck`` paths or with ``--tag`` tags."""

    def wanted(card: Card) -> bool:
        deck = card.deck.path
        if config.pdf_decks and not any(
            deck == d or deck.startswith(d + "::") for d in config.pdf_decks
        ):
            return False
        return not config.pdf_tags or bool(set(config.pdf_tags) & set(card.tags))

    return [c for c in cards if wanted(c)]


def _estimated_lines(card: Card) -> int:
    code = sum(b.code.count("\n") + 1 for b in card.code_blocks)
    return 2 + len(card.answer) // _CHARS_PER_LINE + card.answer.count("\n") // 2 + code


def _section_title(card: Card) -> str:
    return " · ".join(card.deck.sections) or card.deck.file_title


def _qa(card: Card) -> str:
    """One answered card's ``#qa`` block, from the Typst its note file was compiled to."""
    keep = "true" if _estimated_lines(card) <= _KEEP_LINES else "false"
    return f"#qa(keep: {keep})[{card.question_typst}][{card.answer_typst}]\n"


def document(cards: Sequence[Card], config: Config) -> str:
    """The whole Typst source of the cheat sheet (the cards compiled with Typst)."""
    out = [
        f"#let cs-paper = {typst_string(config.paper)}",
        f"#let cs-columns = {config.columns}",
        f"#let doc-title = {typst_string(config.pdf_title)}",
        f"#let text-fonts = ({', '.join(typst_string(f) for f in config.fonts)},)",
        f"#let mono-fonts = ({', '.join(typst_string(f) for f in config.mono_fonts)},)",
        TEMPLATE.read_text(encoding="utf-8"),
    ]
    answered = [c for c in cards if c.answered]
    for title, in_file in groupby(answered, key=lambda c: c.deck.file_title):
        out.append(f"= {escape(title)}\n")
        for section, in_section in groupby(in_file, key=_section_title):
            out.append(f"== {escape(section)}\n")
            out.extend(_qa(card) for card in in_section)
    todo = [c for c in cards if not c.answered]
    if todo and config.pdf_todo:
        out.append(f"#pagebreak(weak: true)\n= {TODO_TITLE}\n")
        for section, in_section in groupby(todo, key=lambda c: "::".join(c.deck.parts[1:])):
            items = ", ".join(f"[{c.question_typst}]" for c in in_section)
            out.append(f"#subhead[{escape(section.replace('::', ' · '))}]\n#list({items})\n")
    return "\n".join(out)


# --- fonts -----------------------------------------------------------------------------------


@lru_cache(maxsize=1)
def _installed_fonts() -> tuple[Any, ...]:
    """The font files Typst itself finds on this machine (scanned once)."""
    import typst

    return tuple(typst.Fonts(include_embedded_fonts=False).fonts())


@lru_cache(maxsize=8)
def _coverage(family: str) -> frozenset[int] | None:
    """Code points a font family covers, or None when Typst cannot find it."""
    from fontTools.ttLib import TTFont

    infos = [f for f in _installed_fonts() if f.family.lower() == family.lower()]
    if not infos:
        return None
    covered: set[int] = set()
    for info in infos[:1] + [i for i in infos if i.weight >= 600][:1]:
        font = TTFont(info.path, fontNumber=info.index, lazy=True)
        covered.update(font.getBestCmap() or {})
        font.close()
        # A font and its tables point at each other; builds run without the cycle collector,
        # so the cycle is broken here (a CJK font's tables are 60 MB).
        font.tables.clear()
    return frozenset(covered)


def _printable(chars: Iterable[str]) -> set[str]:
    return {ch for ch in chars if not ch.isspace() and unicodedata.category(ch)[0] != "C"}


def check_fonts(cards: Sequence[Card], config: Config) -> None:
    """Stop before rendering when a character of the notes has no configured font."""
    prose = _printable(
        ch for c in cards for text in (c.question, c.answer, *c.deck.parts) for ch in text
    ) | _printable(config.pdf_title + TODO_TITLE + "目录")
    code = _printable(ch for c in cards for b in c.code_blocks for ch in b.code)
    problems = []
    for what, families, chars in (("text", config.fonts, prose), ("code", config.mono_fonts, code)):
        covered: set[int] = set()
        for family in families:
            found = _coverage(family)
            if found is None:
                problems.append(f"the {what} font '{family}' is not installed")
            else:
                covered |= found
        missing = sorted(ch for ch in chars if ord(ch) not in covered)
        if missing and covered:
            shown = " ".join(f"U+{ord(ch):04X} {ch}" for ch in missing[:20])
            more = f" and {len(missing) - 20} more" if len(missing) > 20 else ""
            problems.append(f"no {what} font covers {len(missing)} character(s): {shown}{more}")
    if problems:
        raise EnvironmentProblem(
            "cannot print the cheat sheet: "
            + "; ".join(problems)
            + ". Install a CJK font (Debian: apt-get install fonts-noto-cjk fonts-dejavu-core) "
            "or name installed fonts under [pdf] fonts/mono_fonts in cardsmith.toml"
        )


def export(data: BuildData, outputs: Outputs) -> None:
    """``cheatsheet.pdf``: fonts checked first, then typeset by Typst."""
    import typst

    cards = selected(data.cards, data.config)
    check_fonts(cards, data.config)
    source = document(cards, data.config)
    try:
        # typst-py types input and root with one constrained TypeVar; bytes + Path is valid.
        pdf, warnings = interruptible(  # Ctrl-C need not wait for the end of typesetting
            lambda: typst.compile_with_warnings(  # type: ignore[call-overload]
                source.encode("utf-8"),
                root=data.config.content.resolve(),
                format="pdf",
                pdf_tags=False,  # tags double the file and add 30 % time; nothing needs them
            )
        )
    except typst.TypstError as exc:  # e.g. an image file that is not really an image
        raise ExportCheckError(f"Typst could not typeset the cheat sheet: {exc}") from exc
    font_warnings = [str(w) for w in warnings if "font" in str(w).lower()]
    if font_warnings:
        raise EnvironmentProblem("; ".join(font_warnings))
    with outputs.open(FILE_NAME) as out:
        out.write(pdf)
