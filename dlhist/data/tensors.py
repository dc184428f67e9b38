"""Small datasets held as tensors on the device, and a loader that batches them without worker processes."""

from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass
class TensorData:
    """A small dataset held as tensors: inputs ``x`` and targets ``y`` with the same first dimension."""

    x: torch.Tensor
    y: torch.Tensor

    def __post_init__(self):
        if self.x.shape[0] != self.y.shape[0]:
            raise ValueError(f"x and y differ in length: x has shape {tuple(self.x.shape)}, y {tuple(self.y.shape)}")

    def __len__(self) -> int:
        return self.x.shape[0]

    def to(self, device) -> TensorData:
        return TensorData(self.x.to(device), self.y.to(device))

    def subset(self, n: int | None, seed: int = 0) -> TensorData:
        """A random subset of ``n`` examples (the same one for the same seed); ``None`` keeps everything."""
        if n is None or n >= len(self):
            return self
        idx = torch.randperm(len(self), generator=torch.Generator().manual_seed(seed))[:n].to(self.x.device)
        return TensorData(self.x[idx], self.y[idx])

    def loader(self, batch_size: int, shuffle: bool = False, **kwargs) -> TensorLoader:
        return TensorLoader(self.x, self.y, batch_size=batch_size, shuffle=shuffle, **kwargs)


class TensorLoader:
    """Batches of tensors that already live on the device: no worker processes, no per-sample transforms.

    ``transform`` (optional) is applied to each input batch on the device, e.g. a random shift for augmentation.
    """

    def __init__(self, *tensors: torch.Tensor, batch_size: int, shuffle: bool = False, drop_last: bool = False,
                 transform=None, seed: int | None = None):
        if not tensors:
            raise ValueError("TensorLoader needs at least one tensor")
        n = tensors[0].shape[0]
        if any(t.shape[0] != n for t in tensors):
            raise ValueError(f"tensors differ in their first dimension: {[tuple(t.shape) for t in tensors]}")
        if batch_size < 1:
            raise ValueError(f"batch_size must be positive, not {batch_size}")
        self.tensors, self.batch_size, self.shuffle, self.drop_last = tensors, batch_size, shuffle, drop_last
        self.transform = transform
        self.generator = torch.Generator().manual_seed(seed) if seed is not None else None

    def __len__(self) -> int:
        n = self.tensors[0].shape[0]
        return n // self.batch_size if self.drop_last else -(-n // self.batch_size)

    def __iter__(self):
        n = self.tensors[0].shape[0]
        device = self.tensors[0].device
        order = torch.randperm(n, generator=self.generator).to(device) if self.shuffle else None
        stop = n - n % self.batch_size if self.drop_last else n
        for start in range(0, stop, self.batch_size):
            if order is None:
                batch = tuple(t[start:start + self.batch_size] for t in self.tensors)
            else:
                idx = order[start:start + self.batch_size]
                batch = tuple(t[idx] for t in self.tensors)
            if self.transform is not None:
                batch = (self.transform(batch[0]),) + batch[1:]
            yield batch
