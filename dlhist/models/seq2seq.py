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

``RNNSearch`` is Bahdanau, Cho & Bengio (2014)'s encoder-decoder with attention: a bidirectional GRU encoder keeps
one annotation per source token, and the decoder, a GRU, reads a new weighted mean of them (the context) at every
output word. With ``attention=False`` it is their baseline RNNencdec (Cho et al. 2014) with the same sizes: one
fixed context, a summary of the encoder's two final states, given to the decoder at every step.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from ..scratch.attention import AdditiveAttention


class Seq2Seq(nn.Module):
    state_batch_dim = 1  # the batch dimension of the decoder's state (h, c), for beam search

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
        lengths = _check_source(src, src_mask)
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


def _check_source(src: torch.Tensor, src_mask: torch.Tensor) -> torch.Tensor:
    if src.shape != src_mask.shape:
        raise ValueError(f"src {tuple(src.shape)} and src_mask {tuple(src_mask.shape)} differ in shape")
    lengths = src_mask.sum(1)
    if (lengths == 0).any():
        raise ValueError("an empty source sentence (no real token in src_mask) cannot be encoded")
    return lengths


class RNNSearch(nn.Module):
    """RNNsearch (``attention=True``) or RNNencdec (``attention=False``), Bahdanau et al. 2014, Appendix A.

    Encoder: a bidirectional GRU of ``hidden`` cells each way; annotation h_j = [forward h_j; backward h_j].
    Decoder: a GRU of ``hidden`` cells started from s_0 = tanh(W_s backward h_1), whose input at step i is the
    previous word's embedding and the context c_i: the attention-weighted mean of the annotations, computed from
    s_{i-1} (RNNsearch), or the fixed c = tanh(V [forward h_N; backward h_1]) (RNNencdec). Output: a maxout layer
    over (s_i, c_i, y_{i-1}) (the paper's deep output, Appendix A.2.2), tied to the embeddings.
    """

    state_batch_dim = 0

    def __init__(self, vocab_size: int, emb: int = 128, hidden: int = 128, align: int = 128,
                 attention: bool = True, dropout: float = 0.2, pad: int = 0):
        super().__init__()
        self.pad, self.hidden = pad, hidden
        self.embed = nn.Embedding(vocab_size, emb, padding_idx=pad)
        self.encoder = nn.GRU(emb, hidden, batch_first=True, bidirectional=True)
        self.init = nn.Linear(hidden, hidden)
        self.attention = AdditiveAttention(hidden, 2 * hidden, align) if attention else None
        self.summary = None if attention else nn.Linear(2 * hidden, 2 * hidden)
        self.cell = nn.GRUCell(emb + 2 * hidden, hidden)
        self.drop = nn.Dropout(dropout)
        self.maxout = nn.Linear(hidden + 2 * hidden + emb, 2 * emb)
        self.out_bias = nn.Parameter(torch.zeros(vocab_size))

    def encode(self, src: torch.Tensor, src_mask: torch.Tensor) -> dict:
        """The decoder's starting state: s (B, H), the annotations (B, S, 2H), their projection for attention
        (RNNsearch) or the fixed context (RNNencdec), and the mask. Every tensor has the batch first."""
        lengths = _check_source(src, src_mask)
        packed = pack_padded_sequence(self.drop(self.embed(src)), lengths.cpu(), batch_first=True,
                                      enforce_sorted=False)
        out, h_n = self.encoder(packed)  # h_n: (2, B, H), the forward final state and the backward state at 1
        annotations, _ = pad_packed_sequence(out, batch_first=True, total_length=src.shape[1])
        state = {"s": torch.tanh(self.init(h_n[1])), "annotations": annotations, "mask": src_mask}
        if self.attention is not None:
            state["keys"] = self.attention.project_keys(annotations)
        else:
            state["context"] = torch.tanh(self.summary(torch.cat([h_n[0], h_n[1]], -1)))
        return state

    def _advance(self, y_prev_emb: torch.Tensor, state: dict):
        """One decoder step: context c_i from s_{i-1}, then s_i = GRU(s_{i-1}, [E y_{i-1}; c_i])."""
        if self.attention is not None:
            context, weights = self.attention(state["s"], state["annotations"], state["mask"], state["keys"])
        else:
            context, weights = state["context"], None
        s = self.cell(torch.cat([y_prev_emb, context], -1), state["s"])
        return s, context, weights

    def logits(self, s: torch.Tensor, context: torch.Tensor, y_prev_emb: torch.Tensor) -> torch.Tensor:
        t = self.maxout(self.drop(torch.cat([s, context, y_prev_emb], -1)))
        t = t.unflatten(-1, (-1, 2)).amax(-1)  # maxout: the larger of each pair of units
        return t @ self.embed.weight.T + self.out_bias

    def decode(self, state: dict, tgt_in: torch.Tensor):
        """Teacher forcing over ``tgt_in`` (B, T): logits (B, T, V) and the attention weights (B, T, S) (None for
        RNNencdec)."""
        emb = self.drop(self.embed(tgt_in))
        states, contexts, weights = [], [], []
        for t in range(tgt_in.shape[1]):
            s, context, w = self._advance(emb[:, t], state)
            state = {**state, "s": s}
            states.append(s)
            contexts.append(context)
            weights.append(w)
        logits = self.logits(torch.stack(states, 1), torch.stack(contexts, 1), emb)
        return logits, (torch.stack(weights, 1) if self.attention is not None else None)

    def forward(self, src, src_mask, tgt_in, tgt_out) -> dict:
        """Teacher forcing: mean cross-entropy per target token (padding ignored), and the number of tokens."""
        logits, _ = self.decode(self.encode(src, src_mask), tgt_in)
        loss = F.cross_entropy(logits.flatten(0, 1), tgt_out.flatten(), ignore_index=self.pad)
        return {"loss": loss, "tokens": (tgt_out != self.pad).sum().float()}

    def step(self, prev: torch.Tensor, state: dict):
        """One decoding step: the previous tokens (N,) and the state -> next-token logits (N, V) and the new
        state (batch first: ``beam_search(..., batch_dim=0)``)."""
        emb = self.embed(prev)
        s, context, _ = self._advance(emb, state)
        return self.logits(s, context, emb), {**state, "s": s}

