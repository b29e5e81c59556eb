"""Image and link destinations: as written -> a :class:`~pipeline.records.Target`, judged once.

Every output reads the verdict made here: validation reports it, the HTML and Typst
renderers show the image or a placeholder, the Anki exporter packs the file. The rules:

- a destination with a URL scheme (``https:``, ``mailto:``, ``data:``) or starting with
  ``//`` is external, and ``#fragment`` an in-page anchor: neither is ever read;
- anything else is a path: percent-escapes decoded, ``?query`` and ``#fragment`` dropped,
  relative to the note's folder, or to the content folder when it starts with ``/`` (as on
  GitHub and documentation sites);
- a path that resolves (links followed) outside the content folder is ``outside``, and its
  file is never read, not even to see whether it exists;
- an Obsidian embed (``![[name.png]]``) not found that way is looked up by its name
  anywhere in the content folder, as Obsidian does (folders walked in name order, each
  folder's own files before its sub-folders');
- a local image that is not a file is ``missing``; one that is gets a media name from a
  hash of its bytes, so two different ``1.png`` never collide in Anki's flat media folder
  and a changed image arrives under a new name.
"""

from __future__ import annotations

import errno
import hashlib
import os
import re
import stat
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from urllib.parse import unquote

from .records import Target, TargetKind

_SCHEME = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*:")


def is_external(url: str) -> bool:
    """True for URLs (``https:``, ``mailto:``, ``data:``) and protocol-relative ``//`` links."""
    return bool(_SCHEME.match(url)) or url.startswith("//")


def media_name(data: bytes, suffix: str) -> str:
    """Name of an image in Anki's media folder: 20 hex digits of its sha256, then its suffix."""
    return hashlib.sha256(data).hexdigest()[:20] + suffix.lower()


@dataclass
class Resolver:
    """Resolves the destinations of one note file; each distinct one is judged once."""

    root: Path
    """The content folder, resolved (absolute, links followed)."""
    note_dir: Path
    """Folder of the note file, resolved."""
    _seen: dict[tuple[str, bool, bool], tuple[TargetKind, str, str, str]] = field(
        default_factory=dict
    )

    def judged_alike(self, targets: Iterable[Target]) -> bool:
        """Whether each of ``targets``, judged by an earlier compile, is judged the same now:
        the same kind, file and media name (a hash of the image's bytes)."""
        for earlier in targets:
            now = self.target(earlier.url, earlier.line, earlier.image, earlier.embed)
            if (now.kind, now.file, now.media) != (earlier.kind, earlier.file, earlier.media):
                return False
        return True

    def target(self, url: str, line: int, image: bool, embed: bool = False) -> Target:
        """The verdict on ``url`` (a ``src`` or ``href`` as markdown-it normalised it).

        ``embed`` marks an Obsidian embed: when missing, it is looked for by name.
        """
        key = (url, image, embed)
        if key not in self._seen:
            verdict = self._judge(url, image)
            if embed and verdict[0] == "missing":
                found = _by_name(self.root).get(Path(unquote(url)).name)
                verdict = self._judge("/" + found, image) if found else verdict
            self._seen[key] = verdict
        kind, file, media, reason = self._seen[key]
        return Target(url, unquote(url), line, image, kind, file, media, reason, embed)

    def _judge(self, url: str, image: bool) -> tuple[TargetKind, str, str, str]:
        """(kind, file, media name, reason) of a destination."""
        if is_external(url):
            return "external", "", "", ""
        if url.startswith("#") or not url:
            return "anchor", "", "", ""
        written = unquote(url.split("#", 1)[0].split("?", 1)[0])
        base = self.root if written.startswith("/") else self.note_dir
        try:
            resolved = (base / written.lstrip("/")).resolve()
        except OSError as exc:
            if exc.errno == errno.ENAMETOOLONG:  # no file can have it
                return "missing", written, "", ""
            return "unreadable", "", "", exc.strerror or str(exc)  # a link loop
        except RuntimeError as exc:  # a link loop (older Pythons)
            return "unreadable", "", "", str(exc)
        except ValueError:  # a NUL in it (``a%00.png``): no file has such a name
            return "missing", written, "", ""
        if resolved != self.root and self.root not in resolved.parents:
            return "outside", "", "", ""
        file = resolved.relative_to(self.root).as_posix()
        if not image:
            # A link to another note renamed since, say (the card keeps it as written). Only
            # a file name with a suffix is looked for: a footnote's ``[^1]: 来自…`` makes
            # CommonMark read ``[^1]`` as a link to its text (reported as a footnote).
            gone = bool(Path(written).suffix) and not _exists(resolved)
            return ("missing" if gone else "local"), file, "", ""
        try:
            data = read_regular(resolved)
        except FileNotFoundError:  # the card shows a placeholder
            return "missing", file, "", ""
        except OSError as exc:  # a folder, no permission: the build stops at its line
            if exc.errno == errno.ENAMETOOLONG:  # no file can have it: a placeholder
                return "missing", file, "", ""
            return "unreadable", file, "", exc.strerror or str(exc)
        broken = undecodable(data)
        if broken:  # saved half-way, say: Anki would show a broken image, Typst would stop
            return "unreadable", file, "", broken
        return "local", file, media_name(data, resolved.suffix), ""


def _exists(path: Path) -> bool:
    """Whether ``path`` names something; False for a name no file can have (too long, a
    NUL in it: ``[n](a%00.md)``), which stopped a check with an internal error."""
    try:
        return path.exists()
    except (OSError, ValueError):
        return False


def read_regular(path: Path) -> bytes:
    """The bytes of the file at ``path``; :class:`OSError` when it is not a regular file.

    Opened without waiting and looked at before it is read: reading a named pipe waits for
    a writer for ever, and the build with it.
    """
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)  # no effect on a regular file's reads
    try:
        mode = os.fstat(fd).st_mode
        if stat.S_ISDIR(mode):
            raise IsADirectoryError(errno.EISDIR, os.strerror(errno.EISDIR), str(path))
        if not stat.S_ISREG(mode):
            raise OSError(errno.EINVAL, "not a file (a named pipe, socket or device)", str(path))
        with os.fdopen(fd, "rb", closefd=False) as found:
            return found.read()
    finally:
        os.close(fd)


#: The first bytes of the formats whose data is checked to the end (others, SVG among them,
#: are left to the exporters: the PDF prints a placeholder for what it cannot read).
_DECODED = (b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff", b"GIF87a", b"GIF89a")


#: How the other formats a browser or Anki may show begin (WebP, BMP, TIFF, ICO, AVIF and
#: HEIF, JPEG XL); SVG is text (``_SVG``). Bytes like none of these are no image.
_OTHER_IMAGES = (
    re.compile(rb"RIFF....WEBP", re.DOTALL),
    re.compile(rb"BM"),
    re.compile(rb"II\*\x00|MM\x00\*"),
    re.compile(rb"\x00\x00[\x01\x02]\x00"),
    re.compile(rb"....ftyp", re.DOTALL),
    re.compile(rb"\xff\x0a|\x00\x00\x00\x0cJXL "),
)
_SVG = re.compile(rb"\s*(<\?xml|<svg|<!--|<!DOCTYPE svg)", re.IGNORECASE)


def undecodable(data: bytes) -> str:
    """Why an image's bytes are not a whole image ("" when they are, or are not checked).

    A PNG's chunks are read to the end and their checksums compared; a JPEG or GIF is
    decoded at an eighth of its size (libjpeg scales while decoding). A 15 MB PNG takes
    6 ms, a 4 MB JPEG of noise 28 ms, measured here; a truncated file raises in both. An
    empty file, or bytes no image format begins with (text saved as ``.png``), are none:
    the card showed a broken image without a word (the eleventh trial).
    """
    if not data:
        return "the file is empty; save the image again"
    if not data.startswith(_DECODED):
        if _SVG.match(data[:256]) or any(p.match(data) for p in _OTHER_IMAGES):
            return ""
        return "not an image (its bytes are no PNG, JPEG, GIF, WebP or SVG)"
    import io
    import warnings

    from PIL import Image  # only for notes with images (12 ms)

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data))
        with image:
            if image.format == "PNG":
                image.verify()
            else:
                image.draft("RGB", (64, 64))
                image.load()
    except Image.DecompressionBombError:
        return ""  # whole, just huge: the PDF says so itself
    except (OSError, SyntaxError, ValueError) as exc:
        # Pillow names the stream it read ("cannot identify image file <_io.BytesIO object
        # at 0x…>"): a memory address, nothing for the person.
        why = _STREAM.sub("", str(exc)).strip() or type(exc).__name__
        return f"not a whole image ({why}); save it again"
    return ""


_STREAM = re.compile(r"\s*<_io\.\w+ object at 0x[0-9a-f]+>")


@lru_cache(maxsize=4)
def _by_name(root: Path) -> dict[str, str]:
    """File name -> the first file of that name under ``root`` (hidden folders skipped)."""
    found: dict[str, str] = {}
    for folder, dirs, files in os.walk(root):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        rel = Path(folder).relative_to(root)
        for name in sorted(files):
            found.setdefault(name, (rel / name).as_posix())
    return found
