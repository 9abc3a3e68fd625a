"""The assistant's configuration: one YAML file, validated like a run config.

Paths in the file are relative to the file. ``load_assistant_config`` checks the keys and values
(every problem at once); ``whet.assistant.checks`` then checks the files they name against each
other (answers against the intent model's labels, template slots against their sources).
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, model_validator

from whet.config import Section, apply_overrides, check_problems, read_yaml, validation_problems
from whet.serve.settings import AuthSettings, RateLimitSettings


class ModelSettings(Section):
    model: str = Field(..., description="A whet model directory (saved by whet train).")
    precision: Literal["auto", "fp32", "bf16"] = Field("auto", description="Precision the model predicts in (see whet predict --precision).")


class KnowledgeSettings(Section):
    files: list[str] = Field(..., min_length=1, description="Knowledge base files: JSON lines of passages ({text, title?, source?, id?}) or of FAQ pairs ({question, answer, source?}), or Markdown files (one passage per section); globs allowed.")
    embedding_model: str = Field("builtin:minilm", description="Sentence-transformers model the passages and messages are embedded with (builtin:minilm, a directory, or a hub id).")
    reranker: str | None = Field(None, description="Optional cross-encoder (a directory or hub id) that re-ranks the top passages; null: rank by embedding similarity.")
    candidates: int = Field(10, ge=1, le=200, description="Passages the embedding search hands to the re-ranker.")
    max_passage_words: int = Field(200, ge=20, description="Longer Markdown sections are cut into passages of at most this many words.")


class ThresholdSettings(Section):
    answer: float = Field(0.5, ge=0, le=1, description="Least intent probability that is answered with the intent's template (0.5 on CLINC150's val: 0.7 makes fewer wrong answers, 2.35 % against 3.10 %, but resolves 94.97 % of in-scope messages against 95.77 %; benchmarks/assistant_clinc.py).")
    clarify_margin: float = Field(0.2, ge=0, le=1, description="When the top two intents' probabilities are closer than this, ask which one is meant (0.2 on CLINC150's val: 3.10 % wrong answers against 3.19 % at 0.1, 0.7 % of in-scope messages asked; benchmarks/assistant_clinc.py).")
    retrieve: float = Field(0.5, ge=-1, le=1, description="Least similarity (cosine, or the re-ranker's score) of a knowledge base passage for it to be the reply.")


class ConversationSettings(Section):
    database: str = Field("assistant.db", description="SQLite file (created) of sessions, transcripts and tickets, or an SQLAlchemy URL such as postgresql+psycopg://user@host/db (pip install \"whet[postgres]\").")
    expiry_minutes: float = Field(30.0, gt=0, description="A session idle this long starts afresh on its next message (its transcript is kept).")
    context_turns: int = Field(6, ge=1, le=100, description="Turns of the conversation kept as its context (in the session's answer and a ticket's transcript).")
    max_message_chars: int = Field(2000, ge=1, description="Longest message accepted; the service answers 413 to a longer one.")


class HandoffSettings(Section):
    webhook: str | None = Field(None, description="URL each new ticket is POSTed to as JSON (retried with backoff until it answers 2xx); null: tickets stay in the database only.")
    after_failures: int = Field(2, ge=1, description="Turns in a row that end without an answer (unresolved clarifications, nothing retrieved) before a person takes over.")
    max_attempts: int = Field(10, ge=1, description="Webhook deliveries tried per ticket before it is left undelivered (it stays in the tickets table).")
    backoff_seconds: float = Field(2.0, gt=0, description="Wait before the second delivery; each later wait doubles, up to 10 minutes.")
    timeout_seconds: float = Field(10.0, gt=0, description="Longest one webhook delivery may take.")
    message: str = Field("I have passed this on to a colleague, who will follow up with you (ticket {ticket}).", description="Told to the customer on hand-off; {ticket} is the ticket id.")


class ServerSettings(Section):
    host: str = Field("127.0.0.1", description="Address to bind; 0.0.0.0 listens on every interface.")
    port: int = Field(8000, ge=1, le=65535, description="TCP port.")
    auth: AuthSettings = Field(default_factory=AuthSettings, description="API and admin keys, as for whet serve.")
    rate_limit: RateLimitSettings = Field(default_factory=RateLimitSettings, description="Token-bucket rate limit per key, as for whet serve.")
    access_log: bool = Field(True, description="Write one JSON line per request to stderr.")


class AssistantConfig(Section):
    intents: ModelSettings = Field(..., description="The intent classifier; an out-of-scope detector saved with it (whet out-of-scope, or out_of_scope in its run config) decides what is out of scope.")
    answers: str = Field(..., description="Answers file (YAML or JSON lines): reply templates, follow-up questions and slots per intent.")
    entities: ModelSettings | None = Field(None, description="Optional NER model whose entities fill template slots.")
    knowledge: KnowledgeSettings | None = Field(None, description="Optional knowledge base searched when no intent answers.")
    thresholds: ThresholdSettings = Field(default_factory=ThresholdSettings, description="When to answer, clarify and retrieve.")
    conversations: ConversationSettings = Field(default_factory=ConversationSettings, description="Sessions and their storage.")
    handoff: HandoffSettings = Field(default_factory=HandoffSettings, description="Tickets for a person.")
    server: ServerSettings = Field(default_factory=ServerSettings, description="whet assistant serve.")
    greeting: str = Field("Hello! How can I help you today?", description="The chat page's first line.")

    @model_validator(mode="after")
    def _webhook_is_http(self) -> AssistantConfig:
        url = self.handoff.webhook
        if url is not None and not url.startswith(("http://", "https://")):
            raise ValueError(f"handoff.webhook {url!r}: give an http:// or https:// URL")
        return self


def load_assistant_config(path: Path, overrides: list[str] | None = None) -> AssistantConfig:
    """Read, override and validate an assistant config; file paths become absolute."""
    raw = apply_overrides(read_yaml(path), overrides or [])
    check_problems(path, validation_problems(raw, AssistantConfig))
    return resolve_assistant_paths(AssistantConfig.model_validate(raw), path.parent)


def resolve_assistant_paths(config: AssistantConfig, base: Path) -> AssistantConfig:
    def local(value: str) -> str:
        path = Path(value).expanduser()
        return str(path if path.is_absolute() else (base / path).resolve())

    def model(value: str) -> str:
        # builtin:NAME and hub ids stay as written; anything that exists beside the config is a path.
        return local(value) if (base / value).exists() or value.startswith((".", "/", "~")) else value

    config.intents.model = local(config.intents.model)
    if config.entities is not None:
        config.entities.model = local(config.entities.model)
    config.answers = local(config.answers)
    if config.knowledge is not None:
        config.knowledge.files = [local(f) for f in config.knowledge.files]
        config.knowledge.embedding_model = model(config.knowledge.embedding_model)
        if config.knowledge.reranker is not None:
            config.knowledge.reranker = model(config.knowledge.reranker)
    if "://" not in config.conversations.database:
        config.conversations.database = local(config.conversations.database)
    for key in ("api_keys_file", "admin_keys_file"):
        if getattr(config.server.auth, key) is not None:
            setattr(config.server.auth, key, local(getattr(config.server.auth, key)))
    return config
