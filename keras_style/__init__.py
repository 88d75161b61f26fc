"""keras-style: the Gatys et al. neural style algorithm in Keras 3 on TensorFlow.

Importing the package is cheap: TensorFlow loads only when a network is built, so the
command line can refuse bad input before paying for it.
"""
from __future__ import annotations

from typing import Any

from keras_style.version import __version__

__all__ = ["stylize", "stylize_result", "Settings", "UserError", "Interrupted", "PRESETS", "__version__"]


def __getattr__(name: str) -> Any:
    # Lazy re-exports keep `import keras_style` free of TensorFlow.
    if name in ("stylize", "stylize_result", "StyleResult"):
        from keras_style.engine.backend import import_backend

        import_backend()  # timed here: the run's modules import TensorFlow at their top
        from keras_style.run import transfer

        return getattr(transfer, name)
    if name == "Settings":
        from keras_style.config.settings import Settings

        return Settings
    if name in ("UserError", "Interrupted"):
        from keras_style import errors

        return getattr(errors, name)
    if name == "PRESETS":
        from keras_style.config.presets import PRESETS

        return PRESETS
    raise AttributeError(f"module 'keras_style' has no attribute {name!r}")
