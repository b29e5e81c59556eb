"""Images for the PDF: read by their real format, huge ones scaled down first.

Typst trusts a file's extension (a PNG saved as ``.jpg`` stops the whole compile), refuses
JPEGs wider than 16384 px, and holds every embedded image at full size in memory: a single
20000×5000 screenshot cost 375 MB and 2 s, three of them 1 GB
(shared/research/libraries-math-html-images.md). So each image is opened with Pillow first,
header only: its real format is passed to Typst explicitly, and one larger than
:data:`MAX_SIDE` is scaled down into a scratch folder and printed from there.
"""

from __future__ import annotations

import hashlib
import re
import warnings
from dataclasses import dataclass
from pathlib import Path

from PIL import Image, UnidentifiedImageError  # only the PDF exporter imports this module

#: Longest side printed, in pixels: 2400 px across a 9 cm column is over 600 dpi.
MAX_SIDE = 2400
#: Larger images are not decoded at all: decoding takes up to 4 bytes a pixel (480 MB here).
#: 20725×5330, the largest screenshot met in public notes, is 110 million.
MAX_PIXELS = 120_000_000
#: Pillow's format name -> Typst's, for the formats Typst reads itself.
TYPST_FORMATS = {"PNG": "png", "JPEG": "jpg", "GIF": "gif", "WEBP": "webp"}
_TYPST_JPEG_WIDTH = 16384  # Typst's own limit for a JPEG

_ORIENTATION = 0x0112  # the EXIF tag
#: EXIF orientation -> the transpose that sets the picture upright (as ImageOps does).
_ROTATIONS = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}

TOO_LARGE = "图片过大，无法打印"
NOT_AN_IMAGE = "不是可打印的图片"
REMOTE_IN_SVG = "SVG 引用了网上的图片，无法打印"


@dataclass(frozen=True)
class Printable:
    """How one image file is printed."""

    path: str
    """Absolute path of the file Typst reads ("" when the image cannot be printed)."""
    format: str
    """Its Typst format (``png``, ``jpg``…), or, when ``path`` is "", the reason shown instead."""


def _svg(path: Path) -> bool:
    with path.open("rb") as f:
        head = f.read(512).lstrip()
    return head.startswith((b"<svg", b"<?xml")) and b"<svg" in head


#: An SVG that pulls in a file from the web: Typst refuses the whole sheet for it.
_SVG_REMOTE = re.compile(rb"""href\s*=\s*["']\s*(?:https?:)?//""", re.IGNORECASE)


def _svg_printable(path: Path) -> Printable:
    """An SVG as Typst reads it, or a placeholder when it links an image on the web."""
    try:
        remote = _SVG_REMOTE.search(path.read_bytes())
    except OSError:
        return Printable("", NOT_AN_IMAGE)
    return Printable("", REMOTE_IN_SVG) if remote else Printable(str(path), "svg")


def printable(source: Path, scratch: Path) -> Printable:
    """How to print ``source``: itself with its real format, a scaled copy in ``scratch``, or
    a reason why not."""
    Image.MAX_IMAGE_PIXELS = MAX_PIXELS  # Pillow's own guard, twice as high, set from ours
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            image = Image.open(source)
    except Image.DecompressionBombError:
        return Printable("", TOO_LARGE)
    except (UnidentifiedImageError, OSError):
        return _svg_printable(source) if _svg(source) else Printable("", NOT_AN_IMAGE)
    with image:
        kind = TYPST_FORMATS.get(image.format or "")
        width, height = image.size  # from the header: nothing is decoded yet
        if kind and max(width, height) <= MAX_SIDE:
            return Printable(str(source), kind)
        if width * height > MAX_PIXELS:
            return Printable("", TOO_LARGE)
        digest = hashlib.sha256(f"{source}\0{source.stat().st_mtime_ns}".encode()).hexdigest()
        jpeg = kind == "jpg"
        target = scratch / f"{digest[:20]}.{'jpg' if jpeg else 'png'}"
        try:
            # The saved copy has no EXIF, so a phone photo's rotation is applied to the
            # small image (ImageOps.exif_transpose on the big one would copy all of it).
            orientation = image.getexif().get(_ORIENTATION, 1)
            if jpeg:
                image.draft("RGB", (MAX_SIDE, MAX_SIDE))  # decodes at 1/2, 1/4, 1/8 size
            image.thumbnail((MAX_SIDE, MAX_SIDE))  # in place: one full-size copy, no more
            turn = _ROTATIONS.get(orientation)
            scaled = image.transpose(turn) if turn is not None else image
            if jpeg:
                scaled.convert("RGB").save(target, "JPEG", quality=90)
            else:
                scaled.save(target, "PNG", compress_level=1)  # small already: speed first
        except (OSError, ValueError):  # truncated or broken: Typst would fail on it too
            return Printable("", NOT_AN_IMAGE)
    return Printable(str(target), "jpg" if jpeg else "png")
