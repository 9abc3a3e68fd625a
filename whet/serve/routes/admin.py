"""Admin endpoints (admin key required): load and unload LoRA adapters at run time.

Adapters are loaded by name from the server's adapter directory only, never from a path
the caller chooses, and only from safetensors.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from fastapi import APIRouter, HTTPException

from whet.errors import ModelError
from whet.models.saved_model import read_info
from whet.serve.shared_bases import AdapterNotFound, adapter_source, check_name, check_safetensors_only
from whet.serve.deps import Admin, State
from whet.serve.schemas import AdapterLoad, ModelDescription, Unloaded, error_responses

router = APIRouter(prefix="/v1/admin", tags=["admin"])


@router.post("/adapters", status_code=201, response_model=ModelDescription,
             responses=error_responses(401, 403, 404, 409, 422, 429))
async def load_adapter(body: AdapterLoad, state: State, admin: Admin) -> dict:
    """Load a LoRA model directory from the adapter directory and serve it as ``name``; adapters
    on the same base model share one copy of it."""
    if state.config.adapter_dir is None:
        raise HTTPException(403, "loading adapters is disabled; start the server with --adapter-dir DIR")
    try:
        check_name(body.name)
        source = adapter_source(Path(state.config.adapter_dir), body.source or body.name)
        info = read_info(source)
        if not info.adapter:
            raise ModelError(f"{source.name} is a {info.method} model, not a LoRA adapter; serve it with whet serve")
        check_safetensors_only(source)
    except AdapterNotFound as err:
        raise HTTPException(404, str(err)) from None
    except ModelError as err:
        raise HTTPException(422, str(err)) from None
    if body.name in state.registry.models:
        raise HTTPException(409, f"a model named {body.name!r} is already served; unload it first or choose another name")
    state.registry.add(body.name, source)
    served = await asyncio.to_thread(state.registry.load, body.name)
    if served.status != "ready":
        del state.registry.models[body.name]
        raise HTTPException(422, f"adapter {body.name!r} failed to load: {served.error}")
    state.refresh_model_gauge()
    return served.describe()


@router.delete("/adapters/{name}", response_model=Unloaded, responses=error_responses(401, 403, 404, 409, 422, 429))
async def unload_adapter(name: str, state: State, admin: Admin) -> dict:
    """Stop serving an adapter; its base model is freed with its last adapter."""
    try:
        check_name(name)
    except ModelError as err:
        raise HTTPException(422, str(err)) from None
    served = state.registry.models.get(name)
    if served is None:
        raise HTTPException(404, f"no model named {name!r} is served")
    if served.base is None:
        raise HTTPException(409, f"{name!r} is not a LoRA adapter on a shared base; only those can be unloaded")
    await asyncio.to_thread(state.registry.remove, name)
    state.refresh_model_gauge()
    return {"name": name, "status": "unloaded"}
