"""The playground page (``whet/serve/playground.html``, through ``whet.serve.pages``)."""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import HTMLResponse

from whet.serve.pages import page_html, page_response

router = APIRouter(include_in_schema=False)
PAGE = Path(__file__).resolve().parent.parent / "playground.html"


@router.get("/", response_class=HTMLResponse)
async def playground() -> HTMLResponse:
    return page_response(page_html(PAGE))
