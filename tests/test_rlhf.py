"""RLHF pieces: the reward model and its loss, log-probs of generated tokens, KL-penalised rewards, GAE, PPO's
clipped losses and the KL controls, checked against hand-computed values and naive loops."""

import math

import pytest
import torch

from dlhist import rlhf
from dlhist.models.gpt import GPT

torch.set_num_threads(1)


def tiny_gpt(seed=0):
    torch.manual_seed(seed)
    return GPT(vocab_size=11, context=16, d_model=16, n_heads=2, layers=1)


# ------------------------------------------------------------------------------------------------ reward model

def test_bradley_terry_is_minus_log_sigmoid_with_its_gradient():
    a = torch.tensor([1.0, -0.5, 2.0], requires_grad=True)
    b = torch.tensor([0.0, 0.5, 2.5], requires_grad=True)
    loss = rlhf.bradley_terry_loss(a, b)
    d = torch.tensor([1.0, -1.0, -0.5])
    expected = sum(-math.log(1 / (1 + math.exp(-x))) for x in d.tolist()) / 3
    assert loss.item() == pytest.approx(expected, rel=1e-6)
    loss.backward()
    # d/dd -log sigmoid(d) = sigmoid(d) - 1
    assert torch.allclose(a.grad, (torch.sigmoid(d) - 1) / 3)
    assert torch.allclose(b.grad, -(torch.sigmoid(d) - 1) / 3)
    with pytest.raises(ValueError, match=r"r_chosen \(3,\) and r_rejected \(2,\)"):
        rlhf.bradley_terry_loss(a, b[:2])


def test_reward_model_ignores_padding_and_checks_tokenizer_and_vocabulary():
    rm = rlhf.RewardModel(tiny_gpt(), fingerprint="abc123abc123")
    idx = torch.tensor([[3, 4, 5, 0, 0, 0], [6, 7, 8, 9, 1, 2]])
    lengths = torch.tensor([3, 6])
    r = rm(idx, lengths)
    assert r.shape == (2,)
    assert torch.allclose(rm(idx[:1, :3], lengths[:1]), r[:1], atol=1e-6)
    longer = torch.cat([idx, torch.full((2, 4), 5)], 1)  # extra (non-pad) junk after the last real token
    assert torch.allclose(rm(longer, lengths), r, atol=1e-6)
    assert torch.allclose(rm.score(idx, lengths, fingerprint="abc123abc123"), r)
    with pytest.raises(ValueError, match="'fff000fff000'.*'abc123abc123'"):
        rm.score(idx, lengths, fingerprint="fff000fff000")
    with pytest.raises(ValueError, match="token id 11 is outside the reward model's vocabulary of 11"):
        rm(torch.tensor([[3, 11]]), torch.tensor([2]))
    again = rlhf.RewardModel(tiny_gpt(1))
    again.load_state_dict(rm.state_dict())
    assert again.fingerprint == "abc123abc123"


# ------------------------------------------------------------------------------------------------ log-probs

def test_token_logprobs_match_categorical():
    torch.manual_seed(0)
    logits, tokens = torch.randn(3, 5, 7), torch.randint(0, 7, (3, 5))
    expected = torch.distributions.Categorical(logits=logits).log_prob(tokens)
    assert torch.allclose(rlhf.token_logprobs(logits, tokens), expected, atol=1e-6)
    with pytest.raises(ValueError, match=r"align them first"):
        rlhf.token_logprobs(logits, tokens[:, 1:])


def test_sequence_logprobs_equal_a_manual_loop_for_gpt_and_policy():
    gpt = tiny_gpt()
    torch.manual_seed(1)
    seq, P = torch.randint(0, 11, (2, 7)), 3
    logp, values = rlhf.sequence_logprobs(gpt, seq, P)
    assert values is None and logp.shape == (2, 4)
    with torch.no_grad():
        for b in range(2):
            for i, t in enumerate(range(P, 7)):
                lp = gpt(seq[b:b + 1, :t])[0, -1].log_softmax(-1)[seq[b, t]]
                assert logp[b, i].item() == pytest.approx(lp.item(), abs=1e-5)
    policy = rlhf.PolicyWithValue(gpt)
    logp2, v = rlhf.sequence_logprobs(policy, seq, P)
    assert torch.allclose(logp2, logp) and v.shape == (2, 4) and (v == 0).all()  # zero-initialised head
    with torch.no_grad():
        policy.value_head.bias.fill_(0.5)
        policy.value_head.weight.normal_()
        _, values_all = policy(seq)
    assert torch.allclose(rlhf.sequence_logprobs(policy, seq, P)[1], values_all[:, P - 1:-1])
    hot = rlhf.sequence_logprobs(gpt, seq, P, temperature=2.0)[0]
    assert torch.allclose(hot, rlhf.token_logprobs(gpt(seq[:, :-1])[:, P - 1:] / 2, seq[:, P:]))
    with pytest.raises(ValueError, match="prompt_len must be in 1..6"):
        rlhf.sequence_logprobs(gpt, seq, 7)


def test_sequence_logprobs_with_suppressed_ids_are_those_of_sampling():
    gpt = tiny_gpt()
    torch.manual_seed(2)
    prompt = torch.randint(0, 11, (64, 3))
    seq = gpt.generate(prompt, 4, suppress=[0, 1], generator=torch.Generator().manual_seed(0))
    logp, _ = rlhf.sequence_logprobs(gpt, seq, 3, suppress=[0, 1])
    with torch.no_grad():
        logits = gpt(seq[:, :-1])[:, 2:]
    logits[..., [0, 1]] = float("-inf")  # the renormalised distribution generate() samples from
    assert torch.allclose(logp, rlhf.token_logprobs(logits, seq[:, 3:]), atol=1e-6)
    assert (logp > rlhf.sequence_logprobs(gpt, seq, 3)[0]).all()  # renormalised: every kept token more likely
    with pytest.raises(ValueError, match="suppressed ids"):
        rlhf.sequence_logprobs(gpt, torch.cat([prompt, torch.zeros(64, 1, dtype=torch.long)], 1), 3, suppress=[0])


# ------------------------------------------------------------------------------------------------ rewards and GAE

def test_kl_penalised_rewards_put_the_score_at_the_last_real_token():
    logp = torch.tensor([[-1.0, -2.0, -3.0], [-1.0, -1.0, -1.0]])
    ref = torch.tensor([[-1.5, -2.0, -2.0], [-2.0, -2.0, -2.0]])
    mask = torch.tensor([[1, 1, 0], [1, 1, 1]])
    r = rlhf.kl_penalised_rewards(torch.tensor([10.0, 20.0]), logp, ref, beta=0.1, mask=mask)
    expected = torch.tensor([[-0.05, 0.0 + 10.0, 0.0], [-0.1, -0.1, -0.1 + 20.0]])
    assert torch.allclose(r, expected)
    with pytest.raises(ValueError, match="1s then 0s"):
        rlhf.kl_penalised_rewards(torch.zeros(2), logp, ref, 0.1, mask=torch.tensor([[1, 0, 1], [1, 1, 1]]))
    with pytest.raises(ValueError, match="no real token"):
        rlhf.kl_penalised_rewards(torch.zeros(2), logp, ref, 0.1, mask=torch.tensor([[0, 0, 0], [1, 1, 1]]))


def test_gae_by_hand():
    r, v = torch.tensor([[1.0, 0.0, 2.0]]), torch.tensor([[0.5, 1.0, 0.2]])
    adv, ret = rlhf.gae(r, v, gamma=0.9, lam=0.8)
    # delta_2 = 2 - 0.2 = 1.8; delta_1 = 0 + 0.9*0.2 - 1 = -0.82; delta_0 = 1 + 0.9*1 - 0.5 = 1.4; gamma*lam = 0.72
    a2, a1 = 1.8, -0.82 + 0.72 * 1.8
    a0 = 1.4 + 0.72 * a1
    assert torch.allclose(adv, torch.tensor([[a0, a1, a2]]))
    assert torch.allclose(ret, torch.tensor([[a0 + 0.5, a1 + 1.0, a2 + 0.2]]))


def naive_gae(r, v, gamma, lam, mask):
    adv = torch.zeros_like(r)
    for b in range(r.shape[0]):
        n = int(mask[b].sum())
        deltas = [r[b, t] + gamma * (v[b, t + 1] if t + 1 < n else 0.0) - v[b, t] for t in range(n)]
        for t in range(n):
            adv[b, t] = sum((gamma * lam) ** l * deltas[t + l] for l in range(n - t))
    return adv


def test_gae_matches_a_double_loop_with_masks_and_lambda_one_gives_returns_to_go():
    torch.manual_seed(0)
    r, v = torch.randn(4, 6), torch.randn(4, 6)
    mask = (torch.arange(6) < torch.tensor([6, 3, 1, 5])[:, None]).long()
    adv, ret = rlhf.gae(r, v, gamma=0.95, lam=0.7, mask=mask)
    assert torch.allclose(adv, naive_gae(r, v, 0.95, 0.7, mask), atol=1e-5)
    assert torch.allclose(ret, (adv + v) * mask) and (adv[mask == 0] == 0).all()
    junk = torch.where(mask.bool(), r, torch.full_like(r, 99.0))  # whatever lies in the padding is ignored
    assert torch.allclose(rlhf.gae(junk, v, 0.95, 0.7, mask)[0], adv)
    adv1, ret1 = rlhf.gae(r, v, gamma=1.0, lam=1.0, mask=mask)
    togo = (r * mask).flip(1).cumsum(1).flip(1)
    assert torch.allclose(adv1, (togo - v) * mask, atol=1e-5) and torch.allclose(ret1, togo, atol=1e-5)


def test_whiten_over_real_tokens():
    x = torch.tensor([[1.0, 2.0, 3.0], [4.0, 100.0, 100.0]])
    mask = torch.tensor([[1, 1, 1], [1, 0, 0]])
    w = rlhf.whiten(x, mask)
    real = w[mask.bool()]
    assert real.mean().abs() < 1e-6 and (real.pow(2).mean() - 1).abs() < 1e-5 and (w[mask == 0] == 0).all()


# ------------------------------------------------------------------------------------------------ PPO losses

def test_ppo_policy_loss_by_hand_with_zero_gradient_where_clipped():
    old = torch.zeros(2)
    logp = torch.log(torch.tensor([1.5, 0.5])).requires_grad_()
    adv = torch.tensor([1.0, -1.0])
    loss, stats = rlhf.ppo_policy_loss(logp, old, adv, clip=0.2)
    # ratio 1.5, A = +1: max(-1.5, -1.2) = -1.2 (clipped above);  ratio 0.5, A = -1: max(0.5, 0.8) = 0.8 (below)
    assert loss.item() == pytest.approx((-1.2 + 0.8) / 2)
    assert stats["clip_frac"] == 1.0
    assert stats["approx_kl"] == pytest.approx(-(math.log(1.5) + math.log(0.5)) / 2)
    loss.backward()
    assert (logp.grad == 0).all()
    # the pessimistic bound: a ratio moved against its advantage is not clipped, and keeps its gradient
    logp = torch.log(torch.tensor([1.5, 1.1])).requires_grad_()
    loss, stats = rlhf.ppo_policy_loss(logp, old, torch.tensor([-1.0, 2.0]), clip=0.2)
    assert loss.item() == pytest.approx((1.5 - 2.2) / 2) and stats["clip_frac"] == 0.0
    loss.backward()
    assert torch.allclose(logp.grad, torch.tensor([1.5, -2.2]) / 2)
    masked, _ = rlhf.ppo_policy_loss(logp.detach(), old, torch.tensor([-1.0, 2.0]), mask=torch.tensor([1, 0]))
    assert masked.item() == pytest.approx(1.5)


def test_ppo_value_loss_by_hand():
    v = torch.tensor([1.0, 0.0, 2.0], requires_grad=True)
    old, ret = torch.tensor([0.5, 0.1, 1.0]), torch.tensor([2.0, 0.0, 0.0])
    loss, stats = rlhf.ppo_value_loss(v, old, ret, clip=0.2)
    # v=1: (1-2)^2 = 1 vs clipped to 0.7: 1.69 -> 1.69 (no gradient); v=0: inside [-0.1, 0.3] -> 0
    # v=2: (2-0)^2 = 4 vs clip to 1.2: 1.44 -> 4
    assert loss.item() == pytest.approx(0.5 * (1.69 + 0.0 + 4.0) / 3)
    assert stats["clip_frac"] == pytest.approx(1 / 3)
    loss.backward()
    assert torch.allclose(v.grad, torch.tensor([0.0, 0.0, 0.5 * 2 * 2.0 / 3]))


# ------------------------------------------------------------------------------------------------ KL control

def test_adaptive_kl_controller_moves_beta_towards_the_target_by_at_most_the_clip():
    ctl = rlhf.AdaptiveKLController(beta=0.1, target=6.0)
    assert ctl.update(7.0) == pytest.approx(0.1 * (1 + 0.1 * 1 / 6))
    ctl = rlhf.AdaptiveKLController(beta=0.1, target=6.0)
    assert ctl.update(5.0) < 0.1
    ctl = rlhf.AdaptiveKLController(beta=0.1, target=6.0)
    assert ctl.update(1e6) == pytest.approx(0.1 * 1.02) and ctl.update(0.0) == pytest.approx(0.1 * 1.02 * 0.98)
    code_form = rlhf.AdaptiveKLController(beta=0.2, target=6.0, horizon=10_000)  # lm-human-preferences' units
    assert code_form.update(100.0, n_steps=64) == pytest.approx(0.2 * (1 + 0.2 * 64 / 10_000))
    with pytest.raises(ValueError, match="target=0"):
        rlhf.AdaptiveKLController(beta=0.1, target=0)
    with pytest.raises(ValueError, match="raise the horizon"):
        rlhf.AdaptiveKLController(0.1, 6.0, horizon=10).update(6.0, n_steps=20)


def test_check_kl_raises_with_the_value():
    assert rlhf.check_kl(torch.tensor(3.0), limit=10.0) == 3.0
    with pytest.raises(rlhf.KLExploded, match=r"is 123\.5 nats, above the limit of 10.*learning rate.*beta"):
        rlhf.check_kl(123.5, limit=10.0)
    with pytest.raises(rlhf.KLExploded, match="nan"):
        rlhf.check_kl(float("nan"), limit=10.0)
    assert rlhf.mean_kl(torch.tensor([[-1.0, -1.0], [-2.0, -9.0]]), torch.full((2, 2), -2.0),
                        mask=torch.tensor([[1, 1], [1, 0]])) == pytest.approx((2.0 + 0.0) / 2)
