"""Corrupting text for self-supervised pre-training: BERT's masked tokens and T5's corrupted spans.

``mask_tokens`` (Devlin et al. 2018, Section 3.1 and Appendix A.1): choose each ordinary token with probability
``rate`` (15%) as a prediction target; of those, replace 80% by the mask token, 10% by a random token and leave 10%
unchanged, so that the model cannot tell from the input which tokens it will be asked about, and must keep a useful
representation of every token. The targets are the original ids at the chosen positions and -1 (ignored) elsewhere.
Calling it afresh for every batch is RoBERTa's *dynamic* masking (Liu et al. 2019, Section 4.1); BERT masked each
sequence once, before training (*static*, duplicated 10 times with different masks).

``span_corruption`` (Raffel et al. 2019, Section 3.1.4 and 3.3.4): drop ``rate`` (15%) of the tokens in spans of
mean length ``mean_span`` (3), replace each dropped span in the input by one sentinel token, and make the target the
sentinels each followed by the span it stands for, closed by one more sentinel::

    input:  Thank you <X> me to your party <Y> week .
    target: <X> for inviting <Y> last <Z>

The target is short (about ``rate`` of the input plus one sentinel a span), which is why T5 found it cheaper to
train on than reconstructing the whole text. Span lengths are drawn as T5's ``random_spans_noise_mask`` draws them:
the number of noise tokens and of spans are fixed by ``rate`` and ``mean_span``, and both the noise and the kept
tokens are cut into that many pieces at random.

    inputs, targets = mask_tokens(ids, mask_id=V, vocab_size=V + 1, special=(PAD, BOS, EOS))
    src, tgt = span_corruption(ids_of_one_text, sentinels=range(V, V + 100))
"""

from __future__ import annotations

from collections.abc import Sequence

import torch


def _check_rate(rate: float, what: str = "rate") -> None:
    if not 0 < rate < 1:
        raise ValueError(f"the masking {what} must lie strictly between 0 and 1, got {rate}")


def mask_tokens(ids: torch.Tensor, *, mask_id: int, vocab_size: int, rate: float = 0.15,
                special: Sequence[int] = (), random_fraction: float = 0.1, keep_fraction: float = 0.1,
                generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """BERT's masked-language-model corruption of token ids (any shape). Returns ``(inputs, targets)``: inputs with
    the chosen tokens replaced (80% ``mask_id``, ``random_fraction`` a random id in [0, vocab_size) that is not
    special, ``keep_fraction`` unchanged) and targets holding the original id at every chosen position, -1 elsewhere.
    Tokens in ``special`` (padding, start and end marks) are never chosen."""
    _check_rate(rate)
    if random_fraction < 0 or keep_fraction < 0 or random_fraction + keep_fraction > 1:
        raise ValueError(f"random_fraction ({random_fraction}) and keep_fraction ({keep_fraction}) must be >= 0 and "
                         "sum to at most 1 (the rest of the chosen tokens become the mask token)")
    if ids.dtype != torch.long:
        raise ValueError(f"ids must be int64 token ids, got {ids.dtype}")
    if not 0 <= mask_id < vocab_size:
        raise ValueError(f"mask_id {mask_id} must be a token of the model's vocabulary [0, {vocab_size})")
    if ids.numel() and (ids.min() < 0 or ids.max() >= vocab_size):
        raise ValueError(f"token ids must lie in [0, {vocab_size}), got {ids.min().item()}..{ids.max().item()}")
    device = ids.device

    def uniform() -> torch.Tensor:
        return torch.rand(ids.shape, generator=generator, device="cpu").to(device)

    ordinary = ~torch.isin(ids, torch.tensor(list(special), dtype=torch.long, device=device))
    chosen = (uniform() < rate) & ordinary
    how = uniform()
    to_mask = chosen & (how < 1 - random_fraction - keep_fraction)
    to_random = chosen & (how >= 1 - random_fraction - keep_fraction) & (how < 1 - keep_fraction)
    allowed = torch.ones(vocab_size, dtype=torch.bool)
    allowed[[s for s in special if 0 <= s < vocab_size]] = False
    allowed[mask_id] = False
    pool = allowed.nonzero().squeeze(1)
    random_ids = pool[torch.randint(len(pool), ids.shape, generator=generator)].to(device)
    inputs = torch.where(to_mask, torch.full_like(ids, mask_id), ids)
    inputs = torch.where(to_random, random_ids, inputs)
    targets = torch.where(chosen, ids, torch.full_like(ids, -1))
    return inputs, targets


def random_spans(length: int, rate: float = 0.15, mean_span: float = 3.0,
                 generator: torch.Generator | None = None) -> torch.Tensor:
    """A boolean noise mask over ``length`` tokens with ``round(length * rate)`` noise tokens in
    ``round(noise / mean_span)`` spans (at least one), placed at random; the text never starts with noise (T5's
    ``random_spans_noise_mask``)."""
    _check_rate(rate)
    if mean_span < 1:
        raise ValueError(f"mean_span must be at least 1 token, got {mean_span}")
    if mean_span > length:
        raise ValueError(f"mean_span={mean_span} is longer than the sequence of {length} tokens; corrupt longer "
                         "texts or use shorter spans")
    n_noise = min(max(round(length * rate), 1), length - 1)
    n_spans = max(round(n_noise / mean_span), 1)
    n_spans = min(n_spans, n_noise, length - n_noise)

    def pieces(total: int) -> list[int]:  # total items cut into n_spans non-empty pieces at random
        cuts = (torch.randperm(total - 1, generator=generator)[: n_spans - 1] + 1).sort().values.tolist()
        bounds = [0, *cuts, total]
        return [b - a for a, b in zip(bounds, bounds[1:])]

    mask = torch.zeros(length, dtype=torch.bool)
    at = 0
    for keep, noise in zip(pieces(length - n_noise), pieces(n_noise)):
        at += keep
        mask[at:at + noise] = True
        at += noise
    return mask


def span_corruption(ids: Sequence[int], *, sentinels: Sequence[int], rate: float = 0.15, mean_span: float = 3.0,
                    generator: torch.Generator | None = None) -> tuple[list[int], list[int]]:
    """T5's span corruption of one text's token ids: ``(input_ids, target_ids)`` as lists. ``sentinels`` are the ids
    of the sentinel tokens, used in order (one a span, plus one to close the target)."""
    ids = [int(i) for i in ids]
    mask = random_spans(len(ids), rate, mean_span, generator).tolist()
    n_spans = sum(1 for i, m in enumerate(mask) if m and (i == 0 or not mask[i - 1]))
    if n_spans + 1 > len(sentinels):
        raise ValueError(f"{n_spans} spans need {n_spans + 1} sentinel tokens, only {len(sentinels)} given")
    inputs, targets, s = [], [], -1
    for i, (tok, noise) in enumerate(zip(ids, mask)):
        if noise:
            if i == 0 or not mask[i - 1]:
                s += 1
                inputs.append(int(sentinels[s]))
                targets.append(int(sentinels[s]))
            targets.append(tok)
        else:
            inputs.append(tok)
    targets.append(int(sentinels[s + 1]))
    return inputs, targets


__all__ = ["mask_tokens", "random_spans", "span_corruption"]
