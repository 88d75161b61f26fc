"""keras-style: the Gatys et al. neural style algorithm in Keras 3 on TensorFlow.

Importing the package is cheap: TensorFlow loads only when a network is built, so the
command line can refuse bad input before paying for it.
"""
from __future__ import annotations

from typing import Any

__version__ = "0.1.0"

__all__ = ["stylize", "stylize_result", "Settings", "UserError", "Interrupted", "PRESETS", "__version__"]


def __getattr__(name: str) -> Any:
    # Lazy re-exports keep `import keras_style` free of TensorFlow.
    if name in ("stylize", "stylize_result", "StyleResult"):
        from . import transfer

        return getattr(transfer, name)
    if name == "Settings":
        from .settings import Settings

        return Settings
    if name in ("UserError", "Interrupted"):
        from . import errors

        return getattr(errors, name)
    if name == "PRESETS":
        from .presets import PRESETS

        return PRESETS
    raise AttributeError(f"module 'keras_style' has no attribute {name!r}")
