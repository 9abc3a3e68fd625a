"""The playground page in headless Chromium (Debian's ``chromium``, driven by Playwright): type a
text, press Predict, see the label and its probabilities, or the entities marked in the text, or
a causal LM's completion streamed in.

The browser is a system package (``make browser`` installs it); without it this test fails, it is
never skipped.
"""

from __future__ import annotations

import contextlib
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.integration.serve.conftest import API_KEY

CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]


def chromium_path() -> str:
    found = os.environ.get("WHET_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
    if not Path(found).is_file():
        pytest.fail("Chromium is missing: run `make browser` (apt-get install chromium) or set WHET_CHROMIUM "
                    "to a Chromium binary", pytrace=False)
    return found


@contextlib.contextmanager
def browser_page(url: str) -> Iterator[tuple[Any, list[str]]]:
    """A headless Chromium page opened at ``url``, and the console errors it logs."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_ARGS)
        page = browser.new_page()
        page.set_default_timeout(20_000)
        console_errors: list[str] = []
        page.on("console", lambda message: message.type == "error" and console_errors.append(message.text))
        page.goto(url)
        try:
            yield page, console_errors
        finally:
            browser.close()


@pytest.fixture(scope="module")
def page(api_server):
    with browser_page(api_server.url + "/") as opened:
        yield opened


def test_playground_asks_for_a_key_then_predicts_a_label(page, offline):
    page, console_errors = page
    # The server wants a key: the model list cannot load until one is typed.
    page.wait_for_selector("#error:has-text('Cannot list the models')")
    page.fill("#api-key", API_KEY)
    page.dispatch_event("#api-key", "change")
    page.wait_for_selector("#model option[value='intents']", state="attached")
    assert page.text_content("#error") == ""
    page.select_option("#model", "intents")
    page.fill("#text", "I lost my card yesterday")
    page.click("#predict")
    page.wait_for_selector("#label")
    expected = offline("intents").predict(["I lost my card yesterday"])[0]
    assert page.text_content("#label") == f"Label: {expected['label']}"
    rows = page.locator("#result tbody tr")
    assert rows.count() == len(expected["probabilities"])
    assert rows.first.locator("td").first.text_content() == expected["label"]  # sorted, most likely first
    # The only failed load is the model list asked for before the key was typed.
    assert console_errors == ["Failed to load resource: the server responded with a status of 401 (Unauthorized)"]


def test_playground_marks_entities_and_reports_errors(page, offline):
    page, _ = page
    text = "Maria Lopez flew to Lisbon"
    page.select_option("#model", "ner")
    page.fill("#text", text)
    page.click("#predict")
    page.wait_for_selector("#marked")
    expected = offline("ner").predict([text])[0]
    assert page.text_content("#marked").replace("\n", "") == "".join(
        _marked(text, expected["entities"]))
    assert page.locator("#entities tbody tr").count() == len(expected["entities"])
    page.select_option("#model", "pairs")
    assert page.is_visible("#text-pair")
    page.fill("#text", "x" * 2001)
    page.click("#predict")
    page.wait_for_selector("#error:has-text('at most 2000')")


def test_playground_streams_a_generation(page, api_server):
    page, _ = page
    page.select_option("#model", "lm")
    assert page.text_content("#predict") == "Generate"
    page.fill("#text", "fox jumps")
    page.click("#predict")
    page.wait_for_selector("#label:has-text('Generated')")
    with api_server.client() as client:
        [expected] = client.post("/v1/generate", json={"model": "lm", "prompts": ["fox jumps"]}).json()["generations"]
    assert page.text_content("#generated") == expected["text"]
    assert page.text_content("#label") == f"Generated {expected['completion_tokens']} tokens (the token limit)"
    page.select_option("#model", "intents")
    assert page.text_content("#predict") == "Predict"


def _marked(text: str, entities: list[dict]) -> list[str]:
    """The page's text content: each entity followed by its type label."""
    parts, at = [], 0
    for entity in entities:
        parts += [text[at:entity["start"]], text[entity["start"]:entity["end"]], entity["type"]]
        at = entity["end"]
    return parts + [text[at:]]
