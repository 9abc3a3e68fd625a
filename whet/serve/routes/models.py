"""The served models and adapters."""

from __future__ import annotations

from fastapi import APIRouter

from whet.serve.deps import Caller, State
from whet.serve.schemas import ModelsResponse, error_responses

router = APIRouter(prefix="/v1", tags=["models"])


@router.get("/models", response_model=ModelsResponse, responses=error_responses(401, 429))
async def list_models(state: State, caller: Caller) -> dict:
    """Every model with its status, task, labels, version and training metrics; adapters that share
    a base model have the same ``shared_base``."""
    return {"models": [m.describe() for m in state.registry.models.values()]}
