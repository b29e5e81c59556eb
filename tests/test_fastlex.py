"""The accelerated lexers give exactly the tokens stock Pygments gives."""

from __future__ import annotations

import json
import random
import re
import sys
from collections.abc import Iterator
from functools import cache
from pathlib import Path

import pytest
from pygments.lexer import Lexer, RegexLexer, bygroups, default, include
from pygments.lexers import get_all_lexers, get_lexer_by_name
from pygments.token import Keyword, Name, Number, Punctuation, String, Text, Whitespace

from pipeline import build, highlight
from pipeline.config import load_config
from pipeline.fastlex import _may_start, accelerate, first_characters
from pipeline.parse import parse_file
from tests.conftest import SEEDS

# Corners of the Python lexer: string prefixes in every case, f-strings inside f-strings,
# soft keywords, numbers, Chinese names and text, unclosed strings, stray characters.
PYTHON_CORNERS = [
    'Rb"x" bR\'y\' rB"""z""" Br\'\'\'w\'\'\' u"v" U\'t\' F"{a!r:>{w}}" fR"{b}\\d" rf\'{c}\'\n',
    'f"{x + f\'{y:{z}}\'}" f"""\n{a}\n""" b"\\x00\\n" "\\N{BULLET} \\u4e2d \\q"\n',
    "match command:\n    case [x, *rest] if x > 0:\n        pass\n    case _:\n        type = 1\n",
    "async def f(*, a=0x_FF, b=1_000.5e-3j, c=0o17, d=0b1, e=.5, f=1e10):\n"
    "    await g(a @ b, c := 3, d ** -e, ...)\n",
    "@decorator(arg)\nclass 类(Base, metaclass=Meta):\n"
    "    '''文档字符串'''\n    变量 = \"中文\"  # 注释：中文\n",
    's = "never closed\nnext = \'also open\n"""\ntriple never closed\n',
    "x = $ ? ` \\\n    + 1\tif\ttabs else None\n",
    "from . import (a as b,\n    c)\nimport os.path as p, sys\n",
    "lambda: (yield from g()); del x[1:2:3]; global g; nonlocal n; assert x, 'm'\n",
    "__init__ __name__ self cls print(len(range(3))) ValueError NotImplemented\n",
    "",
    "\n\n\n",
    "'",
    'f"{',
]

# The languages people put in interview notes, each lexed on every snippet (foreign text too:
# the error paths must agree as well).
LANGUAGES = [
    "python", "json", "bash", "javascript", "typescript", "java", "c", "cpp", "go", "rust",
    "sql", "yaml", "html", "css", "markdown", "text", "scala", "ruby", "php", "pycon",
]  # fmt: skip

SNIPPETS = [
    *PYTHON_CORNERS,
    '{"a": [1, 2.5e3, true, null], "中文": "\\u4e2d"}\n',
    "for f in *.md; do echo \"$f\" | grep -E '^#+' && x=$((1+2)); done # c\n",
    "const f = async (a) => { return `t ${a}` / 2; }; // c\n/* block */ let re = /a+/g;\n",
    '#include <stdio.h>\nint main(void) { printf("%d\\n", 0x1F); return 0; }\n',
    "SELECT a, COUNT(*) FROM t WHERE b = 'x' GROUP BY a; -- c\n",
    "key: value\nlist:\n  - a\n  - 'b'\n# c\n",
    '<div class="x"><script>alert(1)</script></div>\n',
]


def _seed_code() -> list[str]:
    blocks: list[str] = []
    for path in sorted(p.name for p in SEEDS.glob("*.md")):
        for card in parse_file(SEEDS, path, load_config(SEEDS)).cards:
            blocks.extend(block.code for block in card.code_blocks)
    return blocks


@cache
def _lexer(language: str, fast: bool) -> Lexer:
    lexer = get_lexer_by_name(language, stripnl=False, ensurenl=False)
    return accelerate(lexer) if fast else lexer


def _same(language: str, text: str) -> bool:
    stock = list(_lexer(language, False).get_tokens(text))
    return list(_lexer(language, True).get_tokens(text)) == stock


@pytest.mark.parametrize(
    "language", ["python", "bash", "javascript", "java", "go", "rust", "sql", "html", "css"]
)
def test_regex_lexers_are_accelerated(language: str) -> None:
    # Without this, the equality tests below would pass on unaccelerated lexers too.
    assert "get_tokens_unprocessed" in vars(_lexer(language, True))


def test_seed_code_lexes_the_same() -> None:
    blocks = _seed_code()
    assert len(blocks) == 41
    for code in blocks:
        assert _same("python", code)


@pytest.mark.parametrize("language", LANGUAGES)
def test_language_lexes_the_same(language: str) -> None:
    for text in SNIPPETS:
        assert _same(language, text), text


def test_random_python_lexes_the_same() -> None:
    # Fragments glued at random land the lexer in every state with every next character.
    fragments = re.findall(r"\S+|\s+", "".join(PYTHON_CORNERS) + "".join(_seed_code()))
    rng = random.Random(20261122)
    for _ in range(300):
        text = "".join(rng.choice(fragments) for _ in range(rng.randint(1, 40)))
        assert _same("python", text), text


@pytest.mark.parametrize(
    ("pattern", "starts", "cannot_start", "nullable"),
    [
        (r"def\b", "d", "eD中 ", False),
        (r"(?<!\.)(self|cls)\b", "sc", "S.x", False),
        (r"\s*#", " \t#", "a", False),
        (r"[0-9_]+", "0_9", "a", False),
        (r"[^a-z]", "A0中", "ab", False),
        (r"(?i)(rb|br)", "rRbB", "x", False),
        (r"\w+", "a_0中", " .", False),
        (r"x*", "", "", True),
        (r"", "", "", True),
    ],
)
def test_first_characters(pattern: str, starts: str, cannot_start: str, nullable: bool) -> None:
    def key(c: str) -> str:
        return c if c < "\x80" else "\x80"

    first, can_be_empty = first_characters(re.compile(pattern, re.MULTILINE))
    assert can_be_empty == nullable
    for c in starts:
        assert _may_start(first, key(c)), c
    for c in cannot_start:
        if c < "\x80":  # beyond ASCII the analysis keeps every rule that might match
            assert not _may_start(first, key(c)), c


class _Constructs(RegexLexer):
    """Every construct the fast loop handles: (?i), bygroups, default(), #push, #pop, #pop:2."""

    name = "constructs"
    tokens = {  # noqa: RUF012 - Pygments' own convention
        "root": [
            (r"(?i)(begin)(\s+)", bygroups(Keyword, Whitespace), "block"),  # type: ignore[no-untyped-call]
            (r"\d+(?=\.)", Number),
            (r"[a-z_]\w*", Name),
            (r"\s+", Whitespace),
            (r"\.", Punctuation),
        ],
        "block": [
            (r"(?i)end\b", Keyword, "#pop"),
            (r"\{", Punctuation, "#push"),
            (r"\}", Punctuation, "#pop:2"),
            (r"'", String, "string"),
            include("root"),
        ],
        "string": [
            (r"[^'\\]+", String),
            (r"\\.", String.Escape),
            (r"'", String, "#pop"),
            default("#pop"),
        ],
    }


class _Backreference(RegexLexer):
    """A back-reference: each rule is still matched on its own, so ``\\1`` keeps its meaning."""

    name = "backreference"
    tokens = {"root": [(r"(['\"]).*?\1", String), (r".", Text), (r"\n", Text)]}  # noqa: RUF012


def test_every_construct_lexes_the_same() -> None:
    texts = [
        "'quoted' \"double\" 'open \"mixed'",
        "BEGIN x {1. y} 'a\\'b' End z",
        "begin x begin y end end",
        "begin {{ }} } } end 12.5 'open",
        "Begin\n'x\n' é 中 END",
        "",
    ]
    for lexer in (_Constructs, _Backreference):
        fast = accelerate(lexer(stripnl=False))
        assert "get_tokens_unprocessed" in vars(fast)
        for text in texts:
            assert list(fast.get_tokens(text)) == list(lexer(stripnl=False).get_tokens(text))


def test_every_regex_lexer_pygments_ships_lexes_the_same() -> None:
    # A guard for Pygments upgrades too: a rule construct the analysis misreads shows here.
    accelerated = 0
    for _name, aliases, *_ in get_all_lexers():
        if not aliases:
            continue
        stock = get_lexer_by_name(aliases[0], stripnl=False, ensurenl=False)
        fast = accelerate(get_lexer_by_name(aliases[0], stripnl=False, ensurenl=False))
        if "get_tokens_unprocessed" not in vars(fast):
            continue
        accelerated += 1
        for text in SNIPPETS:
            assert list(fast.get_tokens(text)) == list(stock.get_tokens(text)), (aliases[0], text)
    assert accelerated > 400  # most of Pygments' lexers are plain regex lexers


@pytest.fixture
def fresh_highlight(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """highlight's caches emptied and fastlex unimported, before and after the test."""
    monkeypatch.delitem(sys.modules, "pipeline.fastlex", raising=False)
    highlight.accelerator.cache_clear()
    highlight.lexer_for.cache_clear()
    yield
    highlight.accelerator.cache_clear()
    highlight.lexer_for.cache_clear()


def _stock_python_still_highlights() -> None:
    lexer = highlight.lexer_for("python")
    assert lexer is not None and "get_tokens_unprocessed" not in vars(lexer)
    assert '<span class="k">def</span>' in highlight.highlight_html("def f(): pass\n", "python")


@pytest.mark.usefixtures("fresh_highlight")
def test_fastlex_can_be_switched_off(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CARDSMITH_FASTLEX", "0")
    assert highlight.accelerator() is None
    _stock_python_still_highlights()


@pytest.mark.usefixtures("fresh_highlight")
def test_without_the_private_regex_parser_pygments_runs_stock(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # A future Python without re._parser: importing fastlex fails, the tool does not.
    monkeypatch.delattr(re, "_parser")
    monkeypatch.setitem(sys.modules, "re._parser", None)
    assert highlight.accelerator() is None
    _stock_python_still_highlights()


# --- lexers made before workers are forked -----------------------------------------------


@pytest.mark.usefixtures("fresh_highlight")
def test_warm_lexers_makes_the_lexers_the_fences_name() -> None:
    notes = [
        b"## s\n\n1. q?\n\n   ```python\n   x = 1\n   ```\n",
        b"~~~{bash, echo=FALSE}\nls\n~~~\n",
        b"```Rust extra words\nfn main() {}\n```\n",
    ]
    # A closing fence reads as an unlabelled one: the detectors' languages are made too.
    assert highlight.warm_lexers(notes) == {"python", "bash", "Rust", "json"}
    made = highlight.lexer_for.cache_info().currsize
    highlight.lexer_for("python")
    assert highlight.lexer_for.cache_info().hits == 1
    assert highlight.lexer_for.cache_info().currsize == made


@pytest.mark.usefixtures("fresh_highlight")
def test_warm_lexers_takes_the_default_language_for_unlabelled_fences() -> None:
    assert highlight.warm_lexers([b"```\nx\n```\n"], default_language="sql") == {"sql"}
    assert highlight.warm_lexers([b"no fence here, only `code`\n"]) == frozenset()


@pytest.mark.usefixtures("fresh_highlight")
def test_warm_lexers_makes_only_the_languages_fenced_most() -> None:
    # Notes may name thousands of languages (or lines may only look like fences): a name
    # Pygments does not know costs a lookup, so only the WARMED most frequent are made.
    many = b"".join(f"```lang{n}\nx\n```\n".encode() for n in range(40))
    made = highlight.warm_lexers([many, b"```python\n1\n```\n" * 100])
    assert len(made) == highlight.WARMED and "python" in made


@pytest.mark.usefixtures("fresh_highlight")
@pytest.mark.usefixtures("workers_at_any_size")
def test_a_compile_on_workers_makes_the_lexers_first_in_the_parent(tmp_path: Path) -> None:
    # The workers inherit the lexers; the parent compiles nothing itself, so only the
    # warming could have made one here (from the bytes read for the cache: a build with
    # --no-cache leaves its workers to make their own).
    content = tmp_path / "content"
    content.mkdir()
    for name in ("a.md", "b.md"):
        (content / name).write_text(
            f"## {name}\n\n1. 怎样写？\n\n   ```python\n   print(1)\n   ```\n", "utf-8"
        )
    build(load_config(content, out=tmp_path / "build", formats=("json",), workers=2))
    cards = json.loads((tmp_path / "build" / "cards.json").read_text("utf-8"))["cards"]
    assert [c["code_blocks"][0]["language"] for c in cards] == ["python", "python"]
    assert highlight.lexer_for.cache_info().currsize >= 1


@pytest.mark.parametrize("info", ["{,}", "{ , }", "{,,}"])
def test_a_fence_whose_braces_name_no_language_is_unlabelled(info: str, tmp_path: Path) -> None:
    # R Markdown's {python, echo=FALSE} names its language first; braces holding only
    # commas name none, and the fence reads as one without a language (the thirtieth
    # trial: an IndexError, in a worker and, since this round, before the workers too).
    note = f"## 节\n\n1. 怎样写？\n\n   ```{info}\n   x = 1\n   ```\n"
    (tmp_path / "a.md").write_text(note, "utf-8")
    parsed = parse_file(tmp_path, "a.md", load_config(tmp_path))
    assert [(b.language, b.detected) for b in parsed.cards[0].code_blocks] == [("python", True)]
    assert highlight.warm_lexers([f"```{info}\n".encode()]) == {"json", "python"}
