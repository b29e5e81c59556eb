"""HTML people write in notes: one allowlist, kept on the card, printed in the PDF, reported.

Harmless markup (``<br>``, ``<sub>``, ``<details>``, ``<kbd>``, ``<img src width>``…) is kept,
comments are dropped, and everything that can run or load (``<script>``, ``<style>``,
``<iframe>``, event handlers, ``javascript:`` URLs) is removed. The removing is done by
``nh3`` (Rust's ammonia), a maintained allowlist sanitiser, on the card's rendered HTML:
sanitising the Markdown instead would eat math such as ``\\(x<y\\)``. The same tables say
what the check reports and what the PDF prints, so the three never disagree.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from functools import lru_cache
from html.parser import HTMLParser

import nh3

#: Tags kept on a card. ``class`` is allowed through :data:`ATTRIBUTES` only, never also
#: through nh3's ``allowed_classes``: ammonia panics on that combination.
TAGS = frozenset(
    {
        *("a", "abbr", "b", "big", "blockquote", "br", "caption", "center", "cite", "code"),
        *("col", "colgroup", "dd", "del", "details", "div", "dl", "dt", "em", "font", "h1"),
        *("h2", "h3", "h4", "h5", "h6", "hr", "i", "img", "ins", "kbd", "li", "mark", "ol"),
        *("p", "pre", "q", "s", "small", "span", "strike", "strong", "sub", "summary", "sup"),
        *("table", "tbody", "td", "tfoot", "th", "thead", "tr", "tt", "u", "ul"),
    }
)

#: Tags removed together with everything inside them: they run, load or style the page.
REMOVED = frozenset(
    {
        *("script", "style", "iframe", "frame", "frameset", "object", "embed", "applet"),
        *("noscript", "template", "svg", "math", "form", "textarea", "select", "link", "meta"),
        *("base", "audio", "video", "source", "canvas"),
    }
)

#: Every element name of HTML (the living standard's, and the obsolete ones browsers still
#: know). A tag of another name in a note (``List<String>``, ``<cache/>`` of a pasted XML
#: configuration) is no markup its author meant: it is shown as written
#: (:func:`pipeline.render.unknown_tags_as_text`), where a browser would hide it and its
#: text (the twenty-second trial).
ELEMENTS = frozenset(
    {
        *TAGS,
        *REMOVED,
        *("address", "area", "article", "aside", "bdi", "bdo", "body", "button", "data"),
        *("datalist", "dfn", "dialog", "fieldset", "figcaption", "figure", "footer"),
        *("head", "header", "hgroup", "html", "input", "label", "legend", "main", "map"),
        *("menu", "meter", "nav", "optgroup", "option", "output", "param", "picture"),
        *("progress", "rp", "rt", "ruby", "samp", "search", "section", "slot", "title"),
        *("time", "track", "var", "wbr", "acronym", "basefont", "bgsound", "blink", "dir"),
        *("isindex", "keygen", "listing", "marquee", "menuitem", "multicol", "nextid"),
        *("nobr", "noembed", "noframes", "plaintext", "rb", "rtc", "spacer", "xmp"),
    }
)

#: Attributes kept, per tag (the renderers' own markup needs ``class`` and ``data-lang``).
ATTRIBUTES: Mapping[str, frozenset[str]] = {
    "img": frozenset({"src", "alt", "width", "height", "title"}),
    "a": frozenset({"href", "title"}),
    "td": frozenset({"colspan", "rowspan", "align", "style"}),
    "th": frozenset({"colspan", "rowspan", "align", "style"}),
    "span": frozenset({"class", "style"}),
    "div": frozenset({"class", "align"}),
    "pre": frozenset({"class", "data-lang"}),
    "code": frozenset({"class"}),
    "p": frozenset({"class", "align"}),
    "font": frozenset({"color"}),
    "ol": frozenset({"start"}),
    "details": frozenset({"open"}),
}

#: URL schemes a kept ``href``/``src`` may have (a relative path has none).
SCHEMES = frozenset({"http", "https", "mailto"})


@lru_cache(maxsize=1)
def _cleaner() -> nh3.Cleaner:
    """The sanitiser, built once per process (reused, it is four times faster)."""
    return nh3.Cleaner(
        tags=set(TAGS),
        clean_content_tags=set(REMOVED),
        attributes={tag: set(names) for tag, names in ATTRIBUTES.items()},
        url_schemes=set(SCHEMES),
        filter_style_properties={"color", "background-color", "text-align"},
        link_rel=None,
        strip_comments=True,
    )


def sanitise(html: str) -> str:
    """``html`` with only the allowlisted markup left; comments and active content gone."""
    return _cleaner().clean(html)


# --- what the check reports --------------------------------------------------------------


@dataclass(frozen=True)
class Tag:
    """One start tag (or comment) of a raw HTML fragment."""

    name: str
    """Lower-case tag name; ``!--`` for a comment, ``/name`` for an end tag."""
    attrs: tuple[tuple[str, str], ...]
    """Attributes as written (names lower-case, values unescaped)."""
    line: int = 0
    """Its line in the fragment, 0-based: a problem is told at its own line (a block's
    problems were all told at its first: the eleventh trial)."""


class _Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.found: list[Tag] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        line = self.getpos()[0] - 1
        self.found.append(Tag(tag, tuple((k, v or "") for k, v in attrs), line))

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.handle_starttag(tag, attrs)

    def handle_endtag(self, tag: str) -> None:
        self.found.append(Tag("/" + tag, (), self.getpos()[0] - 1))

    def handle_comment(self, data: str) -> None:
        self.found.append(Tag("!--", (), self.getpos()[0] - 1))


def tags(fragment: str) -> list[Tag]:
    """The tags of a raw HTML fragment, in order."""
    parser = _Tags()
    parser.feed(fragment)
    parser.close()
    return parser.found


def _scheme(value: str) -> str:
    """The URL scheme of an attribute value, as a browser reads it ("" for a path)."""
    parts = "".join(value.split()).lower().split(":", 1)
    return parts[0] if len(parts) == 2 and "/" not in parts[0] else ""


def _active_url(value: str) -> bool:
    scheme = _scheme(value)
    return bool(scheme) and scheme not in SCHEMES


def problems(fragment: str) -> Iterator[tuple[int, str]]:
    """What the card loses of a raw HTML fragment, in words (nothing for harmless markup),
    each with the 0-based line of the fragment it is at."""
    for tag in tags(fragment):
        if tag.name in REMOVED:
            yield (
                tag.line,
                f"<{tag.name}> is removed with its content: it could run or load something",
            )
        elif tag.name not in TAGS and tag.name[0] not in "/!":
            yield (
                tag.line,
                f"<{tag.name}> is not kept (the text inside it is): only harmless markup is; "
                "put it in backticks to show it as code",
            )
        for name, value in tag.attrs:
            if name.startswith("on"):
                yield tag.line, f"the {name} handler of <{tag.name}> is removed: it would run code"
            elif name in ("href", "src") and _active_url(value):
                yield (
                    tag.line,
                    f"the {name} of <{tag.name}> is removed: '{_scheme(value)}:' URLs "
                    "could run or load something (only http, https and mailto are kept)",
                )


def image_sources(fragment: str) -> list[tuple[int, str]]:
    """The ``src`` of every ``<img>`` in a raw HTML fragment (as written, entities decoded),
    each with its 0-based line in the fragment."""
    return [
        (tag.line, value)
        for tag in tags(fragment)
        if tag.name == "img"
        for name, value in tag.attrs
        if name == "src" and value and not _active_url(value)
    ]
