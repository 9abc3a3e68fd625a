"""Recommenders on ``whet serve``'s app (same keys, limits, access log and metrics as the task
models): recommendations, catalog changes, and a page to try them.

``whet serve`` hands ``RECOMMENDERS`` to the app (whet.serve imports no application): a model
directory holding ``recommender.json`` is loaded as a ``ServedRecommender`` and these routes
answer for it. Changing the catalog writes to the model directory, so it takes an admin key, as
loading an adapter does.
"""

from __future__ import annotations

import asyncio
import functools
from pathlib import Path

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import HTMLResponse
from prometheus_client import Counter
from pydantic import BaseModel, ConfigDict, Field, model_validator

from whet.errors import DataError, ModelError
from whet.recommend.recommender import SETTINGS_FILE
from whet.recommend.service import CatalogNotSaved, DuplicateItems, ServedRecommender, check_recommender_directory
from whet.serve.deps import Admin, Caller, State
from whet.serve.inputs import InputError, check_text
from whet.serve.model_kinds import ModelKind
from whet.serve.pages import page_html, page_response
from whet.serve.routes.per_request import count_request
from whet.serve.schemas import error_responses
from whet.serve.state import ServerState

router = APIRouter(tags=["recommend"])
PAGE = Path(__file__).resolve().parent / "recommend.html"


class RecommendRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"history": ["s1", "s2"], "k": 5}, {"user_id": "u42", "k": 10, "diversity": 0.3},
        {"interests": "space travel and astronauts", "k": 5, "exclude": ["s1"]}]})

    model: str | None = Field(None, description="A served recommender's name (GET /v1/models); may be left out when "
                                                "one is served.")
    user_id: str | None = Field(None, min_length=1, description="A user of the training interactions: their history "
                                                                "is used and what they saw is never recommended; an "
                                                                "unknown user is a cold start.")
    history: list[str] | None = Field(None, description="Item ids the user liked, oldest first (instead of user_id).")
    interests: str | None = Field(None, min_length=1, description="Free text of what the user likes, used with or "
                                                                  "without a history.")
    k: int = Field(10, ge=1, description="How many items to recommend; at most the server's limits.max_texts.")
    exclude: list[str] = Field(default_factory=list, description="Item ids never to recommend.")
    diversity: float = Field(0.0, ge=0, le=1, description="0: by relevance alone; towards 1, items less like those "
                                                          "already picked are preferred (maximal marginal relevance).")

    @model_validator(mode="after")
    def _one_user(self) -> RecommendRequest:
        if self.user_id is not None and self.history is not None:
            raise ValueError("give user_id or history, not both")
        return self


class Recommended(BaseModel):
    rank: int
    item: str
    score: float
    text: str
    because: list[str] = Field(..., description="The history items closest to this one, closest first.")


class RecommendResponse(BaseModel):
    model: str
    recommendations: list[Recommended]
    cold_start: bool = Field(..., description="The user had no history (unknown user, or none given): the items are "
                                              "the most popular, or those closest to the interests.")


class NewItem(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: str = Field(..., min_length=1, max_length=1024, description="The item's id, new to the catalog's index.")
    text: str = Field(..., min_length=1, description="What the item is matched by (as the catalog's text fields).")
    query_text: str | None = Field(None, min_length=1, description="What it contributes to a user's history, when "
                                                                   "shorter than its text (default: the text).")


class ItemsRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"items": [{"id": "s9", "text": "Comet Chasers. Scientists race to land on a comet"}]}]})

    model: str | None = None
    items: list[NewItem] = Field(..., min_length=1, description="Items to embed from their text and index.")


class ItemsRemoval(BaseModel):
    model_config = ConfigDict(extra="forbid")

    model: str | None = None
    ids: list[str] = Field(..., min_length=1, description="Item ids to stop recommending (they stay in the catalog, "
                                                          "so histories may still name them).")


class CatalogChange(BaseModel):
    model: str
    added: int = 0
    removed: int = 0
    indexed: int = Field(..., description="Items in the index now.")


def _recommender(state: ServerState, name: str | None) -> tuple[str, ServedRecommender]:
    """The ready recommender a request names (or the only one served): 404 unknown, 503 not ready."""
    served = {n: m for n, m in state.registry.models.items() if m.kind is RECOMMENDERS}
    if name is None:
        if len(served) != 1:
            raise HTTPException(422, f"model: {len(served)} recommenders are served ({', '.join(sorted(served))}); "
                                     f"name one")
        name = next(iter(served))
    if name not in served:
        raise HTTPException(404, f"unknown recommender {name!r}; served recommenders: {', '.join(sorted(served))}")
    model = served[name]
    if model.status != "ready":
        raise HTTPException(503, f"recommender {name!r} is {model.status}" + (f": {model.error}" if model.error else ""))
    return name, model.loaded


async def _run(state: ServerState, name: str, call: functools.partial, *, deadline: bool = True) -> object:
    """``call`` in a worker thread, within the server's timeout (without ``deadline``: a catalog
    change, which goes on in its thread anyway, is answered once it is saved); its errors as HTTP answers."""
    timeout = state.config.limits.timeout_s
    try:
        return await asyncio.wait_for(asyncio.to_thread(call), timeout if deadline else None)
    except asyncio.TimeoutError:
        state.metrics.model_errors.labels(name, "timeout").inc()
        raise HTTPException(504, f"the recommender took longer than {timeout:g} s (limits.timeout_s); retry later") \
            from None
    except DuplicateItems as err:
        state.metrics.model_errors.labels(name, "input").inc()
        raise HTTPException(409, str(err)) from None
    except CatalogNotSaved as err:
        state.metrics.model_errors.labels(name, "internal").inc()
        raise HTTPException(500, str(err)) from None
    except (DataError, ModelError) as err:  # ModelError: what the model cannot do (no saved users, say)
        state.metrics.model_errors.labels(name, "input").inc()
        raise HTTPException(422, str(err)) from None
    except Exception:
        state.metrics.model_errors.labels(name, "internal").inc()
        raise


def _counted(request: Request, state: ServerState) -> Counter:
    """The counter of answered recommendations, in the app's registry (made on first use, on the event loop)."""
    counter = getattr(request.app.state, "recommendations", None)
    if counter is None:
        counter = request.app.state.recommendations = Counter(
            "whet_recommendations_total", "Recommendation requests answered, by recommender and whether the user "
            "had no history (cold start).", ["model", "cold_start"], registry=state.metrics.registry)
    return counter


def _check_limits(state: ServerState, count: int, what: str, texts: list[str]) -> None:
    limits = state.config.limits
    if count > limits.max_texts:
        raise HTTPException(422, f"{count} {what}; this server takes at most {limits.max_texts} per request "
                                 f"(limits.max_texts)")
    try:  # the check /v1/predict makes of each text (whet.serve.inputs)
        for number, text in enumerate(texts, 1):
            check_text(text, number, limits, what="text")
    except InputError as err:
        raise HTTPException(422, str(err)) from None


@router.post("/v1/recommend", response_model=RecommendResponse,
             responses=error_responses(400, 401, 404, 413, 422, 429, 503, 504))
async def recommend(body: RecommendRequest, request: Request, state: State, caller: Caller) -> dict:
    """Recommend ``k`` items for a user of the training data, a history of item ids, or free-text
    interests; a user without history gets the most popular items (or those closest to the
    interests), flagged ``cold_start``."""
    name, served = _recommender(state, body.model)
    _check_limits(state, body.k, "recommendations asked for", [body.interests or ""])
    count_request(state, request, name, 1)
    found, cold_start = await _run(state, name, functools.partial(
        served.recommend, user_id=body.user_id, history=body.history, interests=body.interests, k=body.k,
        exclude=body.exclude, diversity=body.diversity))
    _counted(request, state).labels(name, str(cold_start).lower()).inc()
    return {"model": name, "cold_start": cold_start,
            "recommendations": [{"rank": rank, "item": r.item, "score": round(r.score, 6), "text": r.text,
                                 "because": r.because} for rank, r in enumerate(found, 1)]}


@router.post("/v1/recommend/items", status_code=201, response_model=CatalogChange,
             responses=error_responses(400, 401, 403, 404, 409, 413, 422, 429, 503))
async def add_items(body: ItemsRequest, request: Request, state: State, admin: Admin) -> dict:
    """Add items, embedded from their text alone (no retraining), and save the catalog before
    answering (admin key). An id indexed already, or given twice, is refused (409) and nothing is added."""
    name, served = _recommender(state, body.model)
    _check_limits(state, len(body.items), "items", [text for item in body.items
                                                   for text in (item.text, item.query_text or "")])
    count_request(state, request, name, len(body.items))
    added = await _run(state, name, functools.partial(
        served.add_items, [i.id for i in body.items], [i.text for i in body.items],
        [i.query_text or i.text for i in body.items]), deadline=False)
    return {"model": name, "added": added, "indexed": int(served.recommender.index.ntotal)}


@router.post("/v1/recommend/items/remove", response_model=CatalogChange,
             responses=error_responses(400, 401, 403, 404, 413, 422, 429, 503))
async def remove_items(body: ItemsRemoval, request: Request, state: State, admin: Admin) -> dict:
    """Stop recommending items and save the catalog before answering (admin key). An unknown id,
    or one removed already, is refused (422) and nothing is removed."""
    name, served = _recommender(state, body.model)
    count_request(state, request, name, len(body.ids))
    removed = await _run(state, name, functools.partial(served.remove_items, body.ids), deadline=False)
    return {"model": name, "removed": removed, "indexed": int(served.recommender.index.ntotal)}


@router.get("/recommend", response_class=HTMLResponse, include_in_schema=False)
async def recommend_page() -> HTMLResponse:
    return page_response(page_html(PAGE))


RECOMMENDERS = ModelKind(name="recommender", marker=SETTINGS_FILE, load=ServedRecommender.load, router=router,
                         endpoint="POST /v1/recommend", check=check_recommender_directory,
                         describe=ServedRecommender.describe)
