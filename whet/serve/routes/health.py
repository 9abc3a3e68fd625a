"""Liveness, readiness and Prometheus metrics."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from whet.serve.deps import MetricsCaller, State
from whet.serve.schemas import Health, Readiness

router = APIRouter(tags=["health"])


@router.get("/healthz", response_model=Health)
async def healthz() -> dict:
    """Liveness: the process answers (models may still be loading)."""
    return {"status": "ok"}


@router.get("/readyz", response_model=Readiness, responses={503: {"model": Readiness, "description": "Not ready."}})
async def readyz(state: State) -> JSONResponse:
    """Readiness: every model given at start-up is loaded; otherwise 503 with the reasons."""
    status, reasons = state.registry.readiness()
    body = {"status": status, "reasons": reasons,
            "models": {name: m.status for name, m in state.registry.models.items()}}
    return JSONResponse(body, status_code=200 if status == "ready" else 503)


@router.get("/metrics", response_class=Response, responses={200: {"content": {CONTENT_TYPE_LATEST: {}}}})
async def metrics(state: State, caller: MetricsCaller) -> Response:
    """Prometheus metrics (text exposition format)."""
    return Response(generate_latest(state.metrics.registry), media_type=CONTENT_TYPE_LATEST)
