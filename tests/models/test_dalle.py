import pytest
import torch
import torch.nn.functional as F

from dlhist.models.dalle import dalle_loss, generate, joint_sequences, rerank
from dlhist.models.gpt import GPT


def test_joint_sequences_put_the_codes_after_the_words_in_one_vocabulary():
    text = torch.tensor([[1, 5, 2, 0], [1, 6, 7, 2]])
    codes = torch.tensor([[[0, 3], [1, 2]], [[3, 3], [0, 0]]])
    seq = joint_sequences(text, codes, text_vocab=10)
    assert seq.tolist() == [[1, 5, 2, 0, 10, 13, 11, 12], [1, 6, 7, 2, 13, 13, 10, 10]]
    with pytest.raises(ValueError, match=r"text token ids must lie in 0 .. 9, got 0 .. 12"):
        joint_sequences(text + (text == 7) * 5, codes, 10)
    with pytest.raises(ValueError, match="for the same N"):
        joint_sequences(text[:1], codes, 10)


def test_dalle_loss_weights_the_words_and_the_codes_each_by_their_own_mean():
    torch.manual_seed(0)
    gpt = GPT(14, context=8, d_model=16, n_heads=2, layers=1)
    text = torch.tensor([[1, 5, 2, 0], [1, 6, 7, 2]])
    seq = joint_sequences(text, torch.randint(0, 4, (2, 2, 2)), text_vocab=10)
    out = dalle_loss(gpt, seq, text_len=4)
    logits = gpt(seq[:, :-1])
    ce = F.cross_entropy(logits.flatten(0, 1), seq[:, 1:].flatten(), reduction="none").view(2, 7)
    real = seq[:, 1:4] != 0  # the first caption's last target is padding
    assert torch.allclose(out["text"], ce[:, :3][real].mean())
    assert torch.allclose(out["image"], ce[:, 3:].mean())
    assert torch.allclose(out["loss"], out["text"] / 8 + 7 * out["image"] / 8)
    assert torch.allclose(dalle_loss(gpt, seq, 4, text_weight=0.0)["loss"], out["image"])
    with pytest.raises(ValueError, match="text_weight must be in"):
        dalle_loss(gpt, seq, 4, text_weight=2.0)
    with pytest.raises(ValueError, match="text_len=8 < its length"):
        dalle_loss(gpt, seq, 8)


def test_generate_draws_only_codes_for_every_candidate_and_rerank_picks_the_best():
    torch.manual_seed(0)
    gpt = GPT(14, context=8, d_model=16, n_heads=2, layers=1)
    text = torch.tensor([[1, 5, 2, 0], [1, 6, 7, 2]])
    codes = generate(gpt, text, (2, 2), text_vocab=10, candidates=3, generator=torch.Generator().manual_seed(0))
    assert codes.shape == (2, 3, 2, 2) and codes.min() >= 0 and codes.max() < 4
    assert rerank(torch.tensor([[0.1, 0.9, 0.3], [2.0, -1.0, 1.0]])).tolist() == [1, 0]
    with pytest.raises(ValueError, match="candidates must be at least 1"):
        generate(gpt, text, (2, 2), 10, candidates=0)
    with pytest.raises(ValueError, match=r"scores must be \(captions, candidates\)"):
        rerank(torch.zeros(3))
