"""The serve configuration: an optional YAML file, ``--set`` overrides and CLI options.

Validated like a run config (unknown keys name the closest valid key, every problem is
reported at once) before any model is loaded.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field

from whet.config import Section, apply_overrides, check_problems, read_yaml, validation_problems


class BatchingSettings(Section):
    enabled: bool = Field(True, description="Gather concurrent requests into one model call; false runs each request alone.")
    max_batch_size: int = Field(64, ge=1, le=4096, description="Most texts gathered into one batch.")
    max_wait_ms: float = Field(20.0, ge=0, le=10_000, description="Under load only: after answering a batch, how long the worker may wait for those callers to send their next requests before it starts the next batch (it starts as soon as they are all back); a request that finds the worker idle starts at once.")
    model_batch_size: int = Field(64, ge=1, le=4096, description="Most texts per forward pass: a batch is sorted by length and cut into passes where the padding saved is worth another pass.")
    max_generate_batch: int = Field(8, ge=1, le=256, description="Causal LMs: most prompts generated together (requests with the same decoding settings are batched).")
    max_streams: int = Field(4, ge=1, le=256, description="Causal LMs: most streamed generations running at once per model; more wait for a free slot.")


class LimitSettings(Section):
    max_texts: int = Field(128, ge=1, description="Most inputs in one request.")
    max_chars: int = Field(10_000, ge=1, description="Most characters in one text (each text of a pair, each word list in total).")
    max_body_bytes: int = Field(1_048_576, ge=1024, description="Largest request body in bytes; larger bodies get 413.")
    timeout_s: float = Field(30.0, gt=0, description="Longest a prediction or a generation may take, queueing included; slower requests get 504 (a stream must start within it).")
    max_new_tokens: int = Field(512, ge=1, description="Causal LMs: most tokens one request may ask to generate (max_new_tokens, max_tokens).")


class AuthSettings(Section):
    api_keys_file: str | None = Field(None, description="File of API keys, one per line; with WHET_API_KEYS unset and no file, the API is open.")
    admin_keys_file: str | None = Field(None, description="File of admin keys (admin endpoints); without admin keys they are disabled.")
    protect_metrics: bool = Field(False, description="Require an API key for /metrics too.")


class RateLimitSettings(Section):
    requests_per_second: float | None = Field(None, gt=0, description="Sustained requests per second per API key (per client address without keys); null: no limit.")
    burst: int = Field(20, ge=1, description="Requests a key may send at once before the rate applies.")


class ServeConfig(Section):
    host: str = Field("127.0.0.1", description="Address to bind; 0.0.0.0 listens on every interface.")
    port: int = Field(8000, ge=1, le=65535, description="TCP port.")
    models: dict[str, str] = Field(default_factory=dict, description="Models to serve, name: model directory (added to those given on the command line).")
    adapter_dir: str | None = Field(None, description="Directory whose LoRA model directories admins may load at run time by name.")
    batching: BatchingSettings = Field(default_factory=BatchingSettings, description="How requests are batched.")
    limits: LimitSettings = Field(default_factory=LimitSettings, description="Per-request limits.")
    auth: AuthSettings = Field(default_factory=AuthSettings, description="API and admin keys.")
    rate_limit: RateLimitSettings = Field(default_factory=RateLimitSettings, description="Token-bucket rate limit per key.")
    cors_origins: list[str] = Field(default_factory=list, description="Origins allowed to call the API from a browser (CORS); empty: CORS off.")
    precision: Literal["auto", "fp32", "bf16"] = Field("auto", description="Predicting models run under bf16 autocast (bf16), in float32 (fp32), or in bf16 where the device is fast at it (auto: a GPU with bf16, a CPU with AMX); int8 and ONNX models run as exported, generation in float32.")
    access_log: bool = Field(True, description="Write one JSON line per request to stderr.")
    log_level: Literal["debug", "info", "warning", "error"] = Field("info", description="Least severe log level written.")


def load_serve_config(path: Path | None, overrides: list[str] | None = None) -> ServeConfig:
    """Read, override and validate a serve config; paths in a file are relative to the file."""
    raw = read_yaml(path) if path is not None else {}
    raw = apply_overrides(raw, overrides or [])
    check_problems(path or "serve options", validation_problems(raw, ServeConfig))
    config = ServeConfig.model_validate(raw)
    if path is not None:
        base = path.parent
        config.models = {name: _relative_to(base, d) for name, d in config.models.items()}
        for section, key in ((config, "adapter_dir"), (config.auth, "api_keys_file"), (config.auth, "admin_keys_file")):
            if getattr(section, key) is not None:
                setattr(section, key, _relative_to(base, getattr(section, key)))
    return config


def _relative_to(base: Path, value: str) -> str:
    path = Path(value).expanduser()
    return str(path if path.is_absolute() else (base / path).resolve())
