"""Data: the registry of datasets (download once, checksum, cache or mirror), device-resident tensors, image sets
and text corpora.

- registry: ``fetch``, ``data_dir``, ``mirrors``, ``DATASETS``; errors ``DatasetNotFoundError``, ``ChecksumError``,
  ``UnknownDatasetError``, ``CacheNotWritableError``
- tensors: ``TensorData``, ``TensorLoader``, ``LengthBatches`` (padded sequences grouped by length)
- images: ``load_mnist``, ``load_cifar10``, ``load_images``, ``load_isbi2012``, ``CLASSES``, ``STATS``
- sentiment (``dlhist.data.sentiment``): SST-2 and the movie reviews, with a leak check
- text (``dlhist.data.text``): characters, vocabularies and batches for language models
- captions (``dlhist.data.captions``): tinted MNIST glyphs with synthetic captions, held-out pairs (CLIP, DALL-E, LDM)
- synthetic tasks: ``dlhist.data.synthetic`` (the adding problem), ``dlhist.data.elman`` (temporal XOR, Elman's
  sentences), ``dlhist.data.reber`` (the embedded Reber grammar); music: ``dlhist.data.music`` (JSB Chorales)
"""

from . import text
from .images import (
    CLASSES,
    FASHION_CLASSES,
    STATS,
    load_cifar10,
    load_images,
    load_isbi2012,
    load_isbi2012_test,
    load_mnist,
    read_png,
)
from .registry import (
    DATASETS,
    CacheNotWritableError,
    ChecksumError,
    DatasetNotFoundError,
    UnknownDatasetError,
    data_dir,
    fetch,
    fetch_file,
    mirrors,
    sha256,
)
from .tensors import LengthBatches, TensorData, TensorLoader

__all__ = [
    "CLASSES", "CacheNotWritableError", "DATASETS", "FASHION_CLASSES", "STATS", "ChecksumError",
    "DatasetNotFoundError", "LengthBatches", "TensorData", "TensorLoader", "UnknownDatasetError", "data_dir",
    "fetch", "fetch_file",
    "load_cifar10", "load_images", "load_isbi2012", "load_isbi2012_test", "load_mnist", "mirrors", "read_png",
    "sha256", "text",
]
