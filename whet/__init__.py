"""whet: adapt pretrained transformer models to your own task, measure them, ship them."""

from __future__ import annotations

from typing import TYPE_CHECKING

from whet.version import __version__

if TYPE_CHECKING:
    from whet.predict import Predictor


def load(path: str, adapter: str | None = None, *, precision: str = "auto") -> Predictor:
    """Load a model saved by ``whet train`` for prediction.

    ``adapter`` names one adapter of an adapter store (see ``whet adapters``) at ``path``.
    ``precision``: ``auto`` runs under bf16 autocast where the device is fast at it (a GPU with
    bf16, a CPU with AMX or faster bf16 matrix products) and in float32 elsewhere; ``fp32`` or
    ``bf16`` force one. int8 and ONNX models run as exported whatever it says.

    Example:
        >>> from whet import load
        >>> model = load("runs/demo-intents/model")
        >>> model.predict(["I lost my card"])[0]["label"]
        'lost_card'
    """
    from whet.predict import Predictor

    return Predictor.from_directory(path, adapter, precision=precision)


__all__ = ["__version__", "load"]
