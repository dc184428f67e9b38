import math

import pytest
import torch

from dlhist.data.tokenizer import BPETokenizer
from dlhist.models.seq2seq import RNNSearch, Seq2Seq
from dlhist.translation import perplexity, translate

TEXT = ["a man in a blue shirt", "un homme en chemise bleue", "two dogs play", "deux chiens jouent"]


@pytest.fixture(scope="module")
def tok():
    return BPETokenizer.train(TEXT, 280)


def pairs(tok):
    return [(tok.encode(TEXT[i]), tok.encode(TEXT[i + 1], bos=True, eos=True)) for i in (0, 2)]


def test_a_uniform_model_has_the_vocabulary_size_as_perplexity(tok):
    m = RNNSearch(len(tok), emb=8, hidden=8, align=8)
    with torch.no_grad():
        m.maxout.weight.zero_()
        m.maxout.bias.zero_()  # logits all zero: every token equally likely
    assert perplexity(m, pairs(tok)) == pytest.approx(len(tok), rel=1e-5)


@pytest.mark.parametrize("model", [Seq2Seq, RNNSearch])
def test_beam_of_one_is_greedy(tok, model):
    torch.manual_seed(0)
    m = model(len(tok), 8, 16)
    greedy = translate(m, pairs(tok), tok, max_len=12)
    assert greedy == translate(m, pairs(tok), tok, max_len=12, beam=1)
    assert len(greedy) == 2 and all(isinstance(t, str) for t in greedy)
    assert math.isfinite(perplexity(m, pairs(tok)))
