"""The FastAPI application: state, middleware, routes, error answers and the lifespan.

Models load in a worker thread after the server starts, so /healthz answers at once and
/readyz says what is still loading, or why a model failed (the server stays up either way).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from pathlib import Path

from fastapi import APIRouter, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from whet.io.database import DatabaseError
from whet.version import __version__
from whet.serve.access_log import RequestLog
from whet.serve.auth import Keys
from whet.serve.limits import BodySizeLimit, RateLimiter
from whet.serve.prometheus import create_metrics
from whet.serve.loaded_models import ModelRegistry
from whet.serve.model_kinds import ModelKind
from whet.serve.routes import ROUTERS
from whet.serve.settings import ServeConfig
from whet.serve.state import ServerState

log = logging.getLogger("whet.serve")


def create_app(config: ServeConfig, keys: Keys, routers: tuple[APIRouter, ...] = (),
               title: str = "whet serve", kinds: tuple[ModelKind, ...] = ()) -> FastAPI:
    """An app serving ``config.models``; nothing is loaded until the app starts.

    ``routers``: an application's own routes, served beside these with the same keys, limits,
    access log and metrics (``whet assistant serve``). ``kinds``: the applications' kinds of
    model directory ``config.models`` may name besides task models (``whet serve`` serves
    recommenders); the router of each kind served is included.
    """
    registry = ModelRegistry(predict_batch_size=config.batching.model_batch_size, precision=config.precision,
                             kinds=kinds)
    for name, path in config.models.items():
        registry.add(name, Path(path), at_startup=True)
    served_kinds = {id(m.kind): m.kind for m in registry.models.values() if m.kind is not None}
    routers = (*routers, *(kind.router for kind in served_kinds.values()))
    rate = config.rate_limit
    state = ServerState(config=config, registry=registry, keys=keys, metrics=create_metrics(),
                        limiter=RateLimiter(rate.requests_per_second, rate.burst) if rate.requests_per_second else None)

    app = FastAPI(title=title, version=__version__, lifespan=_lifespan,
                  description="Predictions from models fine-tuned with whet.")
    app.state.whet = state
    for router in (*ROUTERS, *routers):
        app.include_router(router)
    app.add_exception_handler(RequestValidationError, _invalid_request)
    app.add_exception_handler(DatabaseError, _database_unavailable)
    # Added innermost first: the request log sees every answer, including 413s and CORS refusals.
    if config.cors_origins:
        from fastapi.middleware.cors import CORSMiddleware

        app.add_middleware(CORSMiddleware, allow_origins=config.cors_origins, allow_methods=["GET", "POST", "DELETE"],
                           allow_headers=["Authorization", "Content-Type", "X-Request-ID"],
                           expose_headers=["X-Request-ID", "Retry-After"])
    app.add_middleware(BodySizeLimit, max_bytes=config.limits.max_body_bytes)
    app.add_middleware(RequestLog, metrics=state.metrics, enabled=config.access_log)
    return app


@contextlib.asynccontextmanager
async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
    state: ServerState = app.state.whet
    loading = asyncio.create_task(_load_startup_models(state))
    yield
    # Uvicorn has let in-flight requests finish by now; stop the batch workers.
    loading.cancel()
    for queue in state.lanes.values():
        await queue.close()


async def _load_startup_models(state: ServerState) -> None:
    for name in state.registry.startup:
        await asyncio.to_thread(state.registry.load, name)
        state.refresh_model_gauge()
    status, reasons = state.registry.readiness()
    log.log(logging.INFO if status == "ready" else logging.ERROR, "server %s%s", status,
            "" if not reasons else ": " + "; ".join(reasons))


async def _database_unavailable(request: Request, exc: DatabaseError) -> JSONResponse:
    """503 with the database's one-line reason: the request's writes were rolled back, nothing was
    acknowledged, and the same request may be sent again (ids make it count once)."""
    log.error("%s %s: %s", request.method, request.url.path, exc)
    return JSONResponse({"detail": str(exc)}, status_code=503, headers={"Retry-After": "5"})


async def _invalid_request(request: Request, exc: RequestValidationError) -> JSONResponse:
    """400 for a body that is not JSON, 422 for one that does not fit the schema; one readable line first."""
    errors = exc.errors()
    if any(e["type"] == "json_invalid" for e in errors):
        problem = next(e for e in errors if e["type"] == "json_invalid")
        detail = f"the body is not valid JSON ({problem.get('ctx', {}).get('error', 'decode error')} " \
                 f"at character {problem['loc'][-1]})"
        return JSONResponse({"detail": detail}, status_code=400)
    problems = [{"loc": list(e["loc"]), "msg": e["msg"]} for e in errors]
    shown = "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in problems[:3])
    more = f" (and {len(problems) - 3} more)" if len(problems) > 3 else ""
    return JSONResponse({"detail": shown + more, "errors": problems[:20]}, status_code=422)
