import itertools
import math

import pytest
import torch

from dlhist.models.decoding import beam_search, greedy_decode, reorder_state

BOS, EOS, V = 1, 2, 6


def markov(table):
    """A step function from a table of next-token log-probabilities given the previous token; the state counts
    steps (a tensor with a batch dimension, to exercise reordering)."""
    def step(prev, state):
        return table[prev], state + 1
    return step


def random_table(seed):
    g = torch.Generator().manual_seed(seed)
    return torch.log_softmax(torch.randn(V, V, generator=g) * 2, dim=-1)


def brute_force_best(table, max_len):
    best, best_seq = -math.inf, None
    for n in range(0, max_len + 1):
        for seq in itertools.product([t for t in range(V) if t != EOS], repeat=n):
            full = [BOS, *seq] + ([EOS] if n < max_len else [])  # at max_len a hypothesis stops open
            s = sum(table[a, b].item() for a, b in zip(full, full[1:]))
            if s > best:
                best, best_seq = s, list(seq)
    return best_seq


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_a_wide_beam_finds_the_most_probable_sequence(seed):
    table = random_table(seed)
    max_len = 4
    got = beam_search(markov(table), torch.zeros(1), beam_size=V ** max_len, max_len=max_len, bos=BOS, eos=EOS)
    assert got == brute_force_best(table, max_len)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_beam_of_one_is_greedy(seed):
    table = random_table(seed)
    greedy = greedy_decode(markov(table), torch.zeros(3), batch_size=3, max_len=6, bos=BOS, eos=EOS)
    assert greedy[0] == greedy[1] == greedy[2]
    assert beam_search(markov(table), torch.zeros(1), beam_size=1, max_len=6, bos=BOS, eos=EOS) == greedy[0]


def test_bad_arguments_are_errors():
    table = random_table(0)
    with pytest.raises(ValueError, match="beam_size must be at least 1"):
        beam_search(markov(table), torch.zeros(1), beam_size=0, max_len=5, bos=BOS, eos=EOS)
    with pytest.raises(ValueError, match="max_len"):
        greedy_decode(markov(table), torch.zeros(2), batch_size=2, max_len=0, bos=BOS, eos=EOS)
    with pytest.raises(ValueError, match="expected 3"):
        greedy_decode(lambda prev, s: (torch.zeros(2, V), s), None, batch_size=3, max_len=2, bos=BOS, eos=EOS)


def test_reorder_state_follows_nested_states():
    state = {"h": (torch.arange(6.0).view(1, 3, 2), torch.arange(3.0).view(1, 3)), "n": None}
    out = reorder_state(state, torch.tensor([2, 2]), batch_dim=1)
    assert out["h"][0].shape == (1, 2, 2) and out["n"] is None
