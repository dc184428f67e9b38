"""Evaluating translation models: test perplexity under teacher forcing, and decoded translations (greedy or beam)
for sacrebleu. Used by 06-seq2seq, 07-attention and the Transformer chapter, for any model with

    forward(src, src_mask, tgt_in, tgt_out) -> {"loss", "tokens"}      (a batch from dlhist.data.parallel)
    encode(src, src_mask) -> state;  step(prev, state) -> (logits, state);  state_batch_dim

    hyps = translate(model, test_pairs, tok)                 # greedy, batched
    sacrebleu.corpus_bleu(hyps, [references]).score
"""

from __future__ import annotations

import math

import torch
from torch import nn

from .data.parallel import PairBatches, make_batch
from .data.tokenizer import BOS, EOS, PAD
from .models.decoding import beam_search, greedy_decode


@torch.no_grad()
def perplexity(model: nn.Module, pairs, batch_size: int = 200) -> float:
    """exp of the mean cross-entropy per target token under teacher forcing (every token weighted equally), for
    a model whose forward returns ``{"loss", "tokens"}`` on a batch of encoded pairs (``"nll"`` instead of
    ``"loss"`` where the training loss is label-smoothed)."""
    model.eval()
    total = tokens = 0.0
    for batch in PairBatches(pairs, batch_size, device=next(model.parameters()).device):
        out = model(**batch)
        total += out.get("nll", out["loss"]).item() * out["tokens"].item()  # "nll": the loss without smoothing
        tokens += out["tokens"].item()
    return math.exp(total / tokens)


@torch.no_grad()
def translate(model: nn.Module, pairs, tokenizer, max_len: int = 100, batch_size: int = 200, beam: int = 0,
              length_penalty: float = 1.0) -> list[str]:
    """Decoded translations of the sources of encoded ``pairs`` (the targets are not used): greedy, in batches,
    or with ``beam`` > 0 a beam search of that width, one sentence at a time. ``model`` has ``encode(src, mask)``,
    ``step(prev, state)`` and ``state_batch_dim``."""
    model.eval()
    device = next(model.parameters()).device
    out = []
    for i in range(0, len(pairs), batch_size):
        batch = make_batch(pairs[i:i + batch_size], device)
        if beam:
            for j in range(len(batch["src"])):
                src = batch["src"][j:j + 1, :int(batch["src_mask"][j].sum())]
                ids = beam_search(model.step, model.encode(src, src != PAD), beam, max_len, bos=BOS, eos=EOS,
                                  length_penalty=length_penalty, batch_dim=model.state_batch_dim, device=device)
                out.append(tokenizer.decode(ids))
        else:
            state = model.encode(batch["src"], batch["src_mask"])
            ids = greedy_decode(model.step, state, len(batch["src"]), max_len, bos=BOS, eos=EOS, device=device)
            out += [tokenizer.decode(x) for x in ids]
    return out


__all__ = ["perplexity", "translate"]
