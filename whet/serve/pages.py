"""The web pages of whet serve and its applications: one HTML file each (no build step, nothing
from a CDN), answered under one content security policy. The helpers the pages share
(``page.js``) are put in place of a page's ``<script src="page.js"></script>`` line, so a page
stays a single response whose scripts are all inline."""

from __future__ import annotations

import functools
from pathlib import Path

from fastapi.responses import HTMLResponse

SHARED_SCRIPT = Path(__file__).resolve().parent / "page.js"
SHARED_MARKER = '<script src="page.js"></script>'
# The pages call the API from the browser; they need no CORS since they come from the same origin.
POLICY = "default-src 'self'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; img-src data:"


@functools.cache
def page_html(path: Path) -> str:
    """The page at ``path`` with the shared helpers in place of its marker line (read once)."""
    html = path.read_text(encoding="utf-8")
    if SHARED_MARKER in html:
        shared = SHARED_SCRIPT.read_text(encoding="utf-8")
        if "</script" in shared.lower():  # it would end the inline element it is put in
            raise RuntimeError(f"{SHARED_SCRIPT} holds a closing script tag and cannot be inlined")
        html = html.replace(SHARED_MARKER, "<script>\n" + shared + "</script>")
    return html


def page_response(html: str) -> HTMLResponse:
    return HTMLResponse(html, headers={"Content-Security-Policy": POLICY})
