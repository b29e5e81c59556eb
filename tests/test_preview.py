"""``cardsmith preview`` in a real headless Chromium (Debian's, driven by Playwright)."""

from __future__ import annotations

import io
import re
import signal
import socket
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from PIL import Image, ImageChops, ImageStat
from playwright.sync_api import Page, sync_playwright

from pipeline.preview import Preview, fill

CHROMIUM = "/usr/bin/chromium"  # scripts/system-deps.sh test installs it; no browser download
#: The flags that work as root on a machine without a network (no sandbox, no background calls).
FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
NOTE = (
    "## 基础\n\n"
    "1. 什么是列表？\n\n   有序的容器，长度是 \\\\(n^2\\\\) 的一半。\n\n"
    "2. 没有答案的问题？\n"
)
TIMEOUT_MS = 20_000


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    """A running ``cardsmith preview`` on a small notes folder: its address and the folder."""
    content = tmp_path_factory.mktemp("preview") / "content"
    content.mkdir()
    (content / "notes.md").write_text(NOTE, encoding="utf-8")
    process = subprocess.Popen(
        [sys.executable, "-m", "pipeline", "preview", "--content", str(content)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        encoding="utf-8",
    )
    assert process.stdout is not None
    lines = [process.stdout.readline(), process.stdout.readline()]
    match = re.search(r"http://127\.0\.0\.1:\d+/", lines[0])  # the port first
    assert match, lines
    assert "2 questions: 0 error(s), 1 warning(s)" in lines[1]
    yield match.group(0), content
    process.send_signal(signal.SIGINT)
    assert process.wait(timeout=20) == 130  # as every command stops on Ctrl-C
    assert process.stderr is not None
    assert process.stderr.read() == "cardsmith: stopped by SIGINT\n"


@pytest.fixture(scope="module")
def browser_page(served: tuple[str, Path]) -> Iterator[tuple[Page, list[str]]]:
    """The preview open in headless Chromium, and every URL the page has asked for."""
    requested: list[str] = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        page = browser.new_page(viewport={"width": 1200, "height": 900})
        page.set_default_timeout(TIMEOUT_MS)
        page.on("request", lambda request: requested.append(request.url))
        page.goto(served[0])
        # Cards loaded and math typeset. (A locator, not wait_for_function: the page's CSP
        # forbids eval, which Playwright's string predicates use once they start polling.)
        page.locator("body[data-typeset='1']").wait_for(state="attached")
        yield page, requested
        browser.close()


def _mean_luminance(png: bytes) -> float:
    return float(ImageStat.Stat(Image.open(io.BytesIO(png)).convert("L")).mean[0])


def test_the_page_shows_each_card_with_the_note_types_templates_and_math(
    browser_page: tuple[Page, list[str]],
) -> None:
    page, _ = browser_page
    first = page.locator(".pv-card").first
    front, back = first.locator(".card").all()
    assert front.locator(".cs-question").inner_text() == "什么是列表？"
    assert back.locator(".cs-answer").inner_text().startswith("有序的容器")
    assert "notes.md — notes · 基础" in back.locator(".cs-source").inner_text()
    # MathJax (from the package) turned \(n^2\) into rendered math, as Anki would.
    assert back.locator("mjx-container").count() == 1
    assert "\\(" not in back.inner_text()
    # Each card's problems beside it: the unanswered one says so and is marked as skipped.
    second = page.locator(".pv-card").nth(1)
    assert "question has no answer" in second.locator(".pv-diags").inner_text()
    assert "not in the package" in second.locator(".pv-meta").inner_text()


def test_night_mode_darkens_the_card_as_ankis_night_mode_does(
    browser_page: tuple[Page, list[str]], tmp_path: Path
) -> None:
    page, _ = browser_page
    card = page.locator(".pv-card").first.locator(".card").nth(1)
    background = "getComputedStyle(document.querySelector('.pv-card .card')).backgroundColor"
    assert page.evaluate(background) == "rgb(255, 255, 255)"
    day = card.screenshot(path=str(tmp_path / "day.png"))
    page.locator("#pv-night").check()
    assert page.evaluate("document.body.classList.contains('nightMode')")
    assert page.evaluate(background) == "rgb(30, 30, 30)"
    night = card.screenshot(path=str(tmp_path / "night.png"))
    page.locator("#pv-night").uncheck()
    day_image, night_image = Image.open(io.BytesIO(day)), Image.open(io.BytesIO(night))
    assert day_image.size == night_image.size
    assert ImageChops.difference(day_image.convert("RGB"), night_image.convert("RGB")).getbbox()
    assert _mean_luminance(day) > 200 > 80 > _mean_luminance(night)


def test_search_keeps_only_matching_cards(browser_page: tuple[Page, list[str]]) -> None:
    page, _ = browser_page
    page.locator("#pv-search").fill("列表")
    assert page.locator(".pv-card:not(.pv-hidden)").count() == 1
    page.locator("#pv-search").fill("")
    assert page.locator(".pv-card:not(.pv-hidden)").count() == page.locator(".pv-card").count()


def test_the_phone_view_is_the_page_at_phone_width(browser_page: tuple[Page, list[str]]) -> None:
    page, _ = browser_page
    page.locator("#pv-phone-view").check()
    frame = page.frame_locator("#pv-phone")
    frame.locator(".pv-card .cs-question").first.wait_for()
    width = frame.locator("body").evaluate("body => body.clientWidth")
    assert 300 < width <= 390
    page.locator("#pv-phone-view").uncheck()
    assert page.locator("#cards").is_visible()


def test_a_saved_note_appears_without_a_reload(
    browser_page: tuple[Page, list[str]], served: tuple[str, Path]
) -> None:
    page, _ = browser_page
    page.evaluate("window.notReloaded = true")
    notes = served[1] / "notes.md"
    notes.write_text(NOTE + "\n3. 什么是元组？\n\n   不可变的序列。\n", encoding="utf-8")
    page.get_by_text("什么是元组？").first.wait_for()
    assert page.evaluate("window.notReloaded === true")
    assert page.locator(".pv-card").count() == 3


def test_nothing_is_loaded_from_anywhere_but_the_preview(
    browser_page: tuple[Page, list[str]], served: tuple[str, Path]
) -> None:
    _page, requested = browser_page
    base = served[0]
    assert requested and all(url.startswith(base) for url in requested), requested
    assert any(url.endswith("/mathjax/tex-chtml-full.js") for url in requested)
    for path in ("", "cards", "?embed=1"):
        with urllib.request.urlopen(base + path) as response:
            text = response.read().decode("utf-8")
            assert "default-src 'self'" in response.headers["Content-Security-Policy"]
        assert not re.findall(r"https?://(?!127\.0\.0\.1)", text)


def test_a_request_for_another_host_name_is_refused(served: tuple[str, Path]) -> None:
    request = urllib.request.Request(served[0] + "cards", headers={"Host": "evil.example:80"})
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request)
    assert refused.value.code == 403


def test_fill_replaces_fields_and_leaves_unknown_references() -> None:
    assert fill("{{Question}}|{{ Answer }}|{{#Tags}}", {"Question": "q", "Answer": "a"}) == (
        "q|a|{{#Tags}}"
    )


def test_a_port_in_use_is_said_at_once_before_any_note_is_compiled(tmp_path: Path) -> None:
    content = tmp_path / "content"
    content.mkdir()
    (content / "notes.md").write_text(NOTE, encoding="utf-8")
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        command = ["preview", "--content", str(content), "--port", str(port)]
        done = subprocess.run(
            [sys.executable, "-m", "pipeline", *command],
            capture_output=True,
            text=True,
            timeout=60,
            cwd=tmp_path,  # the cache would go beside ./build, here
        )
    assert done.returncode == 2
    assert f"cannot listen on 127.0.0.1:{port}" in done.stderr
    assert not (tmp_path / ".cardsmith-cache").exists()  # nothing was compiled


def test_a_broken_settings_file_keeps_the_last_cards_under_its_error(tmp_path: Path) -> None:
    content = tmp_path / "content"
    content.mkdir()
    (content / "notes.md").write_text(NOTE, encoding="utf-8")
    preview = Preview(content, {})
    assert preview.refresh() == "2 questions: 0 error(s), 1 warning(s)"
    good = preview.page.cards
    (content / "cardsmith.toml").write_text("[pdf\n", encoding="utf-8")  # saved half-way
    assert preview.refresh().startswith("not built: ")
    page = preview.page
    assert 'class="pv-status pv-error"' in page.cards
    assert "The cards below are from the last good build." in page.cards
    assert page.cards.endswith(good) and page.build == 2
    preview.close()
