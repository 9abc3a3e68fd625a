"""Request and response bodies of the HTTP API (they make up the OpenAPI document)."""

from __future__ import annotations

from typing import Annotated, Any, Literal, Union

from pydantic import BaseModel, ConfigDict, Field, ValidationError, WrapValidator
from pydantic_core import PydanticCustomError


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
    404: "Unknown model or adapter.", 409: "The name is taken.", 413: "Request body too large.",
    422: "Invalid request (types, limits, inputs the model cannot take).", 429: "Rate limit exceeded (see Retry-After).",
    503: "The model is loading or failed to load.", 504: "The prediction took longer than the timeout.",
}


def error_responses(*codes: int) -> dict[int, dict[str, Any]]:
    """OpenAPI entries for the error answers of a route; all carry ``{"detail": "..."}``."""
    return {code: {"model": ErrorBody, "description": ERROR_MEANINGS[code]} for code in codes}


class Unloaded(BaseModel):
    name: str
    status: Literal["unloaded"]
