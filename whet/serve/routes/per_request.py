"""What the model routes share: finding the requested model, counting the request, its timeout."""

from __future__ import annotations

from fastapi import HTTPException, Request

from whet.serve.loaded_models import ModelUnavailable, ServedModel
from whet.serve.state import ServerState


def only_model(names: list[str]) -> str:
    if len(names) == 1:
        return names[0]
    if not names:
        raise HTTPException(404, "no task model is served here; GET /v1/models lists what is")
    raise HTTPException(422, f"model: {len(names)} models are served ({', '.join(sorted(names))}); name one")


def served_model(state: ServerState, name: str | None) -> ServedModel:
    """The ready task model a request names (or the only one served): 404 unknown, 422 an
    application's model (a recommender), 503 not ready."""
    registry = state.registry
    name = name if name is not None else only_model([n for n, m in registry.models.items() if m.kind is None])
    if name not in registry.models:
        raise HTTPException(404, f"unknown model {name!r}; served models: {', '.join(sorted(registry.models))}")
    kind = registry.models[name].kind
    if kind is not None:
        raise HTTPException(422, f"model {name!r} is a {kind.name}; send its requests to {kind.endpoint}")
    try:
        return registry.get(name)
    except ModelUnavailable as err:
        raise HTTPException(503, str(err)) from None


def count_request(state: ServerState, request: Request, name: str, inputs: int) -> None:
    """The access log's model and text count, and the per-model counters."""
    request.state.model, request.state.texts = name, inputs
    state.metrics.model_requests.labels(name).inc()
    state.metrics.model_texts.labels(name).inc(inputs)


def request_timeout(state: ServerState, asked: float | None) -> float:
    """The request's own timeout, at most the server's ``limits.timeout_s``."""
    limit = state.config.limits.timeout_s
    return min(asked, limit) if asked else limit


def timeout_setting(state: ServerState, asked: float | None) -> str:
    """The setting ``request_timeout`` took its value from, for a 504 to name: a client that set
    its own deadline should not be told the server's limit was that short."""
    return "timeout_s" if asked and asked < state.config.limits.timeout_s else "limits.timeout_s"
