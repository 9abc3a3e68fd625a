"""Text generation with causal LMs: whet's own ``/v1/generate`` and OpenAI's ``/v1/completions``.

Both check the request, then either queue the prompts on the model's generation lane
(requests with the same decoding settings are batched together) or stream one completion
as server-sent events from a thread of its own (``whet.serve.streaming``).
"""

from __future__ import annotations

import asyncio
import itertools
import json
import time
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import asdict, dataclass, field
from typing import Any

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import Response, StreamingResponse

from whet.errors import ConfigError, WhetError
from whet.models.decoding import Completion, GenerationSettings
from whet.serve.deps import Caller, State
from whet.serve.inputs import InputError, check_text
from whet.serve.loaded_models import ModelUnavailable, ServedModel
from whet.serve.routes.per_request import count_request, request_timeout, served_model, timeout_setting
from whet.serve.schemas import (MAX_STOP_STRINGS, CompletionRequest, CompletionResponse, GenerateRequest,
                                GenerateResponse, error_responses)
from whet.serve.state import ServerState
from whet.serve.streaming import start_stream

router = APIRouter(prefix="/v1", tags=["generate"])
ERRORS = error_responses(400, 401, 404, 413, 422, 429, 503, 504)
STREAMED = {200: {"content": {"text/event-stream": {}},
                  "description": "With stream: server-sent events, `data: {json}` each, then `data: [DONE]`."}}
DEFAULT_NEW_TOKENS = 128
_alone = itertools.count()


@dataclass(frozen=True)
class SettingsKey:
    """Decoding settings as part of a batch group key: equal settings batch together, except
    seeded sampling, whose samples depend on the batch it runs in (so it always runs alone)."""

    key: str
    value: GenerationSettings = field(compare=False, hash=False)

    @classmethod
    def of(cls, settings: GenerationSettings) -> SettingsKey:
        key = json.dumps(asdict(settings), sort_keys=True)
        if settings.sample and settings.seed is not None:
            key += f"#{next(_alone)}"
        return cls(key, settings)


@router.post("/generate", response_model=GenerateResponse, responses={**ERRORS, **STREAMED})
async def generate(body: GenerateRequest, request: Request, state: State, caller: Caller) -> Response:
    """Generate a completion for each prompt with a causal LM (greedy by default).

    With ``stream``, the completion of the one prompt is sent as server-sent events while it is
    generated: ``{"text": piece}`` events, then one with ``finish_reason`` and the token counts,
    then ``[DONE]``.
    """
    served = _causal_lm(state, body.model)
    max_new_tokens = body.max_new_tokens or min(DEFAULT_NEW_TOKENS, state.config.limits.max_new_tokens)
    settings = _settings(state, max_new_tokens=max_new_tokens, sample=body.sample, temperature=body.temperature,
                         top_p=body.top_p, top_k=body.top_k, seed=body.seed, stop=body.stop)
    prompts = _checked_prompts(state, body.prompts)
    count_request(state, request, served.name, len(prompts))
    timeout = request_timeout(state, body.timeout_s)
    deadline = timeout_setting(state, body.timeout_s)
    if body.stream:
        if len(prompts) != 1:
            raise HTTPException(422, f"prompts: a stream sends one completion; send one prompt (got {len(prompts)})")

        def event(piece: str) -> dict:
            return {"text": piece}

        def last(completion: Completion) -> list[dict]:
            return [{"text": "", "finish_reason": completion.finish_reason,
                     "prompt_tokens": completion.prompt_tokens, "completion_tokens": completion.completion_tokens}]

        return await _stream(state, served, prompts[0], settings, body.chat, timeout, deadline, event, last)
    completions = await _complete(state, served, prompts, settings, body.chat, timeout, deadline)
    payload = {"model": served.name, "generations": [asdict(c) for c in completions]}
    return Response(json.dumps(payload, ensure_ascii=False), media_type="application/json")


@router.post("/completions", response_model=CompletionResponse, responses={**ERRORS, **STREAMED})
async def completions(body: CompletionRequest, request: Request, state: State, caller: Caller) -> Response:
    """OpenAI-compatible completions: ``temperature`` 0 decodes greedily, above it samples
    (with ``top_p``, and no top-k); ``n`` completions per prompt; ``echo``; ``stop``; streaming
    with OpenAI's chunk format. Fields whet cannot honour are refused unless left neutral."""
    _refuse_unsupported(body)
    served = _causal_lm(state, body.model)
    stop = [body.stop] if isinstance(body.stop, str) else list(body.stop or [])
    if len(stop) > MAX_STOP_STRINGS:
        raise HTTPException(422, f"stop: at most {MAX_STOP_STRINGS} stop strings (got {len(stop)})")
    sample = bool(body.temperature)  # None or 0: greedy
    settings = _settings(state, max_new_tokens=body.max_tokens or state.config.limits.max_new_tokens,
                         sample=sample, temperature=body.temperature if sample else None,
                         top_p=body.top_p if sample else None, top_k=0 if sample else None,
                         seed=body.seed, stop=stop)
    texts = [body.prompt] if isinstance(body.prompt, str) else body.prompt
    # n has no bound in the schema (nor in OpenAI's), so it is counted before each prompt is copied
    # n times: copying first, n = 10**9 took 6 GiB in 20 s while the event loop waited.
    _check_count(state, len(texts) * body.n, f" (n = {body.n} for each prompt)")
    prompts = _checked_prompts(state, [text for text in texts for _ in range(body.n)])
    count_request(state, request, served.name, len(prompts))
    timeout = request_timeout(state, None)
    head = {"id": f"cmpl-{uuid.uuid4().hex}", "object": "text_completion", "created": int(time.time()),
            "model": served.name}

    def usage(done: list[Completion]) -> dict:
        prompt_tokens = sum(c.prompt_tokens for c in done[::body.n])  # each prompt counted once
        completion_tokens = sum(c.completion_tokens for c in done)
        return {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
                "total_tokens": prompt_tokens + completion_tokens}

    if body.stream:
        if len(prompts) != 1:
            raise HTTPException(422, f"stream: one prompt and n = 1 only (got {len(prompts)} completions to make)")

        def chunk(text: str, finish_reason: str | None = None) -> dict:
            return {**head, "choices": [{"text": text, "index": 0, "logprobs": None, "finish_reason": finish_reason}]}

        def last(completion: Completion) -> list[dict]:
            events = [chunk("", completion.finish_reason)]
            if body.stream_options and body.stream_options.include_usage:
                events.append({**head, "choices": [], "usage": usage([completion])})
            return events

        return await _stream(state, served, prompts[0], settings, False, timeout, "limits.timeout_s", chunk, last,
                             first=texts[0] if body.echo else None)
    done = await _complete(state, served, prompts, settings, False, timeout, "limits.timeout_s")
    choices = [{"text": (prompt if body.echo else "") + c.text, "index": i, "logprobs": None,
                "finish_reason": c.finish_reason} for i, (prompt, c) in enumerate(zip(prompts, done))]
    payload = {**head, "choices": choices, "usage": usage(done)}
    return Response(json.dumps(payload, ensure_ascii=False), media_type="application/json")


# -- checks -------------------------------------------------------------------------------------

def _causal_lm(state: ServerState, name: str | None) -> ServedModel:
    served = served_model(state, name)
    if served.generator is None:
        raise HTTPException(422, f"model {served.name!r} is a {served.info.task} model and does not generate text; "
                                 f"use /v1/predict")
    return served


def _settings(state: ServerState, **values: Any) -> GenerationSettings:
    limits = state.config.limits
    if values["max_new_tokens"] > limits.max_new_tokens:
        raise HTTPException(422, f"{values['max_new_tokens']} new tokens asked for; this server generates at most "
                                 f"{limits.max_new_tokens} per request (limits.max_new_tokens)")
    try:
        # The settings check seeds, temperatures and stop strings as the command line does.
        settings = GenerationSettings(**values)
        for number, stop in enumerate(settings.stop, 1):
            check_text(stop, number, limits, "stop string")
    except (InputError, ConfigError) as err:
        raise HTTPException(422, str(err)) from None
    return settings


def _check_count(state: ServerState, count: int, how: str = "") -> None:
    limit = state.config.limits.max_texts
    if count > limit:
        raise HTTPException(422, f"{count} completions asked for{how}; this server makes at most {limit} per "
                                 f"request (limits.max_texts); split the request")


def _checked_prompts(state: ServerState, prompts: list[Any]) -> list[Any]:
    limits = state.config.limits
    if not prompts:
        raise HTTPException(422, "prompts is empty; send at least one prompt")
    _check_count(state, len(prompts))
    checked = []
    try:
        for number, prompt in enumerate(prompts, 1):
            if isinstance(prompt, str):
                check_text(prompt, number, limits, "prompt")
                checked.append(prompt)
            else:
                for message in prompt:
                    check_text(message.content, number, limits, "prompt")
                checked.append([message.model_dump() for message in prompt])
    except InputError as err:
        raise HTTPException(422, str(err)) from None
    return checked


def _refuse_unsupported(body: CompletionRequest) -> None:
    neutral = {"logprobs": None, "suffix": None, "presence_penalty": 0.0, "frequency_penalty": 0.0}
    for name, value in neutral.items():
        if getattr(body, name) != value:
            raise HTTPException(422, f"{name} is not supported by this server; leave it out")
    if body.best_of not in (None, 1):
        raise HTTPException(422, "best_of is not supported by this server; leave it out (or use n)")
    if body.logit_bias:
        raise HTTPException(422, "logit_bias is not supported by this server; leave it out")


# -- running ------------------------------------------------------------------------------------

async def _complete(state: ServerState, served: ServedModel, prompts: list[Any], settings: GenerationSettings,
                    chat: bool, timeout: float, deadline: str) -> list[Completion]:
    group = (served.name, chat, SettingsKey.of(settings))
    try:
        return await asyncio.wait_for(state.generation_lane(served.lane).submit(group, prompts), timeout)
    except asyncio.TimeoutError:
        raise _failed(state, served.name, "timeout", 504, f"the generation took longer than {timeout:g} s "
                      f"({deadline}); ask for fewer tokens or prompts, or retry later") from None
    except Exception as err:
        raise _answer(state, served.name, err) from None


async def _stream(state: ServerState, served: ServedModel, prompt: Any, settings: GenerationSettings, chat: bool,
                  timeout: float, deadline: str, event: Callable[[str], dict],
                  last: Callable[[Completion], list[dict]], first: str | None = None) -> StreamingResponse:
    """Server-sent events of one completion. Errors found before the first piece (a prompt too
    long, say) are answered with their status code; later ones end the stream with an error event."""
    slot = state.stream_slot(served.lane)
    started = time.monotonic()
    try:
        await asyncio.wait_for(slot.acquire(), timeout)
    except asyncio.TimeoutError:
        raise _failed(state, served.name, "timeout", 504, f"all {state.config.batching.max_streams} stream slots "
                      f"stayed busy for {timeout:g} s ({deadline}; batching.max_streams); retry later") from None
    finished: list[Completion] = []
    stream = start_stream(lambda: state.registry.stream(served.name, prompt, settings, chat, finished.append),
                          slot.release)
    try:
        opening = await asyncio.wait_for(stream.next(), max(timeout - (time.monotonic() - started), 0.001))
    except asyncio.TimeoutError:
        stream.stop()
        raise _failed(state, served.name, "timeout", 504, f"the generation did not start within {timeout:g} s "
                      f"({deadline}); retry later") from None
    if opening.kind == "error":
        raise _answer(state, served.name, opening.value)

    async def events() -> AsyncIterator[str]:
        current = opening
        try:
            if first:
                yield _sse(event(first))
            while current.kind == "piece":
                yield _sse(event(current.value))
                current = await stream.next()
            if current.kind == "error":
                state.metrics.model_errors.labels(served.name, "internal").inc()
                yield _sse({"error": {"detail": str(current.value) or type(current.value).__name__}})
                return
            for data in last(finished[0]) if finished else []:
                yield _sse(data)
            yield "data: [DONE]\n\n"
        finally:
            stream.stop()  # the client went away, or the stream ended: either way the thread may stop

    return StreamingResponse(events(), media_type="text/event-stream",
                             headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})


def _sse(data: dict) -> str:
    return f"data: {json.dumps(data, ensure_ascii=False)}\n\n"


def _failed(state: ServerState, name: str, reason: str, status: int, message: str) -> HTTPException:
    state.metrics.model_errors.labels(name, reason).inc()
    return HTTPException(status, message)


def _answer(state: ServerState, name: str, err: BaseException) -> BaseException:
    """The HTTP answer to an error raised while generating."""
    if isinstance(err, ModelUnavailable):  # unloaded while the request waited
        return _failed(state, name, "unavailable", 503, str(err))
    if isinstance(err, WhetError):  # a prompt the model cannot take, found only while encoding
        return _failed(state, name, "input", 422, str(err))
    state.metrics.model_errors.labels(name, "internal").inc()
    return err
