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
