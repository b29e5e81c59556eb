"""A note set with huge screenshots: ``python bench/huge_image.py OUT [COUNT]``.

Writes ``COUNT`` (default 1) distinct 20000×5000 PNGs shaped like a pasted screenshot
(white, a grid, boxes, a band of noise that does not compress), each in a question of
``OUT/notes.md``. ``bench/run.py --content OUT --formats pdf`` then measures the PDF build.
"""

from __future__ import annotations

import random
import sys
from pathlib import Path

WIDTH, HEIGHT = 20000, 5000


def screenshot(path: Path, seed: int) -> None:
    from PIL import Image, ImageDraw

    rng = random.Random(seed)
    image = Image.new("RGB", (WIDTH, HEIGHT), "white")
    draw = ImageDraw.Draw(image)
    for x in range(0, WIDTH, 200):
        draw.line([(x, 0), (x, HEIGHT)], fill=(220, 220, 220), width=2)
    for y in range(0, HEIGHT, 200):
        draw.line([(0, y), (WIDTH, y)], fill=(220, 220, 220), width=2)
    for _ in range(300):
        x, y = rng.randrange(WIDTH - 800), rng.randrange(HEIGHT - 300)
        colour = (rng.randrange(256), rng.randrange(256), rng.randrange(256))
        draw.rectangle([x, y, x + rng.randrange(100, 800), y + rng.randrange(50, 300)], colour)
    band = Image.frombytes("RGB", (WIDTH, 200), rng.randbytes(WIDTH * 200 * 3))
    image.paste(band, (0, HEIGHT // 2))
    image.save(path, "PNG")


def make(out: Path, count: int = 1) -> None:
    """Write the note and its ``count`` images into ``out``."""
    out.mkdir(parents=True, exist_ok=True)
    lines = ["## 大图", ""]
    for i in range(count):
        screenshot(out / f"screenshot-{i}.png", seed=i)
        lines += [f"#### {i + 1}. 第 {i + 1} 张大截图？", "", f"![截图](screenshot-{i}.png)", ""]
    (out / "notes.md").write_text("\n".join(lines), encoding="utf-8")


if __name__ == "__main__":
    make(Path(sys.argv[1]), int(sys.argv[2]) if len(sys.argv) > 2 else 1)
