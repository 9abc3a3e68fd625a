"""Route dependencies: the server state, and the caller (authenticated and rate limited).

All are ``async def``: FastAPI runs plain ``def`` dependencies in a thread pool, a thread hop
per request that costs more than the checks themselves.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, HTTPException, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from whet.serve.auth import key_id
from whet.serve.state import ServerState

bearer = HTTPBearer(auto_error=False, description="An API key (admin endpoints: an admin key).")
Credentials = Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]


async def get_state(request: Request) -> ServerState:
    return request.app.state.whet


State = Annotated[ServerState, Depends(get_state)]


def _unauthorized(message: str) -> HTTPException:
    return HTTPException(401, message, headers={"WWW-Authenticate": "Bearer"})


def _rate_limited(state: ServerState, caller: str) -> None:
    if state.limiter is None:
        return
    wait = state.limiter.retry_after(caller)
    if wait:
        raise HTTPException(429, f"rate limit of {state.limiter.rate:g} requests/s exceeded; retry in {wait} s",
                            headers={"Retry-After": str(wait)})


async def api_caller(request: Request, state: State, credentials: Credentials) -> str:
    """The caller's name (a key id, or the client address on an open server), after the checks."""
    if not state.keys.api:
        # An open server: callers are told apart (for the rate limit) by address, never by a self-chosen token.
        caller = f"client-{request.client.host if request.client else 'unknown'}"
    elif credentials is None:
        raise _unauthorized("an API key is required: send the header 'Authorization: Bearer <key>'")
    elif not state.keys.is_api(credentials.credentials):
        raise _unauthorized("invalid API key")
    else:
        caller = key_id(credentials.credentials)
    request.state.caller = caller
    _rate_limited(state, caller)
    return caller


async def admin_caller(request: Request, state: State, credentials: Credentials) -> str:
    if not state.keys.admin:
        raise HTTPException(403, "admin endpoints are disabled; start the server with admin keys "
                                 "(--admin-keys FILE or WHET_ADMIN_KEYS)")
    if credentials is None:
        raise _unauthorized("an admin key is required: send the header 'Authorization: Bearer <admin key>'")
    if not state.keys.is_admin(credentials.credentials):
        raise HTTPException(403, "this key is not an admin key")
    caller = key_id(credentials.credentials)
    request.state.caller = caller
    _rate_limited(state, caller)
    return caller


Caller = Annotated[str, Depends(api_caller)]
Admin = Annotated[str, Depends(admin_caller)]


async def metrics_caller(request: Request, state: State, credentials: Credentials) -> str | None:
    """The API key check for /metrics, when ``auth.protect_metrics`` asks for one."""
    return await api_caller(request, state, credentials) if state.config.auth.protect_metrics else None


MetricsCaller = Annotated[str | None, Depends(metrics_caller)]
