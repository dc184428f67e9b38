import pytest
import torch

from dlhist.data.masking import mask_tokens
from dlhist.models.bert import BERT
from dlhist.models.gpt import GPT, GPTClassifier


def tiny(**kw):
    torch.manual_seed(0)
    return BERT(30, context=12, d_model=16, n_heads=2, layers=1, **kw)


def test_bert_sees_both_sides_and_gpt_only_the_past():
    x = torch.randint(4, 30, (1, 10))
    later = x.clone()
    later[0, 7] = (x[0, 7] + 1 - 4) % 26 + 4  # change a token after position 3
    bert = tiny()
    assert not torch.allclose(bert(x)[0, 3], bert(later)[0, 3])
    torch.manual_seed(0)
    gpt = GPT(30, context=12, d_model=16, n_heads=2, layers=1)
    assert torch.allclose(gpt(x)[0, 3], gpt(later)[0, 3])


def test_mlm_loss_is_cross_entropy_over_the_masked_positions_only():
    bert = tiny()
    x = torch.randint(4, 29, (4, 12))
    inputs, targets = mask_tokens(x, mask_id=29, vocab_size=30, rate=0.3, generator=torch.Generator().manual_seed(0))
    out = bert(inputs, targets)
    logits = bert(inputs)
    chosen = targets != -1
    expected = torch.nn.functional.cross_entropy(logits[chosen], targets[chosen])
    assert torch.allclose(out["loss"], expected, atol=1e-6)
    assert out["accuracy"] == (logits[chosen].argmax(-1) == targets[chosen]).float().mean()


def test_mlm_refuses_a_batch_without_masked_tokens_and_bert_cannot_generate():
    bert = tiny()
    x = torch.randint(4, 29, (2, 5))
    with pytest.raises(ValueError, match="no position is masked"):
        bert(x, torch.full_like(x, -1))
    with pytest.raises(ValueError, match="cannot generate"):
        bert.generate(x, 3)


@pytest.mark.parametrize("pool", ["first", "mean"])
def test_classifier_on_bert_ignores_padding(pool):
    clf = GPTClassifier(tiny(), 2, pad_id=0, pool=pool).eval()
    batch = torch.tensor([[1, 7, 8, 9, 0, 0], [1, 5, 6, 7, 8, 9]])  # the first row is padded to the second's length
    alone = batch[:1, :4]
    assert torch.allclose(clf(batch)[0], clf(alone)[0], atol=1e-5)


def test_a_bidirectional_block_equals_pytorchs_pre_norm_encoder_layer():
    from dlhist.check import max_diff
    from dlhist.models.bert import torch_twin

    torch.manual_seed(0)
    block = tiny().blocks[0].double().eval()
    for p in block.parameters():  # away from the initialisation's zero biases and unit norms
        p.data += 0.1 * torch.randn_like(p)
    x = torch.randn(2, 7, 16, dtype=torch.double)
    real = torch.arange(7) < torch.tensor([7, 4])[:, None]
    ours = block(x, real=real)
    theirs = torch_twin(block)(x, src_key_padding_mask=~real)
    assert max_diff(ours[real], theirs[real]) < 1e-12
    with pytest.raises(ValueError, match="non-causal"):
        torch_twin(GPT(30, context=12, d_model=16, n_heads=2, layers=1).blocks[0])
