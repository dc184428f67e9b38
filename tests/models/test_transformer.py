import math

import pytest
import torch
from torch import nn

from dlhist.check import max_diff
from dlhist.models.decoding import greedy_decode
from dlhist.models.transformer import DecoderLayer, EncoderLayer, Positions, Transformer, sinusoidal_positions

BOS, EOS, V = 1, 2, 12


def test_sinusoidal_positions_follow_section_3_5():
    pe = sinusoidal_positions(50, 16)
    pos, i = 7, 3
    assert pe[pos, 2 * i].item() == pytest.approx(math.sin(pos / 10000 ** (2 * i / 16)), abs=1e-6)
    assert pe[pos, 2 * i + 1].item() == pytest.approx(math.cos(pos / 10000 ** (2 * i / 16)), abs=1e-6)
    with pytest.raises(ValueError, match="even d_model"):
        sinusoidal_positions(5, 7)


def _copy_attention(ours, ref):
    ref.in_proj_weight.copy_(torch.cat([ours.q_proj.weight, ours.k_proj.weight, ours.v_proj.weight]))
    ref.in_proj_bias.copy_(torch.cat([ours.q_proj.bias, ours.k_proj.bias, ours.v_proj.bias]))
    ref.out_proj.weight.copy_(ours.out_proj.weight)
    ref.out_proj.bias.copy_(ours.out_proj.bias)


def _copy_common(ours, ref, norms):
    ref.linear1.load_state_dict(ours.ff[0].state_dict())
    ref.linear2.load_state_dict(ours.ff[3].state_dict())
    for mine, theirs in norms:
        theirs.load_state_dict(mine.norm.state_dict())


@pytest.mark.parametrize("norm_first", [False, True])
def test_layers_match_pytorchs_transformer_layers(norm_first):
    torch.manual_seed(0)
    enc = EncoderLayer(16, 4, 32, dropout=0.0, norm_first=norm_first).double().eval()
    ref = nn.TransformerEncoderLayer(16, 4, 32, dropout=0.0, batch_first=True, norm_first=norm_first).double().eval()
    dec = DecoderLayer(16, 4, 32, dropout=0.0, norm_first=norm_first).double().eval()
    dref = nn.TransformerDecoderLayer(16, 4, 32, dropout=0.0, batch_first=True, norm_first=norm_first).double().eval()
    with torch.no_grad():
        _copy_attention(enc.attn, ref.self_attn)
        _copy_common(enc, ref, [(enc.res1, ref.norm1), (enc.res2, ref.norm2)])
        _copy_attention(dec.self_attn, dref.self_attn)
        _copy_attention(dec.cross_attn, dref.multihead_attn)
        _copy_common(dec, dref, [(dec.res1, dref.norm1), (dec.res2, dref.norm2), (dec.res3, dref.norm3)])
    x, y = torch.randn(2, 6, 16, dtype=torch.double), torch.randn(2, 5, 16, dtype=torch.double)
    keep = torch.arange(6) < torch.tensor([6, 4])[:, None]
    mem = enc(x, keep)
    assert max_diff(mem, ref(x, src_key_padding_mask=~keep)) < 1e-12
    future = nn.Transformer.generate_square_subsequent_mask(5, dtype=torch.double)
    theirs = dref(y, mem, tgt_mask=future, memory_key_padding_mask=~keep, tgt_is_causal=True)
    assert max_diff(dec(y, mem, keep), theirs) < 1e-12


@pytest.mark.parametrize("positions", ["sinusoidal", "learned", "none"])
def test_padding_causality_and_steps(positions):
    torch.manual_seed(0)
    m = Transformer(V, d_model=16, n_heads=2, layers=2, d_ff=32, dropout=0.0, positions=positions,
                    max_len=16).eval()
    src = torch.tensor([[5, 6, 7, 0, 0], [8, 9, 10, 11, 4]])
    tgt = torch.tensor([[BOS, 5, 6, 7], [BOS, 9, 9, 3]])
    full = m.decode(m.encode(src, src != 0), tgt)
    alone = m.decode(m.encode(src[:1, :3], src[:1, :3] != 0), tgt[:1])
    torch.testing.assert_close(full[:1], alone)  # source padding changes nothing
    changed = tgt.clone()
    changed[:, 3] = 4
    torch.testing.assert_close(m.decode(m.encode(src, src != 0), changed)[:, :3], full[:, :3])  # causal
    state = m.encode(src, src != 0)
    for t in range(4):
        logits, state = m.step(tgt[:, t], state)
        torch.testing.assert_close(logits, full[:, t])
    out = m(src, src != 0, tgt, torch.tensor([[5, 6, 7, EOS], [9, 9, 3, EOS]]))
    assert out["tokens"] == 8 and out["nll"] < out["loss"] + 1  # label smoothing: loss differs from nll


def test_without_positions_the_encoder_cannot_tell_the_order():
    torch.manual_seed(0)
    m = Transformer(V, d_model=16, n_heads=2, layers=1, d_ff=32, dropout=0.0, positions="none").eval()
    src = torch.tensor([[5, 6, 7, 8]])
    a, b = m.encode(src, src != 0)["memory"], m.encode(src.flip(1), src != 0)["memory"]
    torch.testing.assert_close(a, b.flip(1))  # permuting the input permutes the output: a bag of tokens


def test_learns_to_reverse_with_positions():
    torch.manual_seed(0)
    m = Transformer(V, d_model=32, n_heads=2, layers=1, d_ff=64, dropout=0.0, max_len=16, label_smoothing=0.0)
    opt = torch.optim.Adam(m.parameters(), lr=3e-3)
    g = torch.Generator().manual_seed(0)
    for _ in range(250):
        src = torch.randint(3, V, (32, 5), generator=g)
        tgt = torch.cat([torch.full((32, 1), BOS), src.flip(1), torch.full((32, 1), EOS)], 1)
        loss = m(src, src != 0, tgt[:, :-1], tgt[:, 1:])["loss"]
        opt.zero_grad()
        loss.backward()
        opt.step()
    m.eval()
    src = torch.tensor([[3, 7, 5, 9, 11], [11, 4, 4, 6, 8]])
    with torch.no_grad():
        out = greedy_decode(m.step, m.encode(src, src != 0), batch_size=2, max_len=8, bos=BOS, eos=EOS)
    assert out == src.flip(1).tolist()


def test_bad_input_is_named():
    m = Transformer(V, d_model=16, n_heads=2, layers=1, d_ff=32, max_len=8)
    src = torch.tensor([[5, 6, 7]])
    with pytest.raises(ValueError, match=r"token ids must lie in \[0, 12\), got 5..12"):
        m.encode(torch.tensor([[5, 12]]), torch.tensor([[True, True]]))
    with pytest.raises(ValueError, match="10 positions is longer than the model's max_len 8"):
        m.encode(torch.full((1, 10), 5), torch.ones(1, 10, dtype=torch.bool))
    with pytest.raises(ValueError, match=r"src \(1, 3\) and src_mask \(1, 2\) differ"):
        m.encode(src, torch.ones(1, 2, dtype=torch.bool))
    with pytest.raises(ValueError, match="positions must be one of"):
        Positions("rotary", 8, 16)
