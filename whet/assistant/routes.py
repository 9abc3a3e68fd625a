"""The assistant's HTTP routes, served on ``whet serve``'s app (same keys, limits, access log
and metrics): messages, sessions, tickets and their resolution, and the chat page."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Path as PathParam, Query, Request
from fastapi.responses import HTMLResponse
from prometheus_client import Counter
from pydantic import BaseModel, ConfigDict, Field, model_validator

from whet.assistant.assistant import Assistant, MessageError
from whet.serve.deps import Admin, Caller
from whet.serve.pages import page_html, page_response
from whet.serve.schemas import error_responses

router = APIRouter(tags=["assistant"])
CHAT_PAGE = Path(__file__).resolve().parent / "chat.html"
SESSION_ID = r"^[A-Za-z0-9_.:\-]{1,128}$"


class MessageRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    session_id: str | None = Field(None, pattern=SESSION_ID, description="The conversation; omitted or unknown: a new one starts.")
    text: str = Field(..., description="The customer's message.")


class Candidate(BaseModel):
    intent: str
    title: str
    probability: float


class MessageResponse(BaseModel):
    session_id: str
    reply: str
    action: str = Field(..., description="answer, ask (a slot), clarify, retrieve or handoff.")
    intent: str | None
    confidence: float
    candidates: list[Candidate]
    sources: list[dict[str, Any]]
    why: list[str] = Field(..., description="The steps of the decision.")
    out_of_scope: bool
    out_of_scope_score: float | None = None
    new_session: bool
    ticket: int | None = None
    options: list[dict[str, str]] | None = None
    slots: dict[str, str] | None = None


class Resolution(BaseModel):
    model_config = ConfigDict(extra="forbid")
    intent: str | None = Field(None, description="The intent the message had (it becomes a training example).")
    reply: str | None = Field(None, min_length=1, description="What the person answered (added to the conversation).")
    agent: str | None = Field(None, max_length=128, description="Who resolved it.")

    @model_validator(mode="after")
    def _something(self) -> Resolution:
        if self.intent is None and self.reply is None:
            raise ValueError("give the intent, the reply, or both")
        return self


class Replies:
    """The Prometheus counter of replies by action, in the app's own registry."""

    def __init__(self, registry: Any) -> None:
        self.counter = Counter("whet_assistant_replies_total", "Assistant replies by action.", ["action"],
                               registry=registry)


def _assistant(request: Request) -> Assistant:
    return request.app.state.assistant


@router.post("/v1/assistant/messages", response_model=MessageResponse,
             responses=error_responses(400, 401, 413, 422, 429))
async def message(body: MessageRequest, request: Request, caller: Caller) -> dict:
    """Reply to a customer's message: the action taken, the intent and its candidates, sources, and why."""
    assistant = _assistant(request)
    try:
        reply = await asyncio.to_thread(assistant.reply, body.session_id, body.text)
    except MessageError as err:
        raise HTTPException(413 if err.too_long else 422, str(err)) from None
    request.app.state.assistant_replies.counter.labels(reply["action"]).inc()
    return reply


@router.get("/v1/assistant/sessions/{session_id}", responses=error_responses(401, 404, 429))
async def session(session_id: Annotated[str, PathParam(pattern=SESSION_ID)], request: Request,
                  caller: Caller) -> dict:
    """A session: whether it expired, what it waits for, its context, transcript and tickets."""
    found = await asyncio.to_thread(_assistant(request).session, session_id)
    if found is None:
        raise HTTPException(404, f"no session {session_id!r}; send a message to start one")
    return found


@router.get("/v1/assistant/tickets", responses=error_responses(401, 403, 429))
async def tickets(request: Request, admin: Admin,
                  resolved: Annotated[bool | None, Query(description="Only resolved (true) or open (false) tickets.")] = None) -> dict:
    """Tickets for a person, with their transcripts and delivery state (admin key)."""
    return {"tickets": await asyncio.to_thread(_assistant(request).store.tickets, resolved=resolved)}


@router.post("/v1/assistant/tickets/{ticket_id}/resolution", responses=error_responses(401, 403, 404, 422, 429))
async def resolve(ticket_id: int, body: Resolution, request: Request, admin: Admin) -> dict:
    """Record how a person resolved a ticket (admin key): the message's intent becomes a training
    example (``whet assistant export-feedback``), the reply joins the conversation."""
    assistant = _assistant(request)
    if body.intent is not None and body.intent not in assistant.models.labels:
        raise HTTPException(422, f"intent {body.intent!r} is not one of the model's intents: "
                                 f"{', '.join(assistant.models.labels)}")
    resolved = await asyncio.to_thread(assistant.store.resolve, ticket_id, intent=body.intent, reply=body.reply,
                                       by=body.agent or admin)
    if resolved is None:
        raise HTTPException(404, f"no ticket {ticket_id}")
    return resolved


@router.get("/chat", response_class=HTMLResponse, include_in_schema=False)
async def chat_page(request: Request) -> HTMLResponse:
    greeting = _assistant(request).config.greeting
    page = page_html(CHAT_PAGE).replace("{{GREETING}}", greeting.replace("&", "&amp;").replace("<", "&lt;")
                                                            .replace(">", "&gt;"))
    return page_response(page)
