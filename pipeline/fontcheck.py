"""Characters the PDF cannot print: a content problem, reported at its file and line.

Typst draws a character no font has as an empty box, without a word. So before a PDF is
built (and by ``check``), every character of the notes is looked up in the sheet's fonts:
the configured text (or code) fonts and the emoji font. One no font covers is an error at
the first line that has it, with a font that would help; default-ignorable characters
(the emoji variation selector U+FE0F, the zero-width joiner U+200D…) print nothing and are
never reported. A configured font that is not installed is an environment problem, which
the PDF exporter reports (``pipeline/export/pdf.py``).
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable, Iterator, Sequence
from functools import lru_cache
from pathlib import Path
from typing import Any

from .config import Config
from .errors import Diagnostic
from .records import Card
from .render import markdown

#: Fonts every sheet falls back to for emoji and symbols (scripts/system-deps.sh installs it).
EMOJI_FONTS = ("Noto Color Emoji",)

#: Unicode's Default_Ignorable_Code_Point ranges (DerivedCoreProperties.txt): invisible.
_IGNORABLE = (
    (0x00AD, 0x00AD),
    (0x034F, 0x034F),
    (0x061C, 0x061C),
    (0x115F, 0x1160),
    (0x17B4, 0x17B5),
    (0x180B, 0x180F),
    (0x200B, 0x200F),
    (0x202A, 0x202E),
    (0x2060, 0x206F),
    (0x3164, 0x3164),
    (0xFE00, 0xFE0F),
    (0xFEFF, 0xFEFF),
    (0xFFA0, 0xFFA0),
    (0xFFF0, 0xFFF8),
    (0x1BCA0, 0x1BCA3),
    (0x1D173, 0x1D17A),
    (0xE0000, 0xE0FFF),
)

#: Code point range -> a font that has it and the Debian package that installs it.
_ADVICE = (
    ((0x1F000, 0x1FAFF), "Noto Color Emoji", "fonts-noto-color-emoji"),
    ((0x2600, 0x27BF), "Noto Color Emoji", "fonts-noto-color-emoji"),
    ((0x13000, 0x1345F), "Noto Sans Egyptian Hieroglyphs", "fonts-noto-extra"),
    ((0x1D400, 0x1D7FF), "Noto Sans Math", "fonts-noto-core"),
    ((0x2190, 0x2BFF), "Noto Sans Symbols 2", "fonts-noto-core"),
)


def ignorable(ch: str) -> bool:
    """True for a default-ignorable code point (printed as nothing, never a missing glyph)."""
    cp = ord(ch)
    return any(lo <= cp <= hi for lo, hi in _IGNORABLE)


def _printable(chars: Iterable[str]) -> set[str]:
    return {
        ch
        for ch in chars
        if not ch.isspace() and unicodedata.category(ch)[0] != "C" and not ignorable(ch)
    }


def advice(ch: str) -> str:
    """A font that would print ``ch``, and how to install it."""
    cp = ord(ch)
    for (lo, hi), font, package in _ADVICE:
        if lo <= cp <= hi:
            return f"install a font that has it, e.g. {font} (Debian: apt-get install {package})"
    return (
        "install a font for its script, e.g. from the Noto family "
        "(Debian: apt-get install fonts-noto-core fonts-noto-extra)"
    )


@lru_cache(maxsize=1)
def installed_fonts() -> tuple[Any, ...]:
    """The font files Typst itself finds on this machine (scanned once)."""
    import typst

    return tuple(typst.Fonts(include_embedded_fonts=False).fonts())


@lru_cache(maxsize=8)
def coverage(family: str) -> frozenset[int] | None:
    """Code points a font family covers, or None when Typst cannot find it."""
    from fontTools.ttLib import TTFont

    infos = [f for f in installed_fonts() if f.family.lower() == family.lower()]
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


def installed(families: Iterable[str]) -> tuple[str, ...]:
    """The families of ``families`` Typst can find."""
    return tuple(f for f in families if coverage(f) is not None)


def _covered(families: Iterable[str]) -> set[int]:
    found: set[int] = set()
    for family in families:
        found |= coverage(family) or frozenset()
    return found


def _first_line(root: Path, path: str, ch: str) -> int:
    """The first line of the note file that holds ``ch`` (0 when it cannot be read)."""
    try:
        text = (root / path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return 0
    at = text.find(ch)
    if at < 0 and ch == _REPLACEMENT:
        at = text.find("\0")  # a NUL, which the parser reads as U+FFFD (CommonMark 2.3)
    return text.count("\n", 0, at) + 1 if at >= 0 else 0


_REPLACEMENT = "\ufffd"


def diagnose(cards: Sequence[Card], config: Config) -> Iterator[Diagnostic]:
    """An error for each character of a note file no PDF font covers, at its first line.

    Nothing when no PDF is built, or when no configured font is installed (the exporter
    reports that as an environment problem).
    """
    if "pdf" not in config.formats:
        return
    if not installed(config.fonts) or not installed(config.mono_fonts):
        return
    text = _covered(installed((*config.fonts, *EMOJI_FONTS)))
    mono = _covered(installed((*config.mono_fonts, *EMOJI_FONTS)))
    # Distinct characters per file first (set() of a string runs in C): the per-character
    # work below then runs on a few thousand characters, not on every one of the notes.
    prose: dict[str, set[str]] = {}
    code: dict[str, set[str]] = {}
    of_file: dict[str, list[Card]] = {}
    for card in cards:
        path = card.source.path
        of_file.setdefault(path, []).append(card)
        chars = prose.setdefault(path, set())
        chars.update(card.question, card.answer, *card.deck.parts)
        for block in card.code_blocks:
            code.setdefault(path, set()).update(block.code)
    for path in sorted(prose.keys() | code.keys()):
        missing = {ch for ch in _printable(prose.get(path, ())) if ord(ch) not in text}
        # The Markdown holds its code too: a character the code font has is missing only
        # where it stands outside code (``⌊x⌋`` in backticks is drawn in DejaVu Sans Mono).
        in_code = {ch for ch in missing if ord(ch) in mono}
        if in_code:
            missing -= in_code - _outside_code(of_file[path])
        missing |= {ch for ch in _printable(code.get(path, ())) if ord(ch) not in mono}
        for ch in sorted(missing):
            name = unicodedata.name(ch, "")
            line = _first_line(config.content, path, ch)
            yield Diagnostic(
                path,
                line,
                "error",
                f"no PDF font has U+{ord(ch):04X} {ch}{f' ({name})' if name else ''}; "
                + (
                    "it stands for a NUL byte here: remove the NUL"
                    if ch == _REPLACEMENT and _holds_nul(config.content, path, line)
                    else f"{advice(ch)} and add it under [pdf] fonts in cardsmith.toml "
                    '(no PDF wanted: formats = ["json", "apkg"] there)'
                ),
                "font-coverage",
            )


def _outside_code(cards: Sequence[Card]) -> set[str]:
    """The characters of ``cards``' questions, answers and decks that stand outside code
    spans and code blocks, as markdown-it reads them (the PDF prints code in the code
    fonts). Only asked for the files with a character the text fonts lack: parsing costs."""
    found: set[str] = set()
    for card in cards:
        found.update(*card.deck.parts)
        for source in (card.question, card.answer):
            for token in markdown().parse(source):
                for child in token.children or ():
                    if child.type not in _CODE_TOKENS:
                        found.update(child.content)
    return found


#: Token types whose text the PDF prints in the code fonts.
_CODE_TOKENS = frozenset({"code_inline", "fence", "code_block"})


def _holds_nul(root: Path, path: str, line: int) -> bool:
    """Whether the 1-based ``line`` of a note file holds a NUL byte."""
    try:
        lines = (root / path).read_bytes().split(b"\n")
    except OSError:
        return False
    return 0 < line <= len(lines) and b"\0" in lines[line - 1]
