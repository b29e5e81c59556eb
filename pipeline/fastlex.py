"""Pygments regex lexers: the same tokens, a fraction of the regex calls.

A Pygments ``RegexLexer`` state is a list of rules tried in order at each position, one
``re`` call per rule, until one matches: six calls a token on Python code, and most of a
build's time. :func:`accelerate` gives a lexer the same loop, except that at each position
it tries only the rules that can start with the next character. Which rules those are
comes from each rule's parsed pattern, worked out once per state and character. Where the
analysis is unsure it keeps the rule: a rule too many only costs time, while a rule wrongly
left out would change the tokens. ``tests/test_fastlex.py`` checks token-for-token equality
with stock Pygments. (Joining a state's rules into one alternation was tried too: its
compile time outweighed its gain at every size measured.)
"""

from __future__ import annotations

import re
import sys
from collections.abc import Callable, Iterator
from functools import lru_cache
from typing import Any

from pygments.lexer import Lexer, RegexLexer
from pygments.token import Error, Whitespace, _TokenType

# The standard library's regex parser: private, but unchanged in substance since Python 2.
if sys.version_info >= (3, 11):
    from re import _constants as C  # type: ignore[attr-defined]
    from re import _parser as P  # type: ignore[attr-defined]
else:
    import sre_constants as C
    import sre_parse as P

#: A rule as Pygments keeps it: (bound ``pattern.match``, action, new state).
Rule = tuple[Callable[..., Any], Any, Any]
#: What can start a match: None means any character; otherwise a set of (kind, value, icase).
First = frozenset[tuple[str, Any, bool]] | None

_NON_ASCII = "\x80"  # the one key for every character beyond ASCII
_REPEATS = tuple(
    op for op in (C.MAX_REPEAT, C.MIN_REPEAT, getattr(C, "POSSESSIVE_REPEAT", None)) if op
)
_CATEGORIES: dict[Any, tuple[Callable[[str], bool], bool]] = {
    C.CATEGORY_DIGIT: (str.isdecimal, False),
    C.CATEGORY_NOT_DIGIT: (str.isdecimal, True),
    C.CATEGORY_SPACE: (str.isspace, False),
    C.CATEGORY_NOT_SPACE: (str.isspace, True),
    C.CATEGORY_WORD: (lambda c: c.isalnum() or c == "_", False),
    C.CATEGORY_NOT_WORD: (lambda c: c.isalnum() or c == "_", True),
}


# --- what can start a match ---------------------------------------------------------------


def _first_of_sequence(items: Any, icase: bool) -> tuple[First, bool]:
    """(first characters, may match empty) of a sequence of parsed regex items."""
    found: set[tuple[str, Any, bool]] = set()
    for op, av in items:
        first, nullable = _first_of_item(op, av, icase)
        if first is None:
            return None, True
        found |= first
        if not nullable:
            return frozenset(found), False
    return frozenset(found), True


def _first_of_item(op: Any, av: Any, icase: bool) -> tuple[First, bool]:
    if op is C.LITERAL:
        return frozenset({("literal", av, icase)}), False
    if op is C.IN:
        return frozenset({("in", tuple(av), icase)}), False
    if op in _REPEATS:
        low, _high, inner = av
        first, nullable = _first_of_sequence(inner, icase)
        return first, nullable or low == 0
    if op is C.SUBPATTERN:
        _group, add, remove, inner = av
        return _first_of_sequence(
            inner, (icase or bool(add & re.IGNORECASE)) and not remove & re.IGNORECASE
        )
    if op is getattr(C, "ATOMIC_GROUP", None):
        return _first_of_sequence(av, icase)
    if op is C.BRANCH:
        found: set[tuple[str, Any, bool]] = set()
        any_nullable = False
        for alternative in av[1]:
            first, nullable = _first_of_sequence(alternative, icase)
            if first is None:
                return None, True
            found |= first
            any_nullable = any_nullable or nullable
        return frozenset(found), any_nullable
    if op in (C.AT, C.ASSERT, C.ASSERT_NOT):
        return frozenset(), True  # zero-width: the next item decides (a looser test is safe)
    return None, True  # anything else: assume it can start anywhere


def first_characters(pattern: re.Pattern[str]) -> tuple[First, bool]:
    """(what can start a match, whether it can match the empty string) of a pattern."""
    return _first_characters(pattern.pattern, pattern.flags)


@lru_cache(maxsize=4096)  # states share rules through Pygments' include()
def _first_characters(source: str, flags: int) -> tuple[First, bool]:
    if flags & (re.ASCII | re.LOCALE):
        return None, True  # other character classes than the tests below know
    try:
        parsed = P.parse(source, flags)
    except Exception:  # any surprise means: keep the rule everywhere
        return None, True
    return _first_of_sequence(list(parsed), bool(flags & re.IGNORECASE))


def _in_class(items: tuple[Any, ...], c: str) -> bool:
    negate, hit = False, False
    for op, av in items:
        if op is C.NEGATE:
            negate = True
        elif op is C.LITERAL:
            hit = hit or chr(av) == c
        elif op is C.RANGE:
            hit = hit or av[0] <= ord(c) <= av[1]
        elif op is C.CATEGORY and av in _CATEGORIES:
            test, inverted = _CATEGORIES[av]
            hit = hit or test(c) != inverted
        else:
            return True
    return hit != negate


def _may_start(first: First, key: str) -> bool:
    """Whether a match can start with ``key``: an ASCII character, or :data:`_NON_ASCII`."""
    if first is None:
        return True
    for kind, value, icase in first:
        if key == _NON_ASCII:
            # Beyond ASCII, only an exact-case ASCII literal or class rules a rule out.
            exact_ascii = (kind == "literal" and value < 128) or (
                kind == "in" and _ascii_only(value)
            )
            if exact_ascii and not icase:
                continue
            return True
        # Ignoring case, an ASCII character also matches its other case, and a few
        # characters beyond ASCII ("K", the Kelvin sign): those keep the rule.
        candidates = (key.lower(), key.upper()) if icase else (key,)
        if kind == "literal":
            if chr(value) in candidates or (icase and value >= 128):
                return True
        elif (icase and not _ascii_only(value)) or any(_in_class(value, c) for c in candidates):
            return True
    return False


def _ascii_only(items: tuple[Any, ...]) -> bool:
    for op, av in items:
        if op is C.LITERAL and av < 128:
            continue
        if op is C.RANGE and av[1] < 128:
            continue
        return False
    return True


# --- the accelerated lexer ----------------------------------------------------------------


def _pattern(rule: Rule) -> re.Pattern[str]:
    return rule[0].__self__  # type: ignore[attr-defined,no-any-return]


class _State:
    """One lexer state: its rules, and those that can match by next character, made lazily."""

    def __init__(self, rules: list[Rule]) -> None:
        self.rules = rules
        self.firsts = [first_characters(_pattern(rule)) for rule in rules]
        self.by_char: dict[str, list[Rule]] = {}

    def at(self, c: str) -> list[Rule]:
        """The rules, in order, that can match where the text goes on with ``c`` ("" at the end)."""
        key = c if c < _NON_ASCII else _NON_ASCII
        found = self.by_char.get(key)
        if found is None:
            found = [
                rule
                for rule, (first, nullable) in zip(self.rules, self.firsts, strict=True)
                if nullable or (key != "" and _may_start(first, key))
            ]
            self.by_char[key] = found
        return found


def accelerate(lexer: Lexer) -> Lexer:
    """``lexer`` itself, with the faster loop when it is a plain ``RegexLexer``."""
    if type(lexer).get_tokens_unprocessed is not RegexLexer.get_tokens_unprocessed:
        return lexer  # a lexer with its own loop (or a non-regex lexer) keeps it
    states = {name: _State(rules) for name, rules in lexer._tokens.items()}  # type: ignore[attr-defined]

    def get_tokens_unprocessed(
        text: str, stack: tuple[str, ...] = ("root",)
    ) -> Iterator[tuple[int, Any, str]]:
        # RegexLexer.get_tokens_unprocessed, line for line, but for ``state.at``.
        pos = 0
        statestack = list(stack)
        state = states[statestack[-1]]
        while True:
            for rexmatch, action, new_state in state.at(text[pos : pos + 1]):
                m = rexmatch(text, pos)
                if m:
                    if action is not None:
                        if type(action) is _TokenType:
                            yield pos, action, m.group()
                        else:
                            yield from action(lexer, m)
                    pos = m.end()
                    if new_state is not None:
                        if isinstance(new_state, tuple):
                            for name in new_state:
                                if name == "#pop":
                                    if len(statestack) > 1:
                                        statestack.pop()
                                elif name == "#push":
                                    statestack.append(statestack[-1])
                                else:
                                    statestack.append(name)
                        elif isinstance(new_state, int):
                            if abs(new_state) >= len(statestack):
                                del statestack[1:]
                            else:
                                del statestack[new_state:]
                        elif new_state == "#push":
                            statestack.append(statestack[-1])
                        state = states[statestack[-1]]
                    break
            else:
                if pos >= len(text):
                    break
                if text[pos] == "\n":  # at the end of a line, back to "root"
                    statestack = ["root"]
                    state = states["root"]
                    yield pos, Whitespace, "\n"
                else:
                    yield pos, Error, text[pos]
                pos += 1

    lexer.get_tokens_unprocessed = get_tokens_unprocessed  # type: ignore[method-assign]
    return lexer
