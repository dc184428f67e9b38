import pytest
import torch

from dlhist.data.masking import mask_tokens, random_spans, span_corruption

V, MASK, SPECIAL = 50, 49, (0, 1, 2)


def corrupt(n=200_000, seed=0, **kw):
    ids = torch.randint(3, MASK, (n,), generator=torch.Generator().manual_seed(seed + 1))
    return ids, *mask_tokens(ids, mask_id=MASK, vocab_size=V, special=SPECIAL,
                             generator=torch.Generator().manual_seed(seed), **kw)


def test_mask_tokens_follows_bert_80_10_10():
    ids, inputs, targets = corrupt()
    chosen = targets != -1
    assert abs(chosen.float().mean().item() - 0.15) < 0.005
    assert torch.equal(targets[chosen], ids[chosen])  # targets are the original tokens
    assert torch.equal(inputs[~chosen], ids[~chosen])  # nothing else changes
    masked = (inputs[chosen] == MASK).float().mean().item()
    kept = (inputs[chosen] == ids[chosen]).float().mean().item()
    assert abs(masked - 0.8) < 0.01
    # a random replacement equals the original 1 time in 46, so "kept" is 10% plus a little
    assert abs(kept - (0.1 + 0.1 / 46)) < 0.01
    replaced = chosen & (inputs != MASK) & (inputs != ids)
    assert not torch.isin(inputs[replaced], torch.tensor([*SPECIAL, MASK])).any()


def test_mask_tokens_never_chooses_special_tokens_and_is_reproducible():
    ids = torch.tensor([[1, 5, 6, 7, 2, 0, 0]] * 2000)
    inputs, targets = mask_tokens(ids, mask_id=MASK, vocab_size=V, special=SPECIAL,
                                  generator=torch.Generator().manual_seed(3))
    assert (targets[ids <= 2] == -1).all() and torch.equal(inputs[ids <= 2], ids[ids <= 2])
    again = mask_tokens(ids, mask_id=MASK, vocab_size=V, special=SPECIAL, generator=torch.Generator().manual_seed(3))
    assert torch.equal(again[0], inputs) and torch.equal(again[1], targets)


@pytest.mark.parametrize("rate", [0, 1, -0.1, 1.5])
def test_mask_tokens_refuses_a_rate_outside_0_1(rate):
    with pytest.raises(ValueError, match="between 0 and 1"):
        mask_tokens(torch.ones(4, dtype=torch.long), mask_id=MASK, vocab_size=V, rate=rate)


def test_mask_tokens_refuses_ids_outside_the_vocabulary():
    with pytest.raises(ValueError, match=r"\[0, 50\)"):
        mask_tokens(torch.tensor([3, 60]), mask_id=MASK, vocab_size=V)


def test_random_spans_has_the_requested_noise_and_span_count():
    for seed in range(20):
        mask = random_spans(100, 0.15, 3.0, torch.Generator().manual_seed(seed))
        assert mask.sum() == 15 and not mask[0]
        starts = (mask[1:] & ~mask[:-1]).sum()
        assert starts == 5


def test_span_corruption_round_trips_and_shortens_the_target():
    ids = list(range(100, 200))
    sentinels = list(range(1000, 1100))
    inputs, targets = span_corruption(ids, sentinels=sentinels, generator=torch.Generator().manual_seed(0))
    # rebuild the text: each sentinel in the input is replaced by the tokens after it in the target
    spans, cur = {}, None
    for t in targets:
        if t >= 1000:
            cur = t
            spans[cur] = []
        else:
            spans[cur].append(t)
    rebuilt = [x for t in inputs for x in (spans[t] if t >= 1000 else [t])]
    assert rebuilt == ids
    assert len(targets) == 15 + 5 + 1  # the noise, one sentinel a span, and the closing sentinel
    assert len(inputs) == 85 + 5


def test_span_corruption_refuses_spans_longer_than_the_text_and_too_few_sentinels():
    with pytest.raises(ValueError, match="longer than the sequence of 2 tokens"):
        span_corruption([5, 6], sentinels=[100, 101], mean_span=3)
    with pytest.raises(ValueError, match="sentinel"):
        span_corruption(list(range(100)), sentinels=[1000, 1001])
