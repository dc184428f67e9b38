import pytest
import torch
from torch import nn

from dlhist.models.gpt import GPT, GPTClassifier
from dlhist.scratch.lora import LoRALinear, add_lora, merge_lora


def test_lora_is_the_base_plus_a_scaled_low_rank_product():
    torch.manual_seed(0)
    base = nn.Linear(12, 8)
    lora = LoRALinear(base, r=3, alpha=6)
    x = torch.randn(5, 12)
    torch.testing.assert_close(lora(x), base(x))  # B = 0: the adapted layer starts as the pre-trained one
    with torch.no_grad():
        lora.B.normal_()
    expected = x @ (base.weight + 2.0 * lora.B @ lora.A).T + base.bias  # alpha / r = 2
    torch.testing.assert_close(lora(x), expected)
    assert torch.linalg.matrix_rank(lora.delta()).item() == 3
    assert [n for n, p in lora.named_parameters() if p.requires_grad] == ["A", "B"]
    lora(x).sum().backward()
    assert base.weight.grad is None and lora.A.grad is not None and lora.B.grad is not None


def test_merged_weights_give_the_same_outputs():
    torch.manual_seed(0)
    lora = LoRALinear(nn.Linear(16, 16), r=4, alpha=8)
    with torch.no_grad():
        lora.B.normal_()
    merged = lora.merged()
    x = torch.randn(7, 3, 16)
    assert isinstance(merged, nn.Linear)
    torch.testing.assert_close(merged(x), lora(x), atol=1e-5, rtol=1e-5)
    no_bias = LoRALinear(nn.Linear(16, 4, bias=False), r=2)
    torch.testing.assert_close(no_bias.merged()(x), no_bias(x))


@pytest.mark.parametrize("r", [0, 9, 2.0])
def test_a_rank_outside_the_layer_is_refused_with_its_shape(r):
    with pytest.raises(ValueError, match=r"min\(8, 12\) = 8 for a weight of shape \(12, 8\)"):
        LoRALinear(nn.Linear(8, 12), r=r)
    with pytest.raises(TypeError, match="nn.Linear"):
        LoRALinear(nn.Conv1d(2, 2, 1), r=1)


def test_add_lora_adapts_the_named_projections_of_a_gpt_and_merges_back():
    torch.manual_seed(0)
    clf = GPTClassifier(GPT(vocab_size=20, context=12, d_model=16, n_heads=2, layers=3), 2)
    x = torch.randint(1, 20, (4, 12))
    before = clf(x)
    assert add_lora(clf.gpt, r=2, alpha=4) == 6  # q_proj and v_proj in each of 3 layers
    for p in clf.head.parameters():
        p.requires_grad_(True)
    trainable = {n for n, p in clf.named_parameters() if p.requires_grad}
    assert trainable == {f"gpt.blocks.{i}.attn.{m}_proj.{w}" for i in range(3) for m in "qv" for w in "AB"} | \
        {"head.weight", "head.bias"}
    torch.testing.assert_close(clf(x), before)  # B = 0
    opt = torch.optim.SGD([p for p in clf.parameters() if p.requires_grad], lr=0.5)
    for _ in range(3):
        opt.zero_grad()
        clf(x).logsumexp(-1).sum().backward()
        opt.step()
    adapted = clf(x)
    assert not torch.allclose(adapted, before)
    assert merge_lora(clf.gpt) == 6 and not any(isinstance(m, LoRALinear) for m in clf.modules())
    torch.testing.assert_close(clf(x), adapted, atol=1e-5, rtol=1e-5)
    with pytest.raises(ValueError, match=r"no nn.Linear named \['c_attn'\]"):
        add_lora(clf.gpt, r=2, targets=("c_attn",))
