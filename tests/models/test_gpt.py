import math

import pytest
import torch

from dlhist.models.gpt import GPT, GPTClassifier


def tiny(**kw):
    torch.manual_seed(0)
    return GPT(vocab_size=11, context=16, d_model=16, n_heads=2, layers=2, **kw)


def test_initial_loss_is_near_uniform_and_outputs_are_causal():
    m = tiny()
    x = torch.randint(0, 11, (4, 16))
    assert m(x, targets=torch.randint(0, 11, (4, 16)))["loss"].item() == pytest.approx(math.log(11), abs=0.1)
    y = x.clone()
    y[:, 10:] = (y[:, 10:] + 1) % 11
    torch.testing.assert_close(m(x)[:, :10], m(y)[:, :10])  # the future does not leak into the past
    assert not any("head" in n for n, _ in m.named_parameters())  # tied: the output layer is the embedding
    scaled = [p.std().item() for n, p in m.named_parameters() if n.endswith(("out_proj.weight", "mlp.3.weight"))]
    assert len(scaled) == 4 and max(scaled) < 0.013  # residual projections drawn at 0.02 / sqrt(2 * layers)


@pytest.mark.parametrize("temperature,positions", [(0.0, "learned"), (0.9, "learned"), (0.9, "rotary")])
def test_the_kv_cache_generates_the_same_tokens(temperature, positions):
    m = tiny(positions=positions)
    prompt = torch.randint(0, 11, (3, 5))
    a = m.generate(prompt, 9, temperature=temperature, top_k=5, generator=torch.Generator().manual_seed(1))
    b = m.generate(prompt, 9, temperature=temperature, top_k=5, generator=torch.Generator().manual_seed(1),
                   use_cache=False)
    assert a.shape == (3, 14) and torch.equal(a, b)
    long = m.generate(prompt, 20, temperature=0.0, use_cache=False)  # past the context: a sliding window
    assert long.shape == (3, 25)


def test_generate_never_emits_suppressed_tokens():
    m = tiny()
    prompt = torch.randint(0, 11, (4, 3))
    free = m.generate(prompt, 8, temperature=0.0)
    top = int(free[:, 3:].flatten().mode().values)  # the greedy choice the model makes most often
    out = m.generate(prompt, 8, temperature=0.0, suppress=(top,))
    assert not (out[:, 3:] == top).any() and torch.equal(out[:, :3], prompt)
    hot = m.generate(prompt, 30, temperature=5.0, suppress=(0, 1, 2), generator=torch.Generator().manual_seed(0),
                     use_cache=False)
    assert not torch.isin(hot[:, 3:], torch.tensor([0, 1, 2])).any()


def test_learns_a_repeating_pattern():
    m = tiny()
    opt = torch.optim.Adam(m.parameters(), lr=3e-3)
    seq = torch.tensor([1, 2, 3, 4, 5] * 4)[None].repeat(8, 1)
    for _ in range(150):
        loss = m(seq[:, :16], targets=seq[:, 1:17])["loss"]
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert m.generate(torch.tensor([[3, 4]]), 6, temperature=0.0).tolist() == [[3, 4, 5, 1, 2, 3, 4, 5]]


def test_bad_input_is_named():
    m = tiny()
    with pytest.raises(ValueError, match="17 positions .* exceed the model's context of 16"):
        m(torch.zeros(1, 17, dtype=torch.long))
    with pytest.raises(ValueError, match=r"token ids must lie in \[0, 11\), got 0..11"):
        m(torch.tensor([[0, 11]]))
    with pytest.raises(ValueError, match=r"targets \(1, 3\) must have the shape of idx \(1, 4\)"):
        m(torch.zeros(1, 4, dtype=torch.long), targets=torch.zeros(1, 3, dtype=torch.long))
    with pytest.raises(ValueError, match="use_cache=False"):
        m.generate(torch.zeros(1, 10, dtype=torch.long), 10)


def test_classifier_reads_the_state_at_each_last_real_token():
    m = tiny()
    clf = GPTClassifier(m, n_classes=3, pad_id=0)
    x = torch.randint(1, 11, (3, 10))
    x[0, 6:] = 0
    x[1, 9:] = 0  # row 2 fills the window
    lengths = torch.tensor([6, 9, 10])
    h = m.hidden(x)
    torch.testing.assert_close(m(x), h @ m.tok.weight.T)
    expected = torch.stack([h[0, 5], h[1, 8], h[2, 9]])
    torch.testing.assert_close(clf.features(x), expected)
    torch.testing.assert_close(clf(x), clf.head(expected))
    torch.testing.assert_close(clf(x[:2, :9]), clf(x[:2]))  # padding never changes the answer
    torch.testing.assert_close(clf(x, lengths), clf(x))
    with pytest.raises(ValueError, match=r"one length in 1..10 per row of idx \(3, 10\)"):
        clf(x, torch.tensor([0, 3, 4]))


def test_mean_pooling_averages_the_real_tokens_states():
    m = tiny()
    clf = GPTClassifier(m, n_classes=2, pool="mean")
    x = torch.randint(1, 11, (2, 8))
    x[0, 3:] = 0
    h = m.hidden(x)
    torch.testing.assert_close(clf.features(x), torch.stack([h[0, :3].mean(0), h[1].mean(0)]))
    with pytest.raises(ValueError, match="pool must be"):
        GPTClassifier(m, 2, pool="max")
