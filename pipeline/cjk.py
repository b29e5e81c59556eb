"""CJK-friendly emphasis and line breaks for markdown-it-py.

Implements the emphasis amendment of the CommonMark CJK-friendly proposal
(tats-u/markdown-cjk-friendly, ``specification.md``): a delimiter run next to
a CJK character may open or close emphasis even when its other side is
punctuation, so ``**迭代器（Iterator）**是指`` is bold. It also drops the
space a soft line break puts between two CJK characters (the break stays a token, as
lines are counted by it: an image on a paragraph's third line is reported there).

Unlike the ``mdit-py-cjk-friendly`` package, this plugin changes only the
``MarkdownIt`` instance it is applied to: it swaps that instance's inline
parser for a subclass instead of patching ``StateInline`` for the whole
process, and it works with markdown-it-py 4.
"""

from __future__ import annotations

import unicodedata
from functools import lru_cache

from markdown_it import MarkdownIt
from markdown_it.common.utils import isMdAsciiPunct, isPunctChar, isWhiteSpace
from markdown_it.parser_inline import ParserInline
from markdown_it.rules_core import StateCore
from markdown_it.rules_inline.state_inline import Scanned, StateInline
from markdown_it.token import Token

_HANGUL = ((0x1100, 0x11FF), (0x3130, 0x318F), (0xA960, 0xA97F), (0xAC00, 0xD7FF))
# Wide characters that are emoji by default are not CJK in the proposal.
_EMOJI = ((0x1F000, 0x1FAFF), (0x2600, 0x27BF), (0x2B00, 0x2BFF), (0x231A, 0x23FF))
_IVS = (0xE0100, 0xE01EF)
_SVS = (0xFE00, 0xFE0E)  # non-emoji general-use variation selectors


def _in(cp: int, ranges: tuple[tuple[int, int], ...]) -> bool:
    return any(lo <= cp <= hi for lo, hi in ranges)


@lru_cache(maxsize=4096)
def is_cjk(ch: str) -> bool:
    """True for a CJK character as the proposal defines it (East Asian Width W/F/H or Hangul)."""
    if not ch:
        return False
    cp = ord(ch)
    if cp < 0x1100:
        return False
    if _in(cp, _HANGUL):
        return True
    return unicodedata.east_asian_width(ch) in ("W", "F", "H") and not _in(cp, _EMOJI)


def _is_punct(ch: str) -> bool:
    return isMdAsciiPunct(ord(ch)) or isPunctChar(ch)


def _is_svs(ch: str) -> bool:
    return _SVS[0] <= ord(ch) <= _SVS[1]


def _is_ivs(ch: str) -> bool:
    return _IVS[0] <= ord(ch) <= _IVS[1]


class CjkStateInline(StateInline):
    """Inline state whose delimiter scan follows the CJK-friendly flanking rules."""

    def scanDelims(self, start: int, canSplitWord: bool) -> Scanned:
        src = self.src
        maximum = self.posMax
        marker = src[start]
        pos = start
        while pos < maximum and src[pos] == marker:
            pos += 1
        count = pos - start

        # The beginning and end of the line count as whitespace.
        last = src[start - 1] if start > 0 else " "
        nxt = src[pos] if pos < maximum else " "
        # A variation selector belongs to the character before it.
        if _is_svs(last) and start > 1:
            last = src[start - 2]

        last_ws = isWhiteSpace(ord(last))
        next_ws = isWhiteSpace(ord(nxt))
        last_punct = _is_punct(last)
        next_punct = _is_punct(nxt)
        last_cjk = is_cjk(last) or _is_ivs(last)
        next_cjk = is_cjk(nxt)
        last_non_cjk_punct = last_punct and not is_cjk(last)
        next_non_cjk_punct = next_punct and not next_cjk

        left_flanking = not next_ws and (
            not next_non_cjk_punct or last_ws or last_non_cjk_punct or last_cjk
        )
        right_flanking = not last_ws and (
            not last_non_cjk_punct or next_ws or next_non_cjk_punct or next_cjk
        )

        if canSplitWord:  # '*'
            can_open = left_flanking
            can_close = right_flanking
        else:  # '_' keeps CommonMark's intraword rule
            can_open = left_flanking and (not right_flanking or last_punct)
            can_close = right_flanking and (not left_flanking or next_punct)
        return Scanned(can_open, can_close, count)


class CjkParserInline(ParserInline):
    """Inline parser that builds a :class:`CjkStateInline`."""

    def parse(self, src: str, md: MarkdownIt, env: dict, tokens: list[Token]) -> list[Token]:  # type: ignore[type-arg,override]
        state = CjkStateInline(src, md, env, tokens)
        self.tokenize(state)
        for rule in self.ruler2.getRules(""):
            rule(state)
        return state.tokens


def _edge_char(children: list[Token], start: int, step: int) -> str:
    """The nearest visible character before (step=-1) or after (step=1) ``children[start]``."""
    i = start + step
    while 0 <= i < len(children):
        tok = children[i]
        if tok.type in ("text", "code_inline") and tok.content:
            return tok.content[-1] if step < 0 else tok.content[0]
        if tok.type in ("softbreak", "hardbreak", "image"):
            return ""
        i += step
    return ""


#: A soft line break between two CJK characters: it shows as nothing (a space there reads
#: as a gap in Chinese), and stays a token of its own, so that lines are still counted.
CJK_BREAK = "cjk_softbreak"
#: Inline token types that end a line of the source.
LINE_BREAKS = frozenset({"softbreak", "hardbreak", CJK_BREAK})


def _quiet_cjk_softbreaks(state: StateCore) -> None:
    for block in state.tokens:
        children = block.children
        if block.type != "inline" or not children:
            continue
        between = [
            i
            for i, tok in enumerate(children)
            if tok.type == "softbreak"
            and is_cjk(_edge_char(children, i, -1))
            and is_cjk(_edge_char(children, i, 1))
        ]
        for i in between:
            children[i].type = CJK_BREAK


def _nothing(*_args: object) -> str:
    return ""


def cjk_friendly(md: MarkdownIt) -> None:
    """Plugin: ``MarkdownIt().use(cjk_friendly)``."""
    parser = CjkParserInline()
    parser.ruler = md.inline.ruler
    parser.ruler2 = md.inline.ruler2
    parser.terminator_re = md.inline.terminator_re
    parser._extra_terminator_chars = md.inline._extra_terminator_chars
    md.inline = parser
    md.core.ruler.after("inline", "cjk_softbreak", _quiet_cjk_softbreaks)
    md.add_render_rule(CJK_BREAK, _nothing)
