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


class LengthBatches:
    """Batches of padded sequences grouped by length, each cut to its longest row: far less work on padding.

    ``x`` (N, T) holds sequences padded at the end, ``lengths`` (N,) their real lengths. With ``shuffle``, every
    pass shuffles the rows, sorts each pool of ``pool`` batches by length, cuts it into batches and shuffles the
    batches (the bucketing of Sutskever et al. 2014 and most translation code); without, batches follow the row
    order. Yields ``(x[:, :longest], y, ...)`` for the other tensors given.
    """

    def __init__(self, x: torch.Tensor, *others: torch.Tensor, lengths: torch.Tensor, batch_size: int,
                 shuffle: bool = False, pool: int = 50, seed: int | None = None):
        if lengths.shape != x.shape[:1] or (lengths < 1).any() or (lengths > x.shape[1]).any():
            raise ValueError(f"lengths {tuple(lengths.shape)} must give one length in 1..{x.shape[1]} per row of x "
                             f"{tuple(x.shape)}")
        self.rows = TensorLoader(x, *others, batch_size=batch_size)  # checks the shapes and batch size
        self.x, self.others, self.lengths = x, others, lengths.to(x.device)
        self.batch_size, self.shuffle, self.pool = batch_size, shuffle, pool
        self.generator = torch.Generator().manual_seed(seed) if seed is not None else None

    def __len__(self) -> int:
        return len(self.rows)

    def __iter__(self):
        n, b = self.x.shape[0], self.batch_size
        if not self.shuffle:
            batches = [torch.arange(s, min(s + b, n), device=self.x.device) for s in range(0, n, b)]
        else:
            order = torch.randperm(n, generator=self.generator).to(self.x.device)
            batches = []
            for start in range(0, n, b * self.pool):
                chunk = order[start:start + b * self.pool]
                chunk = chunk[self.lengths[chunk].argsort(stable=True)]
                batches += list(chunk.split(b))
            batches = [batches[i] for i in torch.randperm(len(batches), generator=self.generator).tolist()]
        for idx in batches:
            longest = int(self.lengths[idx].max())
            yield (self.x[idx, :longest],) + tuple(t[idx] for t in self.others)
