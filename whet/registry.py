"""Name -> implementation lookups that fail helpfully.

Tasks and methods are registered by name, with the module that implements them, so a
config can be validated (is the name known?) without importing torch or transformers.
"""

from __future__ import annotations

import difflib
import importlib
from typing import Any

from whet.errors import ConfigError


def closest(name: str, choices: list[str] | tuple[str, ...]) -> str | None:
    """The choice most similar to ``name``, if any is reasonably close."""
    found = difflib.get_close_matches(name, list(choices), n=1, cutoff=0.5)
    return found[0] if found else None


def unknown_name_message(kind: str, name: str, choices: list[str] | tuple[str, ...]) -> str:
    guess = closest(name, choices)
    hint = f"did you mean '{guess}'? " if guess else ""
    return f"unknown {kind} '{name}'; {hint}choose one of: {', '.join(sorted(choices))}"


class Registry:
    """Maps names to ``module:attribute`` paths, imported on first use."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._targets: dict[str, str] = {}

    def register(self, name: str, target: str) -> None:
        if name in self._targets:
            raise ValueError(f"{self.kind} '{name}' is registered twice")
        self._targets[name] = target

    def names(self) -> list[str]:
        return list(self._targets)

    def __contains__(self, name: str) -> bool:
        return name in self._targets

    def check(self, name: str) -> None:
        """Raise ``ConfigError`` listing the known names when ``name`` is unknown."""
        if name not in self._targets:
            raise ConfigError(unknown_name_message(self.kind, name, self.names()))

    def get(self, name: str) -> Any:
        self.check(name)
        module_name, attribute = self._targets[name].split(":")
        return getattr(importlib.import_module(module_name), attribute)
