"""The assistant's chat page in headless Chromium (Debian's ``chromium``, driven by Playwright):
a clarification answered by clicking an option, then a hand-off after declining twice.

The browser is a system package (``make browser`` installs it); without it this test fails, it is
never skipped.
"""

from __future__ import annotations

from tests.integration.serve.conftest import API_KEY
from tests.integration.serve.test_serve_playground import browser_page


def test_chat_page_answer_clarification_and_handoff(assistant_server):
    with browser_page(assistant_server.url + "/chat") as (page, console_errors):
        assert page.text_content("[data-greeting]") == "Hello! How can I help you today?"
        # Without the key the service refuses, and the page says so.
        page.fill("#text", "hello")
        page.click("#send")
        page.wait_for_selector("#error:has-text('Error 401')")
        page.fill("#api-key", API_KEY)
        page.dispatch_event("#api-key", "change")

        page.fill("#text", "I need help with my account")
        page.click("#send")
        clarify = page.locator(".msg.assistant[data-action='clarify']").first
        clarify.wait_for()
        assert clarify.text_content().startswith("Do you mean ")
        option = clarify.locator("button.option").nth(1)
        intent, title = option.get_attribute("data-intent"), option.text_content()
        option.click()
        answer = page.locator(".msg.assistant[data-action='answer']").first
        answer.wait_for()
        assert f"answer {intent}" in answer.locator(".meta").text_content()
        assert page.locator(".msg.customer").last.text_content() == title
        session = page.text_content("#session")
        assert len(session) == 32

        page.fill("#text", "something else entirely")
        page.click("#send")
        page.locator(".msg.assistant[data-action='clarify']").nth(1).wait_for()
        page.fill("#text", "neither")
        page.click("#send")
        handoff = page.locator(".msg.assistant[data-action='handoff']").first
        handoff.wait_for()
        assert "will follow up" in handoff.text_content() and "ticket " in handoff.locator(".meta").text_content()
        assert page.text_content("#session") == session  # one conversation throughout
        assert page.text_content("#error") == ""
    # The 401 above is the only failed request the page saw.
    assert all("401" in error for error in console_errors), console_errors
