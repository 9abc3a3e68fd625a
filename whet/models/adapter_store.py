"""The layout of an adapter store: several named adapters sharing one copy of their base model.

A store is a directory::

    whet-adapters.json    {"base_model": the name the adapters were trained on}
    base/                 that model's config and safetensors weights, copied once
    adapters/<name>/      one adapter model directory per name (as ``whet train`` saved it)

This module finds things in a store and reads and writes its index; ``load_saved_model(STORE,
adapter=NAME)`` loads from it, and ``whet.adapters`` adds, lists and removes adapters.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from whet.errors import ModelError
from whet.models.model_info import METADATA

STORE_FILE = "whet-adapters.json"
_NAME = re.compile(r"[A-Za-z0-9_.-]+")


def check_adapter_name(name: str) -> str:
    """``name`` if it is safe as a directory name, else a ModelError (no paths, no hidden names)."""
    if not _NAME.fullmatch(name) or name.startswith("."):
        raise ModelError(f"adapter name {name!r} is not allowed; use letters, digits, '_', '.' and '-', "
                         f"not starting with a dot")
    return name


def is_adapter_store(path: Path) -> bool:
    return (Path(path) / STORE_FILE).is_file()


def _require_store(store: Path) -> None:
    if not is_adapter_store(store):
        raise ModelError(f"{store} is not an adapter store; create one with: whet adapters add {store} NAME MODEL")


def base_directory(store: Path) -> Path:
    _require_store(store)
    return Path(store) / "base"


def adapters_folder(store: Path) -> Path:
    """Where the adapter directories of ``store`` go, one per name."""
    return Path(store) / "adapters"


def list_adapters(store: str | Path) -> list[str]:
    """The adapter names in a store, sorted."""
    store = Path(store)
    _require_store(store)
    folder = adapters_folder(store)
    if not folder.is_dir():
        return []
    # Dot names are copies still being written (whet.io.atomic.atomic_directory); no adapter name starts with a dot.
    return sorted(p.name for p in folder.iterdir() if not p.name.startswith(".") and (p / METADATA).is_file())


def adapter_directory(store: Path, name: str) -> Path:
    """The directory of adapter ``name`` in ``store``; a ModelError naming the choices when absent."""
    check_adapter_name(name)
    _require_store(store)
    directory = adapters_folder(store) / name
    if not (directory / METADATA).is_file():
        have = list_adapters(store)
        raise ModelError(f"no adapter '{name}' in {store}; it has: {', '.join(have) or 'none'}")
    return directory


def store_base_model(store: Path) -> str:
    """The name of the base model the adapters in ``store`` were trained on, from its index."""
    return json.loads((Path(store) / STORE_FILE).read_text(encoding="utf-8"))["base_model"]


def write_store_index(store: Path, base_model: str) -> None:
    """Write the index that makes ``store`` an adapter store of adapters trained on ``base_model``."""
    from whet.io.atomic import write_json_atomic

    write_json_atomic(Path(store) / STORE_FILE, {"base_model": base_model})
