"""``cardsmith preview``: every card as Anki shows it, on a local page that follows each save.

Each card is the note type's own front and back templates filled with the fields the
package gets (the Anki exporter's own code fills them: images under their media names),
styled by the note type's own CSS, with MathJax 3 (the build Anki's reviewer loads,
shipped inside the package) rendering ``\\(...\\)`` and ``\\[...\\]``. The night switch adds
the classes Anki adds to the page; the phone view is the same page in a 390-pixel frame,
so the note type's own ``@media`` rules apply.

The server listens on 127.0.0.1 only, answers only requests addressed to 127.0.0.1 or
localhost, serves a fixed set of paths (the page, its script and style, MathJax's files,
and the images the cards show), and forbids the browser to load anything from elsewhere
(Content-Security-Policy). The page asks for the build
number twice a second and fetches the cards again when it changed.
"""

from __future__ import annotations

import bisect
import html
import json
import re
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from . import resources
from .build import Resident, check
from .cache import ParseCache
from .config import Config, load_config
from .errors import CardsmithError, Diagnostic
from .export.anki import FIELDS, Medium, note_fields, note_model
from .records import BuildData, Card
from .report import questions

#: Anki's template syntax, as far as a note type of ours uses it: ``{{Field}}``.
_FIELD = re.compile(r"\{\{([^#/^{}][^{}]*)\}\}")
#: Who may load what: this server only; styles inline (MathJax writes its own).
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; font-src 'self' data:; connect-src 'self'; frame-src 'self'"
)
_TYPES = {
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".woff": "font/woff",
    ".png": "image/png",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".gif": "image/gif",
    ".svg": "image/svg+xml",
    ".webp": "image/webp",
}


_SKIPPED = '<span class="pv-skipped">不导入 not in the package (unanswered)</span>'


def fill(template: str, fields: dict[str, str]) -> str:
    """An Anki template with its ``{{Field}}`` references replaced; unknown ones are left."""
    return _FIELD.sub(lambda m: fields.get(m.group(1).strip(), m.group(0)), template)


@dataclass(frozen=True)
class Page:
    """What one build of the preview shows."""

    build: int
    """Counts the builds since the preview started; the page reloads the cards when it grows."""
    cards: str
    """The HTML of every card, its diagnostics beside it."""
    media: dict[str, Path] = field(default_factory=dict)
    """Media name -> image file, for every image the cards show."""


def _card_html(card: Card, front: str, back: str, problems: list[Diagnostic], note: str) -> str:
    search = " ".join((card.question, card.answer, card.deck.path, card.source.path)).lower()
    diags = "".join(
        f'<li class="pv-{d.severity}">{html.escape(f"line {d.line}: {d.severity}: {d.message}")}'
        "</li>"
        for d in problems
    )
    where = f"{card.source.path}:{card.source.line}"
    return (
        f'<article class="pv-card" data-search="{html.escape(search)}">'
        f'<div class="pv-meta"><span>{html.escape(card.deck.path)}</span>'
        f"<code>{html.escape(where)}</code>{note}</div>"
        '<div class="pv-sides">'
        f'<div class="pv-side"><div class="pv-label">正面 front</div>'
        f'<div class="card card1">{front}</div></div>'
        f'<div class="pv-side"><div class="pv-label">背面 back</div>'
        f'<div class="card card1">{back}</div></div>'
        "</div>"
        f'<ul class="pv-diags">{diags}</ul>'
        "</article>"
    )


def _by_card(
    cards: tuple[Card, ...], diagnostics: Iterable[Diagnostic]
) -> tuple[dict[int, list[Diagnostic]], list[Diagnostic]]:
    """Each diagnostic beside the card it falls in (the last question at or above its line).

    The rest (a whole file's, or above its first question) are the page's own.
    """
    starts: dict[str, list[int]] = {}
    index: dict[tuple[str, int], int] = {}
    for i, card in enumerate(cards):
        starts.setdefault(card.source.path, []).append(card.source.line)
        index[(card.source.path, card.source.line)] = i
    beside: dict[int, list[Diagnostic]] = {}
    rest: list[Diagnostic] = []
    for d in diagnostics:
        lines = starts.get(d.path, [])
        at = bisect.bisect_right(lines, d.line) - 1
        if at < 0:
            rest.append(d)
        else:
            beside.setdefault(index[(d.path, lines[at])], []).append(d)
    return beside, rest


def render_cards(
    cards: tuple[Card, ...], diagnostics: tuple[Diagnostic, ...], config: Config, skipped: set[str]
) -> tuple[str, dict[str, Path]]:
    """The cards' HTML as Anki shows them, and the images they need (media name -> file)."""
    model = note_model()
    front_t, back_t = model.templates[0]["qfmt"], model.templates[0]["afmt"]
    root = config.content.resolve()
    media: dict[str, Medium] = {}
    beside, rest = _by_card(cards, diagnostics)
    errors = sum(1 for d in diagnostics if d.severity == "error")
    head = (
        f'<p class="pv-status" data-cards="{len(cards)}">{len(cards)} questions · '
        f"{errors} error(s) · {len(diagnostics) - errors} warning(s)</p>"
    )
    if rest:
        items = "".join(
            f'<li class="pv-{d.severity}">{html.escape(str(d))}</li>' for d in sorted(rest)
        )
        head += f'<ul class="pv-diags pv-file-diags">{items}</ul>'
    parts = [head]
    for i, card in enumerate(cards):
        values = dict(zip(FIELDS, note_fields(card, root, media), strict=True))
        front = fill(front_t, values)
        back = fill(back_t, {**values, "FrontSide": front})
        note = _SKIPPED if card.id in skipped else ""
        parts.append(_card_html(card, front, back, beside.get(i, []), note))
    return "\n".join(parts), {name: medium.file for name, medium in media.items()}


class Preview:
    """The page's current state, rebuilt by :meth:`refresh` and read by the server threads."""

    def __init__(self, content: Path | None, options: dict[str, Any]) -> None:
        self.content = content
        self.options = options
        self._lock = threading.Lock()
        self._page = Page(0, '<p class="pv-status">building…</p>')
        self._good = ""  # the cards of the last build that read its settings
        self._resident = Resident()  # kept between refreshes; made now, while small

    def close(self) -> None:
        """Stop what the page keeps between refreshes (the duplicate search's process)."""
        self._resident.close()

    @property
    def page(self) -> Page:
        with self._lock:
            return self._page

    def refresh(self) -> str:
        """Check the notes again and publish the cards; one line saying what was found."""
        number = self.page.build + 1
        try:
            config = load_config(self.content, **self.options)
            cache = ParseCache.open(config, typst=False, memory=self._resident.records)
            result = check(config, cache=cache, resident=self._resident)
            cache.save()
        except CardsmithError as exc:  # settings or a missing folder: shown, not fatal
            # Above the cards of the last good build, so a typo in the settings does not
            # empty the page (and lose the place) while it is being fixed.
            kept = " The cards below are from the last good build." if self._good else ""
            text = f'<p class="pv-status pv-error">{html.escape(str(exc))}{kept}</p>'
            self._publish(Page(number, text + self._good, self.page.media))
            return f"not built: {exc}"
        cards = result.collection.cards
        diagnostics = result.collection.diagnostics
        data = BuildData(cards, config)
        skipped = {card.id for card in data.skipped}
        text, media = render_cards(cards, diagnostics, config, skipped)
        self._good = text
        self._publish(Page(number, text, media))
        errors = sum(1 for d in diagnostics if d.severity == "error")
        warnings = len(diagnostics) - errors
        return f"{questions(len(cards))}: {errors} error(s), {warnings} warning(s)"

    def _publish(self, page: Page) -> None:
        with self._lock:
            self._page = page


def _static(name: str) -> bytes:
    return resources.preview_files().joinpath(name).read_bytes()


_BAR = (
    '<header class="pv-bar">'
    '<input type="search" id="pv-search" placeholder="搜索 search" autocomplete="off">'
    '<label><input type="checkbox" id="pv-night"> 夜间 night</label>'
    '<label><input type="checkbox" id="pv-phone-view"> 手机 phone</label>'
    '<span id="pv-count"></span>'
    "</header>"
)


def page_html(embedded: bool) -> str:
    """The page around the cards: the note type's CSS, the controls, MathJax."""
    css = note_model().css.replace("</", "<\\/")  # raw text inside <style>: only "</" ends it
    body_class = "pv pv-embedded" if embedded else "pv"
    return (
        '<!doctype html>\n<html lang="zh"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        "<title>cardsmith preview</title>"
        f'<style id="note-type-css">{css}</style>'
        '<link rel="stylesheet" href="/preview.css">'
        '<script src="/preview.js"></script>'
        '<script src="/mathjax/tex-chtml-full.js" id="MathJax-script" async></script>'
        f'</head><body class="{body_class}">{"" if embedded else _BAR}'
        '<main id="cards"></main>'
        '<iframe id="pv-phone" title="phone" hidden></iframe>'
        "</body></html>\n"
    )


def _handler(preview: Preview) -> type[BaseHTTPRequestHandler]:
    mathjax = resources.preview_files().joinpath("mathjax")
    vendored = {entry.name for entry in mathjax.iterdir() if entry.is_file()}

    class Handler(BaseHTTPRequestHandler):
        server_version = "cardsmith-preview"

        def do_GET(self) -> None:  # the name http.server calls
            assert isinstance(self.server, ThreadingHTTPServer)
            port = self.server.server_port
            if self.headers.get("Host") not in (f"127.0.0.1:{port}", f"localhost:{port}"):
                # Another name that points here (DNS rebinding): a web page must not read
                # the notes through it.
                self.send_error(HTTPStatus.FORBIDDEN)
                return
            url = urlsplit(self.path)
            path = url.path
            routes: dict[str, Callable[[], tuple[bytes, str]]] = {
                "/": lambda: (page_html("embed" in url.query).encode(), "text/html; charset=utf-8"),
                "/cards": lambda: (preview.page.cards.encode(), "text/html; charset=utf-8"),
                "/build": lambda: (
                    json.dumps({"build": preview.page.build}).encode(),
                    "application/json",
                ),
                "/preview.js": lambda: (_static("preview.js"), _TYPES[".js"]),
                "/preview.css": lambda: (_static("preview.css"), _TYPES[".css"]),
            }
            name = path.rsplit("/", 1)[-1]
            if path in routes:
                body, kind = routes[path]()
            elif path == f"/mathjax/{name}" and name in vendored:
                body, kind = mathjax.joinpath(name).read_bytes(), _type(name)
            elif path == f"/{name}" and name in (media := preview.page.media):
                try:
                    body, kind = media[name].read_bytes(), _type(name)
                except OSError:
                    self.send_error(HTTPStatus.NOT_FOUND)
                    return
            else:
                self.send_error(HTTPStatus.NOT_FOUND)
                return
            self.send_response(HTTPStatus.OK)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Content-Security-Policy", CSP)
            self.send_header("Cache-Control", "no-store")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            pass  # the terminal shows what the builds found, not every request

    return Handler


def _type(name: str) -> str:
    return _TYPES.get(Path(name).suffix.lower(), "application/octet-stream")


def serve(preview: Preview, port: int = 0) -> ThreadingHTTPServer:
    """A server on 127.0.0.1 (``port`` 0: a free one), answering in a background thread."""
    server = ThreadingHTTPServer(("127.0.0.1", port), _handler(preview))
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, name="cardsmith-preview", daemon=True).start()
    return server
