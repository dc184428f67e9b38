"""dlhist: the shared code of a runnable history of deep learning.

The public API, short and stable:

- setup: ``start``, ``Settings``, ``get_device``, ``seed_everything``, ``autocast``, ``describe``
- data: ``fetch``, ``load_mnist``, ``TensorData``, ``TensorLoader``, ``data_dir`` (more in ``dlhist.data``)
- training: ``fit``, ``evaluate``, ``compare``, ``accuracy``, ``adamw``, ``cosine_schedule``, ``inverse_sqrt_schedule``,
  ``History``, ``count_parameters``, ``save_checkpoint``, ``load_checkpoint``
- plots: ``plot``, ``plot_curves``, ``show_images``, ``show_filters``, ``subplots``, ``save_figure``, ``show_source``
- results: ``record``, ``finish``, ``seed_stats``

Subpackages, all loaded by ``import dlhist``: ``dlhist.data`` (datasets, tensors, text), ``dlhist.models``
(architectures two or more topics use), ``dlhist.scratch`` (from-scratch mechanisms, each checked against its
PyTorch twin), ``dlhist.check`` (those twin checks). The repository tooling (``dlhist.tools``: command line,
curriculum, notebook execution) is not loaded by ``import dlhist``.
"""

__version__ = "0.2.0"

from . import check, data, models, scratch  # noqa: E402
from .data import TensorData, TensorLoader, data_dir, fetch, load_mnist  # noqa: E402
from .device import autocast, describe, get_device, seed_everything  # noqa: E402
from .plots import plot, plot_curves, save_figure, show_filters, show_images, show_source, subplots  # noqa: E402
from .results import finish, record, seed_stats, start  # noqa: E402
from .settings import Settings  # noqa: E402
from .train import (  # noqa: E402
    History,
    accuracy,
    adamw,
    compare,
    cosine_schedule,
    count_parameters,
    evaluate,
    fit,
    inverse_sqrt_schedule,
    load_checkpoint,
    save_checkpoint,
)

__all__ = [
    "History", "Settings", "TensorData", "TensorLoader", "accuracy", "adamw", "autocast", "check", "compare",
    "cosine_schedule", "count_parameters", "data", "data_dir", "describe", "evaluate", "fetch", "finish", "fit",
    "get_device", "inverse_sqrt_schedule", "load_checkpoint", "load_mnist", "models", "plot", "plot_curves", "record",
    "save_checkpoint", "save_figure", "scratch", "seed_everything", "seed_stats", "show_filters", "show_images",
    "show_source", "start", "subplots",
]
