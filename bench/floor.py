"""The floor: markdown-it-py parse + render and Pygments highlighting of a corpus, nothing else.

``python bench/floor.py CORPUS``: one process, file by file, a reused lexer and formatter.
"""

from __future__ import annotations

import sys
from pathlib import Path

from markdown_it import MarkdownIt
from pygments import highlight
from pygments.formatters import HtmlFormatter
from pygments.lexers import PythonLexer


def main(corpus: Path) -> None:
    lexer, formatter = PythonLexer(), HtmlFormatter(nowrap=True)
    md = MarkdownIt(
        "commonmark", {"highlight": lambda code, _lang, _attrs: highlight(code, lexer, formatter)}
    )
    md.enable(["table", "strikethrough"])
    size = 0
    for path in sorted(corpus.glob("*.md")):
        size += len(md.render(path.read_text(encoding="utf-8")))
    print(size)


if __name__ == "__main__":
    main(Path(sys.argv[1]))
