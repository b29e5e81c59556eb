"""How a note file asks its questions: the shapes real notes come in, recognised from tokens.

``parse.py`` walks a file's blocks; this module answers its questions about them: which
heading level holds the questions, whether a paragraph opens one (``Q:``, ``问：``, a bold
line), whether a list is a table of contents, what a heading says as plain text, and what
the file's front matter states. Every answer is a pure function of tokens or text, so each
shape is one table entry or one function with one fixture (``tests/fixtures/parse``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from markdown_it.token import Token

#: The numbering in front of a question or section: ``1.``, ``1、``, ``1)``, ``（1）``,
#: outline numbers ``1.1`` / ``1.1.1``, ``Q1:``, ``题目1：`` / ``第3题``, ``第一章``, also
#: just inside a bold (``**1.概述**``). Presentation, never identity.
NUMBER = re.compile(
    r"^\s*(\*\*|__)?(?:"
    r"[(（]\d+[)）]\s*"  # （1）
    r"|\d+(?:[.．]\d+)+[.．]?\s*"  # outline: 1.1 / 1.1.1
    r"|\d+\s*[.、．)）:：]\s*"  # 1. / 1、 / 1) / 1:
    r"|[Qq]\d+\s*[.:：、．)）]?\s*"  # Q1: / Q1.
    r"|题目?\s*\d+\s*[.:：、．)）]\s*"  # 题目001： / 题1.
    r"|第\s*\d+\s*题\s*[.:：、．)）]?\s*"  # 第3题：
    r"|第[一二三四五六七八九十百零〇\d]+(?:部分|[章节篇讲部])\s*[:：、.]?\s*"  # 第一章
    r")"
)
#: A chapter's numbering (``第一章``, ``第二部分``): it opens a section, never a question
#: (``## 第一部分`` over a list of questions made one question "分" of them all: the
#: twelfth trial).
CHAPTER = re.compile(r"^\s*(\*\*|__)?第[一二三四五六七八九十百零〇\d]+(?:部分|[章节篇讲部])")

#: ``Q:`` / ``**Q:**`` / ``问：`` / ``问题1：`` / ``Question 3.`` opening a question paragraph.
QUESTION_MARK = re.compile(
    r"^\s*(\*\*|__)?\s*(?:Q(?:uestion)?|问题?)\s*\d*\s*[:：.．]\s*(\*\*|__)?\s*", re.IGNORECASE
)
#: ``A:`` / ``**A:**`` / ``答：`` / ``答案：`` / ``Answer:`` opening an answer.
ANSWER_MARK = re.compile(
    r"^\s*(\*\*|__)?\s*(?:A(?:nswer)?|答案?|回答)\s*\d*\s*[:：.．]\s*(\*\*|__)?\s*", re.IGNORECASE
)
#: A whole line in bold: ``**什么是交叉验证？**`` (group 2 is the text).
BOLD_LINE = re.compile(r"^\s*(\*\*|__)(?!\s)(.+?)(?<!\s)\1\s*$")

#: A question mark ending a line, maybe followed by what marks a question rather than
#: says more: closing quotes and brackets, emphasis, symbols and emoji (not a tick or a
#: cross: ``- 线程安全？❌`` is answered), short tags in brackets, a ``<br>``, a ``#tag``,
#: ``==高频==``, a ``<mark>``/``<sup>`` tag, an Obsidian block id: ``？”``, ``？（高频）``,
#: ``？ 🔥``, ``？ **[高频]**`` (the eighteenth to twenty-first trials). Comments are
#: taken out first (:func:`ends_asking`).
_ENDS_ASKING = (
    r"[?？](?:[^\w✓✔✗✘❌✅×√]|_|[（(【\[][^（）()【】\[\]\n]{1,20}[）)】\]]|<br\s*/?>"
    r"|#\w{1,12}|==[^=\n]{1,12}==|<(mark|sup|sub)>[^<\n]{0,20}</\1>|\^[\w-]{1,16})*$"
)
_ENDS_ASKING_RE = re.compile(_ENDS_ASKING)
_COMMENT = re.compile(r"<!--.*?-->")
#: Characters of a line's end :data:`_ENDS_ASKING` looks at: marks are short, and a
#: search over a whole line of ``？？？…`` took seconds (each mark tried to the end).
_TAIL = 48

#: Words that make a heading or a bold line read as a question.
_ASKING = re.compile(
    r"什么|为什么|为何|如何|怎么|怎样|哪些|哪个|区别|是否|吗\s*$"
    r"|^(?:what|why|how|when|which|who|explain|describe|compare|is|are|can|do|does)\b",
    re.IGNORECASE,
)

#: Verbs that set a task rather than state (``简述…。``, ``说一下…。``, ``请解释…。``): a line
#: opening with one asks, however it ends (the twenty-third trial's question banks).
_TASK = re.compile(
    r"\s*(?:\*\*|__)?\s*(?:请|简述|简要|简单说|说一下|说说|说明一下|介绍|谈谈|谈一谈|讲讲|讲一下"
    r"|解释|描述|列举|比较|阐述|论述|分析一下|举例|手写|手撕|写一个|写出|设计一个)"
)


def sets_task(text: str) -> bool:
    """True when ``text`` opens with a verb that sets a task (:data:`_TASK`)."""
    return _TASK.match(text) is not None


#: Heading titles that never ask (a table of contents, a bibliography), by lower-cased text.
NOT_QUESTIONS = frozenset(
    {
        "目录",
        "参考",
        "参考文献",
        "参考资料",
        "参考链接",
        "引用",
        "references",
        "reference",
        "table of contents",
        "contents",
        "toc",
    }
)

#: Headings that label a question's parts rather than ask it (``# 题目`` over the question's
#: text, ``# 参考答案`` over its answer), by lower-cased text: a layout no setting reads
#: (a heading is its question's text), which the hint of a file with no question names
#: instead of a question level that would make "题目" a question (the twenty-second
#: trial: a bank of 926 such files).
QUESTION_LABELS = frozenset(
    {"题目", "题目描述", "问题", "问题描述", "题干", "question", "problem", "description"}
)
ANSWER_LABELS = frozenset(
    {"答案", "参考答案", "标准答案", "参考作答", "解答", "解析", "思路", "解题思路", "answer"}
    | {"solution"}
)

#: ``question_style`` values: what may open a question.
STYLES = ("auto", "heading", "list", "bold", "qa")


def asks(text: str) -> bool:
    """True when ``text`` reads as a question (a question mark, a question word)."""
    text = text.strip().strip("*_ ")
    return ends_asking(text) or _ASKING.search(text) is not None


def ends_asking(line: str) -> bool:
    """True when ``line`` ends with a question mark (:data:`_ENDS_ASKING`), comments aside
    (``- 默认异步 <!-- 会丢数据？ -->`` asks nothing)."""
    if "<!--" in line:
        line = _COMMENT.sub("", line[-4 * _TAIL :])
    return _ENDS_ASKING_RE.search(line[-_TAIL:]) is not None


def plain_text(children: Sequence[Token]) -> str:
    """What an inline token shows, without its Markdown (``**并发**与`asyncio```: 并发与asyncio)."""
    out = []
    for child in children:
        if child.type in ("text", "code_inline", "html_inline"):
            out.append(child.content)
        elif child.type in ("softbreak", "hardbreak"):
            out.append(" ")
        elif child.type == "image":
            out.append(plain_text(child.children or ()))
    return "".join(out).strip()


def strip_number(text: str) -> str:
    """``text`` without its leading numbering (a bold around it stays)."""
    return NUMBER.sub(lambda m: m.group(1) or "", text, count=1).strip()


#: Numberings that open a paragraph, not a list (CommonMark 5.2 lists only ``1.`` and
#: ``1)``): ``1、什么是 GIL？`` then its answer, as Chinese notes often ask. Each is the
#: ``question_pattern`` that makes such paragraphs questions, which the hint of a file
#: with none names (:func:`paragraph_numbering`). Not read as questions unasked: the
#: same lines number the points of an answer (the twenty-second trial's public notes).
PARAGRAPH_NUMBERINGS = (r"^\d+\s*、", r"^\d+\s*．", r"^[（(]\d+[)）]")
_PARAGRAPH_NUMBERINGS = tuple(re.compile(p) for p in PARAGRAPH_NUMBERINGS)


def paragraph_numbering(line: str) -> str | None:
    """The entry of :data:`PARAGRAPH_NUMBERINGS` that ``line`` opens with (None: none)."""
    return next((p.pattern for p in _PARAGRAPH_NUMBERINGS if p.match(line) is not None), None)


#: A link a table of contents holds: to an in-page anchor, or to a note file (``a.md``,
#: ``./深度学习/cnn.md#卷积``), not to the web.
_TOC_LINK = re.compile(r"#|(?![a-z][a-z0-9+.-]*:|//)[^#?]*\.md(?:[#?]|$)", re.IGNORECASE)
#: What may stand beside the links of a table of contents: marks, not words (``⭐⭐``, ``—``).
_DECORATION = re.compile(r"[\W_]*")


def is_toc(tokens: Sequence[Token], start: int, end: int) -> bool:
    """True when the list ``tokens[start:end]`` holds only links to in-page anchors or
    to note files, maybe marked (``1. ⭐⭐ [闭包](./closure.md)``): an index, not questions
    (the eighteenth trial found 25 such items read as questions)."""
    links = 0
    for tok in tokens[start:end]:
        if tok.type != "inline":
            continue
        depth = 0
        for child in tok.children or ():
            if child.type == "link_open":
                if not _TOC_LINK.match(str(child.attrGet("href") or "")):
                    return False
                depth += 1
                links += 1
            elif child.type == "link_close":
                depth -= 1
            elif not depth and not _DECORATION.fullmatch(child.content):
                return False
    return links > 0


@dataclass(frozen=True)
class Heading:
    """A top-level ``#`` heading (CommonMark 4.2), as a file's shape is detected from it."""

    line: int
    """0-based line of the heading."""
    level: int
    """How many ``#`` open it."""
    text: str
    """Its Markdown, trimmed (the inline token's content)."""
    shown: str
    """Its plain text (what a person reads)."""


@dataclass(frozen=True)
class Numbering:
    """What the numbered headings of a file say about where its questions are."""

    level: int | None
    """The question level (None: no numbered headings)."""
    chapters: frozenset[int]
    """0-based lines of numbered headings that have numbered headings below them."""


def numbering(headings: Sequence[Heading]) -> Numbering:
    """The heading level that holds the questions, from the numbered headings.

    A numbered heading that has numbered headings below it (before the next heading of
    its level or higher) is a chapter; the question level is the shallowest level whose
    numbered headings are mostly not chapters. So ``## 1. Python 基础`` over ``#### 1.
    什么是 GIL？`` asks at level 4, ``# 1.激活函数`` over ``### 1.…`` at level 3, an
    outline ``1.1 / 1.1.1`` at its deepest level, while a question whose answer has a few
    numbered sub-headings (``##### 1. 长期依赖问题``) stays a question.
    ``headings``: the file's top-level ATX headings, in order (:func:`top_headings`).
    """
    numbered: dict[int, int] = {}
    per_level: dict[int, int] = {}
    chapters: set[int] = set()
    open_numbered: list[tuple[int, int]] = []  # (level, line)
    for heading in headings:
        level = heading.level
        while open_numbered and open_numbered[-1][0] >= level:
            open_numbered.pop()
        if CHAPTER.match(heading.text) or not (
            NUMBER.match(heading.text) or QUESTION_MARK.match(heading.text)
        ):
            continue
        numbered[level] = numbered.get(level, 0) + 1
        for above, line in open_numbered:
            if line not in chapters:
                chapters.add(line)
                per_level[above] = per_level.get(above, 0) + 1
        open_numbered.append((level, heading.line))
    found = next((n for n in sorted(numbered) if per_level.get(n, 0) * 2 <= numbered[n]), None)
    return Numbering(found, frozenset(chapters))


_ATX = frozenset("#" * n for n in range(1, 7))


def is_setext(heading: Token) -> bool:
    """True for a heading underlined with ``===`` or ``---`` (CommonMark's setext heading)."""
    return heading.markup not in _ATX


def top_headings(tokens: Sequence[Token], start: int = 0, end: int | None = None) -> list[Heading]:
    """The top-level ATX headings among ``tokens[start:end]``."""
    found = []
    for i in range(start, len(tokens) if end is None else end):
        tok = tokens[i]
        if tok.type == "heading_open" and tok.level == 0 and tok.markup in _ATX and tok.map:
            inline = tokens[i + 1]
            shown = plain_text(inline.children or ())
            found.append(Heading(tok.map[0], len(tok.markup), inline.content, shown))
    return found


def asking_level(headings: Sequence[Heading]) -> int | None:
    """Without numbered headings: the level where at least two headings, and at least
    two in five of that level's headings, read as questions (``## 什么是 GIL？``)."""
    total: dict[int, int] = {}
    asking: dict[int, int] = {}
    for heading in headings:
        total[heading.level] = total.get(heading.level, 0) + 1
        if asks(heading.shown):
            asking[heading.level] = asking.get(heading.level, 0) + 1
    best = [(n, level) for level, n in asking.items() if n >= 2 and n * 5 >= total[level] * 2]
    return max(best)[1] if best else None


def title_question(headings: Sequence[Heading]) -> Heading | None:
    """The file's first heading when it is alone at the shallowest level and ends with a
    question mark (``# 说说你对 GAE 的理解？`` over ``## 原理``): maybe the file's one
    question. Only named in hints: such files often ask more below it (``**Q：…**``), which
    reading it as a question would swallow (the eighteenth trial)."""
    if not headings:
        return None
    first, top = headings[0], min(h.level for h in headings)
    alone = sum(h.level == top for h in headings) == 1
    return first if first.level == top and alone and ends_asking(first.shown) else None


# --- front matter ----------------------------------------------------------------------------

_FENCE = re.compile(r"^---\s*$")
_END = re.compile(r"^(---|\.\.\.)\s*$")


@dataclass(frozen=True)
class FrontMatter:
    """The YAML block at the top of a note file (``---`` … ``---``): metadata, never a section."""

    lines: int = 0
    """How many lines it spans, fences included (0: none)."""
    values: Mapping[str, Any] | None = None
    """Its keys and values ("None" when absent or not a YAML mapping)."""
    problem: str = ""
    """Why it could not be read ("" when it could)."""


def front_matter(text: str) -> FrontMatter:
    """The front matter at the very top of ``text``, if any."""
    if not text.startswith("---"):
        return FrontMatter()
    lines = text.split("\n", 200)
    if not _FENCE.match(lines[0]):
        return FrontMatter()
    end = next((i for i in range(1, len(lines) - 1) if _END.match(lines[i])), 0)
    if not end:
        return FrontMatter()
    import yaml  # here: 12 ms of every start, and most notes have no front matter

    try:
        values = yaml.safe_load("\n".join(lines[1:end]))
    except yaml.YAMLError as exc:
        first = str(exc).splitlines()[0] if str(exc) else "not YAML"
        return FrontMatter(end + 1, None, f"front matter is not valid YAML ({first})")
    if values is not None and not isinstance(values, dict):
        return FrontMatter(end + 1, None, "front matter is not a YAML mapping of keys to values")
    return FrontMatter(end + 1, values or {})


def as_strings(value: Any) -> tuple[str, ...]:
    """A front-matter value read as strings: ``python`` or ``[python, 面试]``."""
    if isinstance(value, (list, tuple)):
        return tuple(str(v) for v in value if v is not None and str(v).strip())
    if value is None or not str(value).strip():
        return ()
    return tuple(t.strip() for t in str(value).split(",") if t.strip())


def structure_problems(level: Any, style: Any, pattern: Any) -> list[str]:
    """What is wrong with the three structure settings (from ``cardsmith.toml`` or front
    matter); empty when they are fine."""
    problems = []
    if not isinstance(level, int) or isinstance(level, bool) or not 0 <= level <= 6:
        problems.append(f"question_level must be 0 (detect) or a heading level 1-6, not {level!r}")
    if style not in STYLES:
        problems.append(f"question_style must be one of {', '.join(STYLES)}, not {style!r}")
    if not isinstance(pattern, str):
        problems.append(f"question_pattern must be a string, not {pattern!r}")
    else:
        try:
            re.compile(pattern)
        except re.error as exc:
            problems.append(f"question_pattern {pattern!r} is not a regular expression: {exc}")
    return problems
