"""The playground page: one self-contained HTML file (no build step, nothing from a CDN)."""

from __future__ import annotations

import functools
from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import HTMLResponse

router = APIRouter(include_in_schema=False)
PAGE = Path(__file__).resolve().parent.parent / "playground.html"


@functools.cache
def _page() -> str:
    return PAGE.read_text(encoding="utf-8")


@router.get("/", response_class=HTMLResponse)
async def playground() -> HTMLResponse:
    # The page calls the API from the browser; it needs no CORS since it comes from the same origin.
    return HTMLResponse(_page(), headers={"Content-Security-Policy": "default-src 'self'; script-src 'unsafe-inline'; "
                                                                       "style-src 'unsafe-inline'; img-src data:"})
