"""The recommender's configuration: one YAML file, validated like a run config.

Paths in the file are relative to the file. ``load_recommend_config`` reports every problem of
keys and values at once, before any data or model is read.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator, model_validator

from whet.config import Section, apply_overrides, check_problems, read_yaml, validation_problems


class RecommendData(Section):
    items: str = Field(..., description="Item catalog: JSON lines, CSV, or a UniSRec .text file; one item a row.")
    id_field: str = Field("id", description="The catalog field holding each item's id (item_id in a UniSRec .text file).")
    text_fields: list[str] = Field(["title"], min_length=1, description="Catalog fields joined (with '. ') into the text an item is recommended by.")
    query_fields: list[str] | None = Field(None, description="Catalog fields a history item contributes to the user's text; null: text_fields. Shorter fields (title, genres) fit more history items into the user side.")
    category_field: str | None = Field(None, description="Catalog field holding each item's categories (a list, or text split at '|' or ','), e.g. genres; with ranker.features, the user's affinity to a candidate's categories (the share of their recent items sharing one) becomes a feature. null: none.")
    interactions: str = Field(..., description="Training interactions: CSV or JSON lines of events (user, item, rating?, timestamp?), or UniSRec .inter sequences with <name>.item2index beside them.")
    dev: str | None = Field(None, description="Dev targets: events (each user's next item after their training interactions) or a UniSRec .inter file; null: no evaluation.")
    user_field: str = Field("user", description="The events' user field.")
    item_field: str = Field("item", description="The events' item field.")
    rating_field: str | None = Field(None, description="The events' rating field; null: no ratings.")
    time_field: str | None = Field(None, description="The events' timestamp field (a number); null: the file's order is the time order.")
    min_rating: float | None = Field(None, description="Events rated at least this are positives (what users are recommended from and trained towards); null: every event. Every event's item is excluded from that user's recommendations.")
    unknown_items: Literal["error", "skip"] = Field("error", description="Interactions on items not in the catalog: error (the first is named with its file:line), or skip them with a warning counting them.")


class RecommendModel(Section):
    base: str = Field("builtin:minilm", description="Sentence encoder to fine-tune (builtin:minilm, a directory, or a hub id).")
    history_items: int = Field(5, ge=1, le=100, description="Most recent positives whose texts (newest first) make the user's side.")
    max_seq_length: int = Field(64, ge=8, le=512, description="Tokens of the user's text and of an item's text the encoder reads (longer ones are cut).")


class RecommendTraining(Section):
    epochs: int = Field(1, ge=1, description="Passes over the training pairs.")
    batch_size: int = Field(32, ge=2, description="Pairs per step; every other item in the batch is a negative (in-batch negatives).")
    lr: float = Field(5e-5, gt=0, description="Peak learning rate (AdamW, linear warmup and decay).")
    warmup_ratio: float = Field(0.1, ge=0, lt=1, description="Fraction of the steps the learning rate warms up over.")
    max_pairs: int | None = Field(3000, ge=1, description="Training pairs drawn (at random) from every (history -> next item) step; null: all. Bounds the training time (3,000 pairs of 64 tokens: about 3 minutes on two CPU cores).")
    hard_negatives: int = Field(0, ge=0, le=5, description="Negatives mined per pair from the items the untuned encoder ranks high for the user but the user did not take next; 0: in-batch negatives only.")
    hard_negative_ranks: tuple[int, int] = Field((10, 100), description="Ranks (from, to) of the untuned encoder's list the mined negatives are drawn from; skipping the very top leaves items the user may simply not have met yet.")
    loss: Literal["mnrl", "cached_mnrl"] = Field("mnrl", description="sentence-transformers' MultipleNegativesRankingLoss, or its cached form (GradCache), whose batch size is not bounded by memory.")
    mini_batch_size: int = Field(32, ge=1, description="cached_mnrl: texts per forward pass.")
    scale: float = Field(20.0, gt=0, description="Inverse temperature of the loss's softmax over cosine similarities.")
    seed: int = Field(42, description="Seed of the pair sample, the batches and the model.")
    log_every: int = Field(20, ge=1, description="Steps between loss lines.")

    @field_validator("hard_negative_ranks")
    @classmethod
    def _ranks_in_order(cls, ranks: tuple[int, int]) -> tuple[int, int]:
        # A field validator, so it is reported alongside the section's other problems.
        if not 0 <= ranks[0] < ranks[1]:
            raise ValueError(f"give [from, to] with 0 <= from < to, not {list(ranks)}")
        return ranks


class RecommendRanker(Section):
    features: bool = Field(False, description="Fit the final ranker: a pairwise logistic regression combining the bi-encoder's cosine with co-occurrence, last-item transitions and popularity, learned on each user's last training step (the bi-encoder then trains without those steps). Predictions then score every item exactly, not through the index.")
    users: int = Field(1500, ge=1, description="Users whose last training step the ranker learns from (drawn at random).")
    recent: int = Field(5, ge=1, description="The user's latest items whose co-occurrence counts add up to the co-occurrence feature.")


class RecommendReranker(Section):
    enabled: bool = Field(False, description="Fine-tune a cross-encoder that re-reads each user's top candidates together with the user's text, and order them by a learned combination of its score and the first stage's (the feature ranker, else the bi-encoder). Each user's last training step is then kept from the bi-encoder and the cross-encoder for the combination to learn from. Off by default: on Amazon dev (1,000 users) it lowered the feature ranker's NDCG@10 from 0.110 to 0.106 and recommends 2.5 users/s on two CPU cores against about 100 without it.")
    base: str | None = Field(None, description="Encoder the cross-encoder starts from, with a new one-label head (builtin:minilm, a directory, or a hub id); null: model.base.")
    candidates: int = Field(20, ge=2, le=1000, description="Items of the first stage's list the cross-encoder re-reads for each user; the rest keep their first-stage order below them.")
    negatives: int = Field(3, ge=1, le=50, description="Negatives per training pair, drawn from the fine-tuned bi-encoder's top `candidates` items for that user (never the target or a seen item).")
    max_pairs: int | None = Field(2000, ge=1, description="(history -> next item) steps the cross-encoder trains on: of five times as many drawn at random, those whose next item is among the bi-encoder's top `candidates` (the only ones ever re-ranked); each gives a positive and `negatives` negatives; null: all.")
    loss: Literal["bce", "mnrl"] = Field("bce", description="sentence-transformers' cross-encoder BinaryCrossEntropyLoss (the positive weighted by `negatives`), or its MultipleNegativesRankingLoss (the positive against the mined and as many in-batch negatives).")
    lr: float = Field(5e-5, gt=0, description="Peak learning rate (AdamW, linear warmup and decay).")
    warmup_ratio: float = Field(0.1, ge=0, lt=1, description="Fraction of the steps the learning rate warms up over.")
    batch_size: int = Field(32, ge=2, description="Rows per step (bce: (user, item) pairs; mnrl: users).")
    epochs: int = Field(1, ge=1, description="Passes over the training rows.")
    max_seq_length: int = Field(128, ge=16, le=512, description="Tokens of a (user text, item text) pair the cross-encoder reads; the longer side is cut first (the user's oldest items).")
    users: int = Field(500, ge=1, description="Users whose held-out last training step the combination of first-stage and cross-encoder scores is fitted on (drawn at random).")

    @model_validator(mode="after")
    def _fewer_negatives_than_candidates(self) -> RecommendReranker:
        if self.negatives >= self.candidates:
            raise ValueError(f"negatives ({self.negatives}) must be fewer than candidates ({self.candidates}), "
                             f"they are drawn from them")
        return self


class RecommendIndex(Section):
    exact_below: int = Field(200_000, ge=1, description="Catalogs with fewer items are searched exactly (a flat inner-product index); larger ones through an inverted-file index.")
    lists: int | None = Field(None, ge=1, description="Inverted lists of the approximate index; null: 4 * sqrt(items).")
    probe: int = Field(16, ge=1, description="Lists the approximate index searches per query.")


class RecommendOutput(Section):
    dir: str | None = Field(None, description="Run directory (the model is written to DIR/model); null: runs/<config name>.")


class RecommendConfig(Section):
    data: RecommendData = Field(..., description="The catalog and the interactions.")
    model: RecommendModel = Field(default_factory=RecommendModel, description="The encoder and the user's side.")
    training: RecommendTraining = Field(default_factory=RecommendTraining, description="Contrastive fine-tuning.")
    ranker: RecommendRanker = Field(default_factory=RecommendRanker, description="The final ranker over the bi-encoder and interaction counts.")
    reranker: RecommendReranker = Field(default_factory=RecommendReranker, description="The cross-encoder re-ranker over the first stage's top candidates.")
    index: RecommendIndex = Field(default_factory=RecommendIndex, description="The item index saved with the model.")
    output: RecommendOutput = Field(default_factory=RecommendOutput, description="Where the run is written.")


def load_recommend_config(path: str | Path, overrides: list[str] | None = None) -> RecommendConfig:
    """Read, override and validate a recommender config; data paths become absolute."""
    path = Path(path)
    raw = apply_overrides(read_yaml(path), overrides or [])
    check_problems(path, validation_problems(raw, RecommendConfig))
    config = RecommendConfig.model_validate(raw)
    for name in ("items", "interactions", "dev"):
        value = getattr(config.data, name)
        if value is not None and not Path(value).expanduser().is_absolute():
            setattr(config.data, name, str((path.parent / value).resolve()))
    if config.output.dir is None:
        config.output.dir = str(Path("runs") / path.stem)
    return config
