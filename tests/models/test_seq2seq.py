import pytest
import torch

from dlhist.models.decoding import beam_search, greedy_decode
from dlhist.models.seq2seq import RNNSearch, Seq2Seq

BOS, EOS, V = 1, 2, 12


def test_padding_changes_nothing_and_steps_equal_teacher_forcing():
    torch.manual_seed(0)
    m = Seq2Seq(V, emb=8, hidden=16, layers=2, dropout=0.0).eval()
    src = torch.tensor([[5, 6, 7, 0, 0], [8, 9, 10, 11, 4]])
    mask = src != 0
    h, c = m.encode(src, mask)
    h1, c1 = m.encode(src[:1, :3], mask[:1, :3])
    torch.testing.assert_close(h[:, :1], h1)  # the padded source ends where it should
    tgt = torch.tensor([[BOS, 5, 6, EOS, 0], [BOS, 7, 8, 9, EOS]])
    out = m(src, mask, tgt[:, :-1], tgt[:, 1:])
    assert out["tokens"] == 7
    # teacher-forced logits equal the logits of step-by-step decoding
    hs, _ = m.decoder(m.embed(tgt[:, :-1]), (h, c))
    forced = m.logits(hs)
    state = (h, c)
    for t in range(4):
        logits, state = m.step(tgt[:, t], state)
        torch.testing.assert_close(logits, forced[:, t])


def test_learns_to_copy_a_short_sequence():
    torch.manual_seed(0)
    m = Seq2Seq(V, emb=16, hidden=32, layers=1, dropout=0.0)
    opt = torch.optim.Adam(m.parameters(), lr=0.02)
    g = torch.Generator().manual_seed(0)
    for _ in range(300):
        src = torch.randint(3, V, (32, 4), generator=g)
        tgt = torch.cat([torch.full((32, 1), BOS), src, torch.full((32, 1), EOS)], 1)
        loss = m(src, src != 0, tgt[:, :-1], tgt[:, 1:])["loss"]
        opt.zero_grad()
        loss.backward()
        opt.step()
    m.eval()
    src = torch.tensor([[3, 7, 5, 9], [11, 4, 4, 6]])
    with torch.no_grad():
        greedy = greedy_decode(m.step, m.encode(src, src != 0), batch_size=2, max_len=8, bos=BOS, eos=EOS)
        beam = beam_search(m.step, m.encode(src[:1], src[:1] != 0), 3, 8, bos=BOS, eos=EOS, batch_dim=1)
    assert greedy == src.tolist() and beam == src[0].tolist()


@pytest.mark.parametrize("attention", [True, False])
def test_rnnsearch_padding_changes_nothing_and_steps_equal_teacher_forcing(attention):
    torch.manual_seed(0)
    m = RNNSearch(V, emb=8, hidden=16, align=12, attention=attention, dropout=0.0).eval()
    src = torch.tensor([[5, 6, 7, 0, 0], [8, 9, 10, 11, 4]])
    mask = src != 0
    tgt = torch.tensor([[BOS, 5, 6, EOS, 0], [BOS, 7, 8, 9, EOS]])
    full = m.encode(src, mask)
    alone = m.encode(src[:1, :3], mask[:1, :3])
    torch.testing.assert_close(full["s"][:1], alone["s"])
    forced, weights = m.decode(full, tgt[:, :-1])
    forced1, _ = m.decode(alone, tgt[:1, :-1])
    torch.testing.assert_close(forced[:1], forced1)  # padding in the source changes no logit
    if attention:
        assert weights.shape == (2, 4, 5)
        torch.testing.assert_close(weights.sum(-1), torch.ones(2, 4))
        assert (weights[0, :, 3:] == 0).all()
    else:
        assert weights is None
    state = full
    for t in range(4):
        logits, state = m.step(tgt[:, t], state)
        torch.testing.assert_close(logits, forced[:, t])
    out = m(src, mask, tgt[:, :-1], tgt[:, 1:])
    assert out["tokens"] == 7 and out["loss"].requires_grad


def test_rnnsearch_learns_to_reverse_and_attends_to_the_mirrored_position():
    torch.manual_seed(0)
    m = RNNSearch(V, emb=16, hidden=32, align=32, dropout=0.0)
    opt = torch.optim.Adam(m.parameters(), lr=0.01)
    g = torch.Generator().manual_seed(0)
    for _ in range(300):
        src = torch.randint(3, V, (32, 5), generator=g)
        tgt = torch.cat([torch.full((32, 1), BOS), src.flip(1), torch.full((32, 1), EOS)], 1)
        loss = m(src, src != 0, tgt[:, :-1], tgt[:, 1:])["loss"]
        opt.zero_grad()
        loss.backward()
        opt.step()
    m.eval()
    src = torch.tensor([[3, 7, 5, 9, 11], [11, 4, 4, 6, 8]])
    with torch.no_grad():
        greedy = greedy_decode(m.step, m.encode(src, src != 0), batch_size=2, max_len=8, bos=BOS, eos=EOS)
        beam = beam_search(m.step, m.encode(src[:1], src[:1] != 0), 3, 8, bos=BOS, eos=EOS)
        tgt = torch.cat([torch.full((2, 1), BOS), src.flip(1)], 1)
        _, weights = m.decode(m.encode(src, src != 0), tgt)
    assert greedy == src.flip(1).tolist() and beam == src[0].flip(0).tolist()
    # output word i (i = 0..4) is source word 4 - i: the attention's largest weight falls there, for most words
    # (the bidirectional annotations also carry their neighbours, so one may be off by one)
    hits = (weights[:, :5].argmax(-1) == torch.tensor([4, 3, 2, 1, 0])).sum().item()
    assert hits >= 8, weights[:, :5].argmax(-1)
