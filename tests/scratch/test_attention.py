import pytest
import torch

from dlhist.scratch.attention import AdditiveAttention


def test_weights_and_context_follow_the_papers_formula():
    torch.manual_seed(0)
    attn = AdditiveAttention(query_size=5, key_size=6, hidden=7).double()
    s, h = torch.randn(3, 5, dtype=torch.double), torch.randn(3, 4, 6, dtype=torch.double)
    mask = torch.tensor([[1, 1, 1, 1], [1, 1, 0, 0], [1, 0, 0, 0]], dtype=torch.bool)
    context, weights = attn(s, h, mask)
    for b in range(3):
        n = int(mask[b].sum())
        e = torch.stack([attn.v.weight[0] @ torch.tanh(attn.W.weight @ s[b] + attn.U.weight @ h[b, j] + attn.U.bias)
                         for j in range(n)])  # e_ij = v^T tanh(W s_{i-1} + U h_j)
        a = torch.softmax(e, 0)
        torch.testing.assert_close(weights[b, :n], a)
        assert (weights[b, n:] == 0).all()
        torch.testing.assert_close(context[b], a @ h[b, :n])


def test_padding_changes_nothing_and_precomputed_keys_agree():
    torch.manual_seed(0)
    attn = AdditiveAttention(4, 6, 8)
    s, h = torch.randn(1, 4), torch.randn(1, 3, 6)
    padded = torch.cat([h, torch.randn(1, 2, 6) * 100], 1)
    mask = torch.tensor([[True] * 3 + [False] * 2])
    c1, w1 = attn(s, h)
    c2, w2 = attn(s, padded, mask, attn.project_keys(padded))
    torch.testing.assert_close(c1, c2)
    torch.testing.assert_close(w1, w2[:, :3])


def test_bad_shapes_are_named():
    attn = AdditiveAttention(4, 6, 8)
    s, h = torch.randn(2, 4), torch.randn(2, 3, 6)
    with pytest.raises(ValueError, match=r"mask \(2, 4\) does not match keys \(2, 3, 6\)"):
        attn(s, h, torch.ones(2, 4, dtype=torch.bool))
    with pytest.raises(ValueError, match=r"query \(B, Q\) and keys \(B, S, K\) expected, got \(3, 4\)"):
        attn(torch.randn(3, 4), h)
    with pytest.raises(ValueError, match="no real position"):
        attn(s, h, torch.tensor([[True, False, False], [False, False, False]]))


# ---- scaled dot-product and multi-head attention (Vaswani et al. 2017) ----
import torch.nn.functional as F  # noqa: E402
from torch import nn  # noqa: E402

from dlhist.check import function_diff  # noqa: E402
from dlhist.scratch.attention import MultiHeadAttention, scaled_dot_product_attention  # noqa: E402


def _qkv(lq=5, lk=7, d=8, dv=6, dtype=torch.double):
    g = torch.Generator().manual_seed(0)
    return (torch.randn(2, 3, lq, d, generator=g, dtype=dtype), torch.randn(2, 3, lk, d, generator=g, dtype=dtype),
            torch.randn(2, 3, lk, dv, generator=g, dtype=dtype))


@pytest.mark.parametrize("kind", ["none", "padding", "full", "causal"])
def test_scaled_dot_product_attention_matches_pytorch_with_gradients(kind):
    q, k, v = _qkv(lq=7)
    mask = None
    if kind == "padding":
        mask = (torch.arange(7) < torch.tensor([7, 4])[:, None])[:, None, None, :]  # (B, 1, 1, Lk)
    elif kind == "full":
        mask = torch.rand(2, 3, 7, 7, generator=torch.Generator().manual_seed(1)) > 0.4
        mask[..., 0] = True  # every query may attend somewhere
    causal = kind == "causal"
    d = function_diff(lambda q, k, v: scaled_dot_product_attention(q, k, v, mask, causal),
                      lambda q, k, v: F.scaled_dot_product_attention(q, k, v, attn_mask=mask, is_causal=causal),
                      q, k, v)
    assert d < 1e-12


def test_causal_attention_of_the_last_queries_sees_every_earlier_key():
    q, k, v = _qkv(lq=7, lk=7)
    full = scaled_dot_product_attention(q, k, v, causal=True)
    last = scaled_dot_product_attention(q[..., -2:, :], k, v, causal=True)  # 2 new queries after 5 cached keys
    torch.testing.assert_close(last, full[..., -2:, :])


def test_scaled_dot_product_attention_names_bad_shapes():
    q, k, v = _qkv()
    with pytest.raises(ValueError, match=r"q \(2, 3, 5, 8\), k \(2, 3, 7, 8\) and v \(2, 3, 6, 6\) do not fit"):
        scaled_dot_product_attention(q, k, v[..., :6, :])
    with pytest.raises(ValueError, match=r"mask \(4, 7\) does not broadcast to the scores \(2, 3, 5, 7\)"):
        scaled_dot_product_attention(q, k, v, torch.ones(4, 7, dtype=torch.bool))


def _twin_pair(d=12, heads=3):
    torch.manual_seed(0)
    ours = MultiHeadAttention(d, heads).double()
    ref = nn.MultiheadAttention(d, heads, batch_first=True).double()
    with torch.no_grad():
        ref.in_proj_weight.copy_(torch.cat([ours.q_proj.weight, ours.k_proj.weight, ours.v_proj.weight]))
        ref.in_proj_bias.copy_(torch.cat([ours.q_proj.bias, ours.k_proj.bias, ours.v_proj.bias]))
        ref.out_proj.weight.copy_(ours.out_proj.weight)
        ref.out_proj.bias.copy_(ours.out_proj.bias)
    return ours, ref


@pytest.mark.parametrize("fused", [True, False])
@pytest.mark.parametrize("kind", ["self", "cross-padding", "causal"])
def test_multi_head_attention_matches_nn_multiheadattention(kind, fused):
    ours, ref = _twin_pair()
    ours.fused = fused
    g = torch.Generator().manual_seed(2)
    x, mem = torch.randn(2, 5, 12, generator=g, dtype=torch.double), torch.randn(2, 7, 12, generator=g,
                                                                                  dtype=torch.double)
    if kind == "self":
        d = function_diff(lambda x: ours(x), lambda x: ref(x, x, x, need_weights=False)[0], x)
    elif kind == "cross-padding":
        keep = torch.arange(7) < torch.tensor([7, 3])[:, None]  # True at real keys
        d = function_diff(lambda x, m: ours(x, m, key_padding_mask=keep),
                          lambda x, m: ref(x, m, m, key_padding_mask=~keep, need_weights=False)[0], x, mem)
    else:
        future = torch.ones(5, 5, dtype=torch.bool).triu(1)
        d = function_diff(lambda x: ours(x, causal=True),
                          lambda x: ref(x, x, x, attn_mask=future, need_weights=False)[0], x)
    assert d < 1e-12


def test_the_key_value_cache_gives_the_same_outputs_as_the_whole_sequence():
    ours, _ = _twin_pair()
    x = torch.randn(2, 6, 12, dtype=torch.double)
    whole = ours(x, causal=True)
    cache = {}
    parts = [ours(x[:, :4], causal=True, cache=cache)] + [ours(x[:, t:t + 1], causal=True, cache=cache)
                                                          for t in (4, 5)]
    torch.testing.assert_close(torch.cat(parts, 1), whole)
    assert cache["k"].shape == (2, 3, 6, 4)
    x = torch.randn(2, 40, 12, dtype=torch.double)  # past the first buffer (16) and its doubling (34)
    cache = {}
    parts = [ours(x[:, :3], causal=True, cache=cache)] + [ours(x[:, t:t + 1], causal=True, cache=cache)
                                                          for t in range(3, 40)]
    torch.testing.assert_close(torch.cat(parts, 1), ours(x, causal=True))
    assert cache["k"].shape == (2, 3, 40, 4)


def test_multi_head_attention_names_bad_shapes():
    m = MultiHeadAttention(12, 3)
    x = torch.randn(2, 5, 12)
    with pytest.raises(ValueError, match="not divisible"):
        MultiHeadAttention(10, 3)
    with pytest.raises(ValueError, match=r"x must be \(batch, length, 12\), got \(2, 5, 8\)"):
        m(torch.randn(2, 5, 8))
    with pytest.raises(ValueError, match=r"key_padding_mask \(2, 4\) must be \(batch, keys\) = \(2, 5\)"):
        m(x, key_padding_mask=torch.ones(2, 4, dtype=torch.bool))
    with pytest.raises(ValueError, match=r"attn_mask \(4, 4\) must be \(queries, keys\) = \(5, 5\)"):
        m(x, attn_mask=torch.ones(4, 4, dtype=torch.bool))


def test_rotary_scores_depend_only_on_relative_position():
    from dlhist.scratch.attention import rotary

    g = torch.Generator().manual_seed(0)
    q, k = torch.randn(1, 2, 1, 8, generator=g, dtype=torch.double), torch.randn(1, 2, 1, 8, generator=g,
                                                                                  dtype=torch.double)
    score = lambda m, n: (rotary(q, m) * rotary(k, n)).sum(-1)
    torch.testing.assert_close(score(3, 1), score(10, 8))
    assert not torch.allclose(score(3, 1), score(3, 2))
    torch.testing.assert_close(rotary(q, 0), q)  # position 0 is not rotated
    torch.testing.assert_close(rotary(q, 5).norm(dim=-1), q.norm(dim=-1))  # a rotation keeps lengths
    seq = torch.randn(1, 2, 6, 8, generator=g, dtype=torch.double)
    torch.testing.assert_close(rotary(seq, 0)[:, :, 4:], rotary(seq[:, :, 4:], 4))  # offsets, as the KV cache uses
    with pytest.raises(ValueError, match="even head dimension"):
        rotary(torch.zeros(1, 1, 2, 3))
