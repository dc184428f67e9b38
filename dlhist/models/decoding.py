"""Decoding an autoregressive model: greedy and beam search, for any decoder written as a step function.

    step(prev, state) -> (logits, state)    prev: (N,) the last token of each hypothesis; logits: (N, V)

The state is whatever the decoder carries (an LSTM's (h, c), an encoder's outputs for attention, ...); beam search
reorders it with ``reorder(state, index)``, by default ``index_select`` along ``batch_dim`` of every tensor in it
(nested tuples, lists and dicts are followed). Translation models in 06-seq2seq, 07-attention and the Transformer
chapter decode through these two functions.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F


def reorder_state(state, index: torch.Tensor, batch_dim: int = 0):
    """Select ``index`` along ``batch_dim`` of every tensor in a (nested) state."""
    if torch.is_tensor(state):
        return state.index_select(batch_dim, index.to(state.device))
    if isinstance(state, (tuple, list)):
        return type(state)(reorder_state(s, index, batch_dim) for s in state)
    if isinstance(state, dict):
        return {k: reorder_state(v, index, batch_dim) for k, v in state.items()}
    return state  # constants (None, ints) pass through


@torch.no_grad()
def greedy_decode(step: Callable, state, batch_size: int, max_len: int, *, bos: int, eos: int,
                  device=None) -> list[list[int]]:
    """The most probable next token at every step, for ``batch_size`` sequences at once, until each has produced
    ``eos`` or ``max_len`` tokens; returns the tokens of each (without BOS and EOS). ``bos``/``eos`` are the
    tokenizer's ids (``dlhist.data.tokenizer.BOS`` and ``EOS`` for ours)."""
    if max_len < 1:
        raise ValueError(f"max_len must be positive, got {max_len}")
    prev = torch.full((batch_size,), bos, dtype=torch.long, device=device)
    out = [[] for _ in range(batch_size)]
    done = torch.zeros(batch_size, dtype=torch.bool, device=device)
    for _ in range(max_len):
        logits, state = step(prev, state)
        if logits.shape[0] != batch_size:
            raise ValueError(f"step returned logits for {logits.shape[0]} sequences, expected {batch_size}")
        prev = logits.argmax(-1)
        for i in (~done).nonzero().flatten().tolist():
            if prev[i].item() != eos:
                out[i].append(prev[i].item())
        done |= prev == eos
        if done.all():
            break
    return out


@torch.no_grad()
def beam_search(step: Callable, state, beam_size: int, max_len: int, *, bos: int, eos: int,
                length_penalty: float = 0.0, reorder: Callable | None = None, batch_dim: int = 0,
                device=None) -> list[int]:
    """The best of ``beam_size`` hypotheses for one sequence, by total log-probability divided by
    ``len ** length_penalty`` (0: the plain sum, which favours short outputs; about 0.6-1 counters that). ``state``
    is for a batch of one; it is repeated for the beams. A hypothesis still open after ``max_len`` tokens competes
    as it is. Returns the tokens without BOS and EOS."""
    if beam_size < 1:
        raise ValueError(f"beam_size must be at least 1, got {beam_size}")
    if max_len < 1:
        raise ValueError(f"max_len must be positive, got {max_len}")
    reorder = reorder or (lambda s, idx: reorder_state(s, idx, batch_dim))
    state = reorder(state, torch.zeros(1, dtype=torch.long))
    beams = [[]]  # tokens of each live hypothesis
    scores = torch.zeros(1, device=device)
    prev = torch.full((1,), bos, dtype=torch.long, device=device)
    finished: list[tuple[float, list[int]]] = []

    def final(score: float, n: int) -> float:
        return score / max(n, 1) ** length_penalty

    for t in range(max_len):
        logits, state = step(prev, state)
        logp = F.log_softmax(logits.float(), dim=-1)  # (live, V)
        total = (scores[:, None] + logp).flatten()
        k = min(beam_size, total.numel())
        top, flat = total.topk(k)
        vocab = logp.shape[1]
        origin, token = flat // vocab, flat % vocab
        keep, new_beams = [], []
        for s, o, tok in zip(top.tolist(), origin.tolist(), token.tolist()):
            if tok == eos:
                finished.append((final(s, len(beams[o]) + 1), beams[o]))
            else:
                keep.append((s, o, tok))
                new_beams.append(beams[o] + [tok])
        best_done = max((f for f, _ in finished), default=float("-inf"))
        if not keep or (finished and all(final(s, t + 2) <= best_done for s, _, _ in keep)
                        and length_penalty == 0):
            break  # with no length penalty, a live hypothesis can only lose score: the best finished one wins
        beams = new_beams
        scores = torch.tensor([s for s, _, _ in keep], device=device)
        index = torch.tensor([o for _, o, _ in keep], dtype=torch.long)
        state = reorder(state, index)
        prev = torch.tensor([tok for _, _, tok in keep], dtype=torch.long, device=device)
    else:
        finished += [(final(s.item(), len(b)), b) for s, b in zip(scores, beams)]
    return max(finished, key=lambda f: f[0])[1]
