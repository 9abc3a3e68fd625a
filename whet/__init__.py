"""whet: adapt pretrained transformer models to your own task, measure them, ship them."""

from __future__ import annotations

from typing import TYPE_CHECKING

from whet.version import __version__

if TYPE_CHECKING:
    from whet.predict import Predictor


def load(path: str, adapter: str | None = None) -> Predictor:
    """Load a model saved by ``whet train`` for prediction.

    ``adapter`` names one adapter of an adapter store (see ``whet adapters``) at ``path``.

    Example:
        >>> from whet import load
        >>> model = load("runs/demo-intents/model")
        >>> model.predict(["I lost my card"])[0]["label"]
        'lost_card'
    """
    from whet.predict import Predictor

    return Predictor.from_directory(path, adapter)


__all__ = ["__version__", "load"]
