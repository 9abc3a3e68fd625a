"""Predictions: texts in, exactly what ``whet predict`` gives out."""

from __future__ import annotations

import asyncio
import json

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import Response

from whet.errors import WhetError
from whet.serve.deps import Caller, State
from whet.serve.inputs import InputError, prepared_inputs
from whet.serve.models import ModelUnavailable
from whet.serve.schemas import PredictRequest, PredictResponse, error_responses

router = APIRouter(prefix="/v1", tags=["predict"])


@router.post("/predict", response_model=PredictResponse,
             responses=error_responses(400, 401, 404, 413, 422, 429, 503, 504))
async def predict(body: PredictRequest, request: Request, state: State, caller: Caller) -> Response:
    """Predict labels or entities for a list of inputs with one model.

    Concurrent requests for the same model are batched together; the answer holds one
    prediction per input, in order.
    """
    registry = state.registry
    name = body.model if body.model is not None else only_model(list(registry.models))
    if name not in registry.models:
        raise HTTPException(404, f"unknown model {name!r}; served models: {', '.join(sorted(registry.models))}")
    try:
        served = registry.get(name)
        predictor = served.predictor
        if predictor is None:
            raise InputError(f"model {name!r} is a {served.info.task} model; send prompts to /v1/generate or "
                             f"/v1/completions")
        records = prepared_inputs(body.inputs, predictor.task, predictor.data, state.config.limits)
    except ModelUnavailable as err:
        raise HTTPException(503, str(err)) from None
    except InputError as err:
        raise HTTPException(422, str(err)) from None
    request.state.model, request.state.texts = name, len(records)
    state.metrics.model_requests.labels(name).inc()
    state.metrics.model_texts.labels(name).inc(len(records))
    limit = state.config.limits.timeout_s
    timeout = min(body.timeout_s, limit) if body.timeout_s else limit
    try:
        predictions = await asyncio.wait_for(state.lane(served.lane).submit(name, records), timeout)
    except asyncio.TimeoutError:
        state.metrics.model_errors.labels(name, "timeout").inc()
        raise HTTPException(504, f"the prediction took longer than {timeout:g} s (limits.timeout_s); "
                                 f"send fewer texts per request or retry later") from None
    except ModelUnavailable as err:  # unloaded while the request waited
        state.metrics.model_errors.labels(name, "unavailable").inc()
        raise HTTPException(503, str(err)) from None
    except WhetError as err:  # an input the model cannot take, found only while encoding
        state.metrics.model_errors.labels(name, "input").inc()
        raise HTTPException(422, str(err)) from None
    except Exception:
        state.metrics.model_errors.labels(name, "internal").inc()
        raise
    # Serialised here: the predictions are already plain JSON, validating them again costs time.
    payload = json.dumps({"model": name, "predictions": predictions}, ensure_ascii=False)
    return Response(payload, media_type="application/json")


def only_model(names: list[str]) -> str:
    if len(names) == 1:
        return names[0]
    raise HTTPException(422, f"model: {len(names)} models are served ({', '.join(sorted(names))}); name one")
