"""An LSTM encoder-decoder for translation (Sutskever, Vinyals & Le 2014): the encoder reads the source, its final
state starts the decoder, which predicts the target one token at a time.

    model = Seq2Seq(vocab_size=len(tok))
    loss = model(**batch)["loss"]                       # batch from dlhist.data.parallel: teacher forcing
    state = model.encode(src, src_mask)                 # then decode with dlhist.models.decoding:
    greedy_decode(model.step, state, batch_size=B, max_len=60, bos=BOS, eos=EOS)
    beam_search(model.step, model.encode(src[:1], mask[:1]), 5, 60, bos=BOS, eos=EOS, batch_dim=1)

One vocabulary serves both languages (a joint BPE), so source and target share one embedding table, and the output
layer reuses it (tied weights, Press & Wolf 2017): the decoder's state is projected to the embedding size and
multiplied by the embedding matrix, which keeps the output softmax, the largest layer, small.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence


class Seq2Seq(nn.Module):
    def __init__(self, vocab_size: int, emb: int = 128, hidden: int = 256, layers: int = 2, dropout: float = 0.2,
                 pad: int = 0):
        super().__init__()
        self.pad = pad
        self.embed = nn.Embedding(vocab_size, emb, padding_idx=pad)
        self.encoder = nn.LSTM(emb, hidden, layers, batch_first=True, dropout=dropout if layers > 1 else 0.0)
        self.decoder = nn.LSTM(emb, hidden, layers, batch_first=True, dropout=dropout if layers > 1 else 0.0)
        self.drop = nn.Dropout(dropout)
        self.readout = nn.Linear(hidden, emb)
        self.out_bias = nn.Parameter(torch.zeros(vocab_size))

    def encode(self, src: torch.Tensor, src_mask: torch.Tensor):
        """The encoder's final (h, c), each (layers, B, hidden), read at each source's own last token."""
        if src.shape != src_mask.shape:
            raise ValueError(f"src {tuple(src.shape)} and src_mask {tuple(src_mask.shape)} differ in shape")
        lengths = src_mask.sum(1)
        if (lengths == 0).any():
            raise ValueError("an empty source sentence (no real token in src_mask) cannot be encoded")
        packed = pack_padded_sequence(self.drop(self.embed(src)), lengths.cpu(), batch_first=True,
                                      enforce_sorted=False)
        _, state = self.encoder(packed)
        return state

    def logits(self, h: torch.Tensor) -> torch.Tensor:
        return self.readout(self.drop(h)) @ self.embed.weight.T + self.out_bias

    def forward(self, src, src_mask, tgt_in, tgt_out) -> dict:
        """Teacher forcing: mean cross-entropy per target token (padding ignored), and the number of tokens."""
        h, _ = self.decoder(self.drop(self.embed(tgt_in)), self.encode(src, src_mask))
        logits = self.logits(h)
        loss = F.cross_entropy(logits.flatten(0, 1), tgt_out.flatten(), ignore_index=self.pad)
        return {"loss": loss, "tokens": (tgt_out != self.pad).sum().float()}

    def step(self, prev: torch.Tensor, state):
        """One decoding step: the previous tokens (N,) and the state -> next-token logits (N, V) and the new state
        (batch dimension 1 of h and c: ``beam_search(..., batch_dim=1)``)."""
        h, state = self.decoder(self.embed(prev)[:, None], state)
        return self.logits(h[:, 0]), state
