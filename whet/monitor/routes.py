"""The monitor's HTTP routes on ``whet serve``'s app (same keys, limits, access log, metrics):
documents in, and the JSON the dashboard draws (series per key and window, alerts, documents)."""

from __future__ import annotations

import asyncio
import functools
import math
import time
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import BaseModel, ConfigDict, Field

from whet.monitor.alerts import alert_payload, iso
from whet.monitor.settings import duration_seconds
from whet.monitor.windows import window_figures
from whet.serve.deps import Caller
from whet.serve.schemas import error_responses

router = APIRouter(tags=["monitor"])
HERE = Path(__file__).resolve().parent
STATIC = {"uPlot.iife.min.js": "text/javascript", "uPlot.min.css": "text/css"}


class DocumentsRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    documents: list[dict[str, Any]] = Field(..., min_length=1, max_length=4096,
                                            description="Records: id, timestamp, source, text, metadata.")


def _monitor(request: Request) -> Any:
    return request.app.state.monitor


def _ingest(request: Request, documents: list[dict]) -> dict:
    problems: list[str] = []
    # Ingestion (scoring, storing, judging windows) runs one request at a time: rules judge each window once.
    with request.app.state.monitor_lock:
        stats = _monitor(request).ingest(((f"documents[{i}]", record) for i, record in enumerate(documents)),
                                         report=problems.append)
    if stats.alerts and request.app.state.monitor_delivery is not None:
        request.app.state.monitor_delivery.wake()
    rejected = []
    for problem in problems:
        where, _, reason = problem.partition(": ")
        rejected.append({"index": int(where.removeprefix("documents[").rstrip("]")), "reason": reason})
    return {"received": stats.read, "stored": stats.stored, "duplicates": stats.duplicates, "rejected": rejected,
            "alerts": [alert_payload(a) for a in stats.alerts]}


@router.post("/v1/monitor/documents", responses=error_responses(400, 401, 413, 422, 429))
async def post_documents(body: DocumentsRequest, request: Request, caller: Caller) -> dict:
    """Score, store and window documents; answers once they are committed. A document whose id is
    stored already counts once; a bad record is rejected with its index and reason, the rest go on."""
    return await asyncio.to_thread(_ingest, request, body.documents)


@router.get("/v1/monitor/keys", responses=error_responses(401, 429))
async def keys(request: Request, caller: Caller) -> dict:
    """The entities and topics seen, ``overall`` first."""
    found = await asyncio.to_thread(_monitor(request).store.keys)
    return {"keys": sorted(found, key=lambda k: (k != "overall", k)), "windows": _monitor(request).config.windows}


@router.get("/v1/monitor/series", responses=error_responses(401, 422, 429))
async def series(request: Request, caller: Caller, key: str = "overall",
                 window: Annotated[str | None, Query(description="A window size of the config (default its first).")] = None,
                 windows: Annotated[int, Query(ge=1, le=2000, description="How many windows, ending with the latest.")] = 168) -> dict:
    """Per window: volume, shares, the sentiment index with its 95 % interval; and the key's alerts."""
    monitor = _monitor(request)
    window = window or monitor.config.windows[0]
    if window not in monitor.config.windows:
        raise HTTPException(422, f"window {window!r} is not one of the config's windows: {', '.join(monitor.config.windows)}")
    size = duration_seconds(window)

    def load() -> dict:
        latest = monitor.store.latest_timestamp() or time.time()
        end = (math.floor(latest / size) + 1) * size
        start = end - windows * size
        counts = {c.start: c for c in monitor.store.window_counts(
            size, start=start, end=end, keys=[key], negative_label=monitor.config.sentiment.negative_label,
            positive_label=monitor.config.sentiment.positive_label)}
        points = []
        for i in range(windows):
            at = start + i * size
            c = counts.get(at)
            points.append({"start": at, **window_figures(c.documents if c else 0, c.negative if c else 0,
                                                         c.positive if c else 0)})
        alerts = [alert_payload(a) | {"window_start_s": a["window_start"]}
                  for a in monitor.store.alerts(since=start, key=key) if a["window_end"] - a["window_start"] == size]
        return {"key": key, "window": window, "points": points, "alerts": alerts}

    return await asyncio.to_thread(load)


@router.get("/v1/monitor/alerts", responses=error_responses(401, 429))
async def alerts(request: Request, caller: Caller, key: str | None = None,
                 limit: Annotated[int, Query(ge=1, le=1000)] = 100) -> dict:
    """The latest alerts, newest first, with their evidence and delivery state."""
    found = await asyncio.to_thread(_monitor(request).store.alerts, key=key)
    return {"alerts": [alert_payload(a) | {"delivery": a["delivery"]} for a in reversed(found[-limit:])]}


@router.get("/v1/monitor/documents", responses=error_responses(401, 429))
async def documents(request: Request, caller: Caller, key: str = "overall",
                    since: Annotated[float | None, Query(description="Seconds since the epoch.")] = None,
                    until: Annotated[float | None, Query(description="Seconds since the epoch.")] = None,
                    limit: Annotated[int, Query(ge=1, le=200)] = 10) -> dict:
    """The most negative documents of a key in a time range (default: the last day with documents)."""
    monitor = _monitor(request)

    def load() -> list[dict]:
        end = until if until is not None else (monitor.store.latest_timestamp() or time.time()) + 1
        start = since if since is not None else end - 86400
        return monitor.store.most_negative(key, start, end, limit)

    found = await asyncio.to_thread(load)
    return {"key": key, "documents": [{**d, "timestamp": iso(d["timestamp"])} for d in found]}


@functools.cache
def _file(name: str) -> bytes:
    return (HERE / name).read_bytes()


@router.get("/monitor/static/{name}", include_in_schema=False)
async def static(name: str) -> Response:
    if name not in STATIC:
        raise HTTPException(404, "not found")
    return Response(_file(f"static/{name}"), media_type=STATIC[name], headers={"Cache-Control": "max-age=3600"})


@router.get("/monitor", response_class=HTMLResponse, include_in_schema=False)
async def dashboard() -> HTMLResponse:
    return HTMLResponse(_file("dashboard.html").decode("utf-8"), headers={
        "Content-Security-Policy": "default-src 'self'; script-src 'self' 'unsafe-inline'; "
                                   "style-src 'self' 'unsafe-inline'; img-src data:"})
