"""Predictions: texts in, exactly what ``whet predict`` gives out."""

from __future__ import annotations

import asyncio
import json

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import Response

from whet.errors import WhetError
from whet.serve.deps import Caller, State
from whet.serve.inputs import InputError, prepared_inputs
from whet.serve.loaded_models import ModelUnavailable
from whet.serve.routes.per_request import count_request, request_timeout, served_model
from whet.serve.schemas import PredictRequest, PredictResponse, error_responses

router = APIRouter(prefix="/v1", tags=["predict"])


@router.post("/predict", response_model=PredictResponse,
             responses=error_responses(400, 401, 404, 413, 422, 429, 503, 504))
async def predict(body: PredictRequest, request: Request, state: State, caller: Caller) -> Response:
    """Predict labels or entities for a list of inputs with one model.

    Concurrent requests for the same model are batched together; the answer holds one
    prediction per input, in order.
    """
    served = served_model(state, body.model)
    name, predictor = served.name, served.predictor
    try:
        if predictor is None:
            raise InputError(f"model {name!r} is a {served.info.task} model; send prompts to /v1/generate or "
                             f"/v1/completions")
        examples = prepared_inputs(body.inputs, predictor.task, predictor.data, state.config.limits)
    except InputError as err:
        raise HTTPException(422, str(err)) from None
    count_request(state, request, name, len(examples))
    timeout = request_timeout(state, body.timeout_s)
    try:
        predictions = await asyncio.wait_for(state.lane(served.lane).submit(name, examples), timeout)
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

