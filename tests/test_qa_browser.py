"""QA pages in a real headless Chromium: images load, no console errors, keys and ratings work.

Skipped when no Chromium is installed (``scripts/install_browser.sh`` installs Debian's).
Screenshots and a PDF of the study page go to ``tests/artifacts/`` (ignored by git).
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from browser import Browser, find_chromium
from medseg.qa.ratings import read_ratings
from test_qa_pages import pages  # noqa: F401 - the rendered pages fixture

ARTIFACTS = Path(__file__).parent / "artifacts"

pytestmark = pytest.mark.skipif(
    find_chromium() is None, reason="no chromium executable found (run scripts/install_browser.sh to install it)"
)


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with Browser() as b:
        yield b


def _ratings(b: Browser) -> dict:
    return b.evaluate("JSON.parse(localStorage.getItem('medseg-qa-ratings-v1') || '{}')")


def _index_ratings(b: Browser, index: Path, expect: dict[str, str], wait_s: float = 5.0) -> dict[str, str]:
    """The "your rating" column of the index page, reloaded until it shows ``expect`` or ``wait_s`` passes.

    A page opened by the browser itself can start in a fresh renderer whose copy of
    localStorage lags the last page's writes by a moment on a loaded machine; a lost
    rating still fails after the wait.
    """
    deadline = time.monotonic() + wait_s
    while True:
        b.goto(index.as_uri())
        shown = b.evaluate(
            "Object.fromEntries(Array.from(document.querySelectorAll('span.rated'))"
            ".filter(s => s.textContent).map(s => [s.dataset.key, s.textContent]))"
        )
        if all(shown.get(k) == v for k, v in expect.items()) or time.monotonic() > deadline:
            return shown
        time.sleep(0.25)


@pytest.mark.parametrize("name", ["ears", "lv", "rejected", "index", "study"])
def test_page_loads_cleanly(browser: Browser, pages: dict[str, Path], name: str) -> None:  # noqa: F811
    browser.console_errors.clear()
    browser.goto(pages[name].as_uri())
    images = browser.evaluate("Array.from(document.images).map(i => [i.alt, i.complete, i.naturalWidth])")
    assert all(complete and width > 0 for _, complete, width in images), images
    assert browser.console_errors == []
    if name in ("ears", "lv", "study"):
        assert images
        browser.screenshot(ARTIFACTS / f"qa_{name}.png")
    if name == "study":
        assert browser.pdf(ARTIFACTS / "qa_study.pdf").read_bytes().startswith(b"%PDF")


def test_keyboard_and_clicks_rate_and_download(browser: Browser, pages: dict[str, Path]) -> None:  # noqa: F811
    browser.goto(pages["ears"].as_uri())
    browser.evaluate("localStorage.clear()")
    browser.goto(pages["ears"].as_uri())
    browser.console_errors.clear()
    browser.click("#reviewer")
    browser.type_text("AB")
    browser.press("Escape")
    browser.press("a")
    assert _ratings(browser)["ears/ear01"]["verdict"] == "accept"
    browser.press("f")
    assert browser.evaluate("document.activeElement.id") == "comment"
    browser.type_text("right ear missed")
    browser.press("c")  # typed into the comment, not a shortcut
    assert _ratings(browser)["ears/ear01"]["verdict"] == "accept"
    assert _ratings(browser)["ears/ear01"]["comment"] == "right ear missedc"
    browser.press("Backspace")
    browser.press("Escape")
    browser.press("c")
    rating = _ratings(browser)["ears/ear01"]
    assert (rating["verdict"], rating["comment"], rating["reviewer"]) == ("needs_correction", "right ear missed", "AB")
    assert "needs correction" in browser.evaluate("document.getElementById('rating-state').textContent")

    browser.press("n", navigates=True)
    assert browser.evaluate("location.pathname").endswith("/lv/lv01.html")
    browser.press("r")
    browser.click("#btn-accept")
    assert _ratings(browser)["lv/lv01"]["verdict"] == "accept"
    assert browser.evaluate("document.getElementById('reviewer').value") == "AB"  # kept across pages
    browser.press("ArrowRight", navigates=True)
    assert browser.evaluate("location.pathname").endswith("/lv/bad01.html")
    browser.click("#btn-reject")

    mark = len(browser.events)
    browser.press("d")
    tsv = browser.wait_download(since=mark)
    assert tsv.name.startswith("ratings_AB_") and tsv.suffix == ".tsv"
    lines = tsv.read_text().splitlines()
    assert lines[0] == "case\ttask\tverdict\tcomment\treviewer\ttimestamp"
    by_case = {r.case: r for r in read_ratings(tsv)}
    assert by_case["ear01"].verdict == "needs_correction" and by_case["ear01"].comment == "right ear missed"
    assert by_case["lv01"].verdict == "accept" and by_case["bad01"].verdict == "reject"
    assert {r.reviewer for r in by_case.values()} == {"AB"}

    mark = len(browser.events)
    browser.click("#btn-download-json")
    doc = json.loads(browser.wait_download(since=mark).read_text())
    assert doc["format"] == "medseg-qa-ratings" and len(doc["ratings"]) == 3

    browser.press("p", navigates=True)
    browser.press("ArrowLeft", navigates=True)
    assert browser.evaluate("location.pathname").endswith("/ears/ear01.html")
    assert browser.evaluate("document.getElementById('comment').value") == "right ear missed"
    assert browser.evaluate("document.querySelector('button.verdict.selected').dataset.verdict") == "needs_correction"
    shown = _index_ratings(browser, pages["index"], expect={"lv/bad01": "reject", "ears/ear01": "needs correction", "lv/lv01": "accept"})
    assert shown == {"ears/ear01": "needs correction", "lv/bad01": "reject", "lv/lv01": "accept"}, (shown, _ratings(browser))
    assert browser.console_errors == []
