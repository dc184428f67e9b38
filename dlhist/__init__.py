"""dlhist: the shared code of a runnable history of deep learning.

The public API, short and stable:

- setup: ``start``, ``Settings``, ``is_smoke``, ``get_device``, ``seed_everything``, ``autocast``, ``describe``
- data: ``fetch``, ``load_mnist``, ``TensorData``, ``TensorLoader``, ``data_dir``
- training: ``fit``, ``evaluate``, ``compare``, ``accuracy``, ``cosine_schedule``, ``History``,
  ``count_parameters``, ``save_checkpoint``, ``load_checkpoint``
- models: ``dlhist.models.mlp``
- plots: ``plot``, ``plot_curves``, ``show_images``, ``show_filters``, ``subplots``, ``save_figure``
- results: ``record``, ``finish``
- notebooks: ``show_source`` (from-scratch code lives in ``dlhist.scratch``, one module per concept)
"""

__version__ = "0.1.0"

from .data import TensorData, TensorLoader, data_dir, fetch, load_mnist  # noqa: E402
from .device import autocast, describe, get_device, seed_everything  # noqa: E402
from .notebook import show_source  # noqa: E402
from .plots import plot, plot_curves, save_figure, show_filters, show_images, subplots  # noqa: E402
from .results import finish, record, start  # noqa: E402
from .settings import Settings, is_smoke  # noqa: E402
from .train import (  # noqa: E402
    History,
    accuracy,
    compare,
    cosine_schedule,
    count_parameters,
    evaluate,
    fit,
    load_checkpoint,
    save_checkpoint,
)

__all__ = [
    "History", "Settings", "TensorData", "TensorLoader", "accuracy", "autocast", "compare", "cosine_schedule",
    "count_parameters", "data_dir", "describe", "evaluate", "fetch", "finish", "fit", "get_device", "is_smoke",
    "load_checkpoint", "load_mnist", "plot", "plot_curves", "record", "save_checkpoint", "save_figure",
    "seed_everything", "show_filters", "show_images", "show_source", "start", "subplots",
]
