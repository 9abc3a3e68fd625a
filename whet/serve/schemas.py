"""Request and response bodies of the HTTP API (they make up the OpenAPI document)."""

from __future__ import annotations

from typing import Annotated, Any, Literal, Union

from pydantic import BaseModel, ConfigDict, Field, ValidationError, WrapValidator
from pydantic_core import PydanticCustomError

from whet.models.decoding import MAX_STOP_CHARS, MIN_TEMPERATURE, SEED_MAX, SEED_MIN


def _one_input_error(value: Any, handler: Any) -> Any:
    # One message instead of one per member of the union.
    try:
        return handler(value)
    except ValidationError:
        raise PydanticCustomError("input_type", "each input is a text, a [text, text pair] list of two strings, or an "
                                                "object of texts and word lists (keys such as text, text_pair, tokens)"
                                  ) from None


# A text, a text pair, or a record as `whet predict --input` reads them.
Input = Annotated[Union[str, tuple[str, str], dict[str, Union[str, list[str]]]], WrapValidator(_one_input_error)]


class PredictRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={
        "examples": [{"model": "intents", "inputs": ["I lost my card", "how much is in my account?"]}]})

    model: str | None = Field(None, description="A served model's name (see GET /v1/models); may be left out when "
                                                "one model is served.")
    inputs: list[Input] = Field(..., description='Texts ("..."), text pairs (["text", "text pair"]) or records '
                                                 '({"text": ..., "text_pair": ...}, {"tokens": [...]}), as '
                                                 "`whet predict` reads them.")
    timeout_s: float | None = Field(None, gt=0, description="Give up after this many seconds (504); at most the "
                                                            "server's limits.timeout_s.")


class Entity(BaseModel):
    type: str
    text: str
    score: float
    token_start: int
    token_end: int
    start: int | None = Field(None, description="Character offset in the text (absent for pre-split tokens).")
    end: int | None = None


class Prediction(BaseModel):
    """One input's prediction, exactly as ``whet predict`` writes it."""

    model_config = ConfigDict(extra="allow")

    text: str
    text_pair: str | None = Field(None, description="Pair classifiers.")
    label: str | None = Field(None, description="Single-label classifiers: the most likely label.")
    labels: list[str] | None = Field(None, description="Multi-label classifiers: every label over the threshold.")
    score: float | None = Field(None, description="Probability of `label`.")
    probabilities: dict[str, float] | None = Field(None, description="Classifiers: every label's probability.")
    out_of_scope_score: float | None = Field(None, description="Classifiers with out-of-scope detection: the score, "
                                                               "higher further out of scope.")
    in_scope_label: str | None = Field(None, description="When `label` is the none label (out of scope): the label "
                                                         "the text would have had.")
    entities: list[Entity] | None = Field(None, description="NER: the entities found.")
    tokens: list[str] | None = Field(None, description="NER: the words the text was split into.")
    tags: list[str] | None = Field(None, description="NER: one tag per word.")


class PredictResponse(BaseModel):
    model: str
    predictions: list[Prediction]


class ModelDescription(BaseModel):
    model_config = ConfigDict(extra="allow")

    name: str
    status: Literal["loading", "ready", "failed"]
    error: str | None = Field(None, description="Why loading failed.")
    kind: str | None = Field(None, description="An application's kind of model (recommender, with its own endpoints); "
                                               "absent for task models.")
    task: str | None = None
    labels: list[str] | None = None
    multi_label: bool | None = None
    text_pair: bool | None = Field(None, description="The model classifies text pairs.")
    method: str | None = Field(None, description="How it was fine-tuned (full, lora, ...).")
    base_model: str | None = None
    whet_version: str | None = None
    metrics: dict[str, Any] | None = Field(None, description="The metrics it reached in training (whet.json).")
    adapter: bool | None = Field(None, description="A LoRA adapter.")
    shared_base: str | None = Field(None, description="Adapters with the same value share one copy of the base model.")
    precision: Literal["fp32", "bf16"] | None = Field(None, description="What a loaded model runs in: fp32, or bf16 autocast (generation: fp32).")
    out_of_scope: dict[str, Any] | None = Field(None, description="Out-of-scope detection: scorer, threshold and the "
                                                                  "label answered for texts above it.")


class ModelsResponse(BaseModel):
    models: list[ModelDescription]


class Health(BaseModel):
    status: Literal["ok"]


class Readiness(BaseModel):
    status: Literal["ready", "loading", "failed"]
    reasons: list[str] = Field(default_factory=list, description="What is not ready, and why.")
    models: dict[str, str] = Field(default_factory=dict, description="Each model's status.")


class AdapterLoad(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(..., description="The name to serve the adapter as ([A-Za-z0-9_.-], at most 64).")
    source: str | None = Field(None, description="Its directory's name inside the server's adapter directory; "
                                                 "default: the name.")


class ErrorBody(BaseModel):
    detail: str = Field(..., description="What went wrong and how to fix it.")


ERROR_MEANINGS = {
    400: "Malformed JSON.", 401: "Missing or invalid API key.", 403: "Not an admin key, or admin endpoints disabled.",
    404: "Unknown model or adapter.", 409: "The name or item id is taken.", 413: "Request body too large.",
    422: "Invalid request (types, limits, inputs the model cannot take).", 429: "Rate limit exceeded (see Retry-After).",
    503: "The model is loading or failed to load.", 504: "The prediction took longer than the timeout.",
}


def error_responses(*codes: int) -> dict[int, dict[str, Any]]:
    """OpenAPI entries for the error answers of a route; all carry ``{"detail": "..."}``."""
    return {code: {"model": ErrorBody, "description": ERROR_MEANINGS[code]} for code in codes}


class Unloaded(BaseModel):
    name: str
    status: Literal["unloaded"]


# -- text generation (causal LMs) ---------------------------------------------------------------

class Message(BaseModel):
    model_config = ConfigDict(extra="forbid")

    role: str = Field(..., min_length=1, description='"system", "user", "assistant", ... as the chat template knows them.')
    content: str


# OpenAI's limit. Each stop string costs transformers a pass over the vocabulary per character
# (see MAX_STOP_CHARS), so a request's work is bounded by both.
MAX_STOP_STRINGS = 4
StopString = Annotated[str, Field(max_length=MAX_STOP_CHARS)]

# A plain-text prompt, or a chat ending with the turn to reply to.
Prompt = Union[str, Annotated[list[Message], Field(min_length=1)]]


class GenerateRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={
        "examples": [{"model": "assistant", "prompts": ["Write a haiku about autumn."], "max_new_tokens": 64}]})

    model: str | None = Field(None, description="A served causal LM; may be left out when one model is served.")
    prompts: list[Prompt] = Field(..., description="Texts to continue, or chats (lists of {role, content} messages) "
                                                   "rendered with the model's chat template.")
    chat: bool = Field(False, description="Render plain-text prompts as one user message with the chat template.")
    max_new_tokens: int | None = Field(None, ge=1, description="Most tokens to generate per prompt: at most the "
                                                               "server's limits.max_new_tokens; default 128 or that "
                                                               "limit if lower.")
    sample: bool = Field(False, description="Sample instead of greedy decoding.")
    temperature: float | None = Field(None, ge=MIN_TEMPERATURE, description="Sampling temperature; default: the "
                                                                           "model's.")
    top_p: float | None = Field(None, gt=0, le=1, description="Nucleus sampling; default: the model's.")
    top_k: int | None = Field(None, ge=0, description="Top-k sampling, 0 for off; default: the model's.")
    seed: int | None = Field(None, ge=SEED_MIN, le=SEED_MAX, description="Makes sampling repeatable.")
    stop: list[StopString] = Field(default_factory=list, max_length=MAX_STOP_STRINGS,
                                   description=f"The completion ends before the first of these: at most "
                                               f"{MAX_STOP_STRINGS}, each at most {MAX_STOP_CHARS} characters.")
    stream: bool = Field(False, description="Send the completion of one prompt as server-sent events while it is "
                                            "generated.")
    timeout_s: float | None = Field(None, gt=0, description="Give up after this many seconds (504); at most the "
                                                            "server's limits.timeout_s. A stream must start within it.")


class Generation(BaseModel):
    text: str = Field(..., description="The generated text, without the prompt, cut before a stop string.")
    finish_reason: Literal["stop", "length"] = Field(..., description="stop: end of sequence or a stop string; "
                                                                      "length: max_new_tokens reached.")
    prompt_tokens: int
    completion_tokens: int = Field(..., description="Generated tokens, an end-of-sequence token included.")


class GenerateResponse(BaseModel):
    model: str
    generations: list[Generation]


class StreamOptions(BaseModel):
    include_usage: bool = False


class CompletionRequest(BaseModel):
    """OpenAI's completions request. Fields it has that whet cannot honour are accepted only at
    their neutral value, and refused otherwise, so a client never gets something it did not ask for."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={
        "examples": [{"model": "assistant", "prompt": "Once upon a time", "max_tokens": 32, "temperature": 0}]})

    model: str | None = Field(None, description="A served causal LM; may be left out when one model is served.")
    prompt: Union[str, Annotated[list[str], Field(min_length=1)]] = Field(..., description="A text or a list of texts.")
    max_tokens: int | None = Field(16, ge=1, description="Most tokens to generate (null: limits.max_new_tokens).")
    temperature: float | None = Field(1.0, ge=0, le=2, description="0: greedy decoding; above: sampling.")
    top_p: float | None = Field(1.0, gt=0, le=1, description="Nucleus sampling.")
    n: int = Field(1, ge=1, description="Completions per prompt.")
    stream: bool = Field(False, description="Server-sent events, ending with `data: [DONE]`.")
    stream_options: StreamOptions | None = None
    # Checked in the route: a schema bound on a union member makes one error per member.
    stop: Union[str, list[str], None] = Field(None, description=f"Up to {MAX_STOP_STRINGS} stop strings, each at "
                                                                f"most {MAX_STOP_CHARS} characters.")
    seed: int | None = Field(None, ge=SEED_MIN, le=SEED_MAX)
    echo: bool = Field(False, description="Return the prompt before the completion.")
    user: str | None = Field(None, description="Accepted and ignored.")
    logprobs: int | None = Field(None, description="Not supported: must be null.")
    best_of: int | None = Field(None, description="Not supported: must be null or 1.")
    suffix: str | None = Field(None, description="Not supported: must be null.")
    presence_penalty: float = Field(0.0, description="Not supported: must be 0.")
    frequency_penalty: float = Field(0.0, description="Not supported: must be 0.")
    logit_bias: dict[str, float] | None = Field(None, description="Not supported: must be null or empty.")


class CompletionChoice(BaseModel):
    text: str
    index: int
    logprobs: None = None
    finish_reason: Literal["stop", "length"] | None


class Usage(BaseModel):
    prompt_tokens: int
    completion_tokens: int
    total_tokens: int


class CompletionResponse(BaseModel):
    id: str
    object: Literal["text_completion"]
    created: int
    model: str
    choices: list[CompletionChoice]
    usage: Usage | None = None
