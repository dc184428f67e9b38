"""Reinforcement learning from human feedback: a reward model learned from comparisons, and PPO against it.

Ziegler et al. (2019) fine-tune a language model rho in two steps (Ouyang et al. 2022, InstructGPT, scale the same
recipe). First a reward model r(x, y), a language model with a scalar head, learns from comparisons "y_w is better
than y_l" (``RewardModel``, ``bradley_terry_loss``; Ziegler Eq. 1 with two options, InstructGPT Eq. 1):

    loss(r) = -E[ log sigmoid(r(x, y_w) - r(x, y_l)) ].

Then the policy pi, initialised to rho, is trained with PPO to maximise the penalised reward (Ziegler Section 2)

    R(x, y) = r(x, y) - beta log(pi(y | x) / rho(y | x)),

whose KL term keeps pi close to rho, so that it cannot wander off into text the reward model was never trained on
and scores absurdly. Every generated token is one action: the KL term is paid token by token and r(x, y) arrives
at the last token (``kl_penalised_rewards``). A value head on the policy's own final states (``PolicyWithValue``)
estimates the return, GAE turns rewards and values into advantages (``gae``; Schulman et al. 2016, Section 3,
Eq. 16), and PPO's clipped surrogate (``ppo_policy_loss``; Schulman et al. 2017, Eq. 7)

    L^CLIP = E_t[ min(ratio_t A_t, clip(ratio_t, 1 - eps, 1 + eps) A_t) ],   ratio_t = pi(a_t | s_t) / pi_old(a_t | s_t)

takes several gradient steps on one batch of samples without moving far from the policy that drew them.
``AdaptiveKLController`` steers beta towards a target KL (Ziegler Section 2.2); ``check_kl`` stops a run whose KL
explodes.

Conventions: a batch of sequences is prompt + response token ids (B, T); per-token quantities of the response
(log-probs, values, rewards, advantages) are (B, N), N = T - prompt_len, position i belonging to token
seq[:, prompt_len + i]. ``mask`` (B, N) is 1 on real tokens, which come first in each row, and 0 on padding after.

    rm = RewardModel(GPT(vocab_size=len(tok)), fingerprint=tok.fingerprint)   # train on bradley_terry_loss
    policy, ref = PolicyWithValue(copy.deepcopy(sft)), sft                     # sft: a GPT
    ctl = AdaptiveKLController(beta=0.1, target=6.0)
    seq = policy.generate(prompts, 24, suppress=[PAD])                        # (B, P + 24)
    with torch.no_grad():
        old_logp, old_v = sequence_logprobs(policy, seq, P)
        ref_logp, _ = sequence_logprobs(ref, seq, P)
        rewards = kl_penalised_rewards(rm.score(seq, fingerprint=tok.fingerprint), old_logp, ref_logp, ctl.beta)
        adv, ret = gae(rewards, old_v)
    logp, v = sequence_logprobs(policy, seq, P)                               # then, for a few epochs:
    loss = ppo_policy_loss(logp, old_logp, whiten(adv))[0] + 0.1 * ppo_value_loss(v, old_v, ret)[0]
    ctl.update(check_kl(mean_kl(old_logp, ref_logp), limit=50.0), n_steps=1)
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from .models.gpt import GPT, GPTClassifier


def _same(name_a: str, a: torch.Tensor, name_b: str, b: torch.Tensor) -> None:
    if a.shape != b.shape:
        raise ValueError(f"{name_a} {tuple(a.shape)} and {name_b} {tuple(b.shape)} must have the same shape")


def _mask(mask: torch.Tensor | None, like: torch.Tensor) -> torch.Tensor:
    """``mask`` as floats of ``like``'s shape (all ones when None); each row needs >= 1 real token, first."""
    if mask is None:
        return torch.ones_like(like)
    _same("mask", mask, "the per-token values", like)
    m = mask.to(like.dtype)
    if not ((m == 0) | (m == 1)).all():
        raise ValueError("mask must hold only 0 (padding) and 1 (real token)")
    if (m.sum(-1) == 0).any():
        raise ValueError(f"rows {(m.sum(-1) == 0).nonzero().flatten().tolist()} of mask have no real token")
    if (m[..., 1:] > m[..., :-1]).any():
        raise ValueError("mask must be 1s then 0s in each row (padding after the real tokens)")
    return m


def _masked_mean(x: torch.Tensor, m: torch.Tensor) -> torch.Tensor:
    return (x * m).sum() / m.sum()


# -------------------------------------------------------------------------------------------------- the reward model

def bradley_terry_loss(r_chosen: torch.Tensor, r_rejected: torch.Tensor) -> torch.Tensor:
    """Mean of -log sigmoid(r_chosen - r_rejected) over the pairs (B,): the negative log-likelihood of the human
    choices under the Bradley-Terry model P(chosen > rejected) = sigmoid(r_chosen - r_rejected)."""
    _same("r_chosen", r_chosen, "r_rejected", r_rejected)
    return -F.logsigmoid(r_chosen - r_rejected).mean()


class RewardModel(GPTClassifier):
    """A GPT with a scalar head on the final state at each sequence's last real token: ``forward(idx, lengths)``
    gives rewards (B,) for token ids (B, T) padded at the end (``lengths`` (B,), or read off ``pad_id``).

    ``fingerprint`` names the tokenizer whose ids the model was trained on (``BPETokenizer.fingerprint``); it is
    saved in the state dict, and ``score`` refuses ids from a tokenizer with another fingerprint."""

    def __init__(self, gpt: GPT, fingerprint: str | None = None, pad_id: int = 0):
        super().__init__(gpt, n_classes=1, pad_id=pad_id, pool="last")
        self.fingerprint = fingerprint

    def forward(self, idx: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        if idx.numel() and int(idx.max()) >= self.gpt.vocab_size:
            raise ValueError(f"token id {int(idx.max())} is outside the reward model's vocabulary of "
                             f"{self.gpt.vocab_size}: encode the text with the tokenizer the model was trained on")
        return super().forward(idx, lengths).squeeze(-1)

    @torch.no_grad()
    def score(self, idx: torch.Tensor, lengths: torch.Tensor | None = None,
              fingerprint: str | None = None) -> torch.Tensor:
        """Rewards (B,) without gradients, for PPO; ``fingerprint``: that of the tokenizer that made ``idx``."""
        if fingerprint is not None and self.fingerprint is not None and fingerprint != self.fingerprint:
            raise ValueError(f"the sequences come from tokenizer {fingerprint!r} but the reward model was trained on "
                             f"tokenizer {self.fingerprint!r}: their ids mean different text; re-encode with the "
                             "reward model's tokenizer or train a reward model on this one")
        return self(idx, lengths)

    def get_extra_state(self) -> dict:
        return {"fingerprint": self.fingerprint}

    def set_extra_state(self, state: dict) -> None:
        self.fingerprint = state["fingerprint"]


# ----------------------------------------------------------------------------------------------------- the policy

class PolicyWithValue(nn.Module):
    """A GPT plus a value head reading the same final states: ``forward(idx)`` gives (logits (B, T, V), values
    (B, T)); values[:, t] estimates the return of the rest of the response after the prefix idx[:, :t + 1]. The
    head starts at zero, so the policy is exactly the GPT it wraps."""

    def __init__(self, gpt: GPT):
        super().__init__()
        self.gpt = gpt
        self.value_head = nn.Linear(gpt.tok.embedding_dim, 1)
        nn.init.zeros_(self.value_head.weight)
        nn.init.zeros_(self.value_head.bias)

    def forward(self, idx: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = self.gpt.hidden(idx)
        return h @ self.gpt.tok.weight.T, self.value_head(h).squeeze(-1)

    def generate(self, idx: torch.Tensor, new_tokens: int, **kwargs) -> torch.Tensor:
        """``GPT.generate`` of the wrapped GPT (the value head plays no part in sampling)."""
        return self.gpt.generate(idx, new_tokens, **kwargs)


def token_logprobs(logits: torch.Tensor, tokens: torch.Tensor) -> torch.Tensor:
    """log softmax(logits)[b, t, tokens[b, t]] (B, T): the log-probability of ``tokens`` (B, T) under ``logits``
    (B, T, V) at the *same* positions. No shift is made: for a language model pass ``logits[:, :-1]`` and
    ``seq[:, 1:]``, since the logits at position t predict token t + 1 (``sequence_logprobs`` does this)."""
    if logits.dim() != 3 or tokens.shape != logits.shape[:2]:
        raise ValueError(f"logits {tuple(logits.shape)} must be (B, T, V) and tokens {tuple(tokens.shape)} (B, T); "
                         "align them first (logits[:, :-1] with seq[:, 1:])")
    return logits.float().log_softmax(-1).gather(-1, tokens[..., None].long()).squeeze(-1)


def sequence_logprobs(model: GPT | PolicyWithValue, seq: torch.Tensor, prompt_len: int,
                      temperature: float = 1.0, suppress: Sequence[int] = ()
                      ) -> tuple[torch.Tensor, torch.Tensor | None]:
    """(log-probs (B, N), values (B, N) or None) of the generated tokens seq[:, prompt_len:], N = T - prompt_len.

    Token seq[:, t] is predicted by the logits at position t - 1, so one pass over seq[:, :-1] gives them all;
    log-probs are of the softmax at ``temperature`` (that of sampling, as in Ziegler et al.) over the vocabulary
    without the ``suppress`` ids: pass the ids that generation never emits (``GPT.generate(..., suppress=...)``), so
    that the log-probs are those of the distribution the tokens were actually drawn from. The values, for a
    ``PolicyWithValue``, are read at the same positions t - 1: the state just before each token was chosen."""
    if not 1 <= prompt_len < seq.shape[1]:
        raise ValueError(f"prompt_len must be in 1..{seq.shape[1] - 1} for sequences {tuple(seq.shape)} (at least "
                         f"one prompt token and one generated token), got {prompt_len}")
    if temperature <= 0:
        raise ValueError(f"temperature must be > 0, got {temperature}")
    out = model(seq[:, :-1])
    logits, values = out if isinstance(model, PolicyWithValue) else (out, None)
    logits = logits[:, prompt_len - 1:] / temperature
    if len(suppress):
        banned = torch.tensor(list(suppress), dtype=torch.long, device=logits.device)
        if torch.isin(seq[:, prompt_len:], banned).any():
            raise ValueError(f"a generated token is one of the suppressed ids {list(suppress)}: it could not have "
                             "been sampled with them suppressed")
        logits = logits.index_fill(-1, banned, float("-inf"))
    logp = token_logprobs(logits, seq[:, prompt_len:])
    return logp, None if values is None else values[:, prompt_len - 1:]


# ---------------------------------------------------------------------------------------------- rewards, advantages

def kl_penalised_rewards(score: torch.Tensor, logp: torch.Tensor, ref_logp: torch.Tensor, beta: float,
                         mask: torch.Tensor | None = None) -> torch.Tensor:
    """Per-token rewards (B, N): -beta (logp - ref_logp) at each real token, plus ``score`` (B,), the reward
    model's r(x, y), at the last real token of each row; 0 on padding. Summed over a row: R(x, y) of Ziegler
    Section 2, with log(pi / rho) of the sampled y as the single-sample estimate of the KL."""
    _same("logp", logp, "ref_logp", ref_logp)
    if logp.dim() != 2 or score.shape != logp.shape[:1]:
        raise ValueError(f"score {tuple(score.shape)} must be (B,) and logp {tuple(logp.shape)} (B, N)")
    m = _mask(mask, logp)
    rewards = -beta * (logp - ref_logp) * m
    last = m.sum(-1).long() - 1
    return rewards.index_put((torch.arange(len(score), device=score.device), last), score.to(rewards.dtype),
                             accumulate=True)


def gae(rewards: torch.Tensor, values: torch.Tensor, gamma: float = 1.0, lam: float = 0.95,
        mask: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Generalised advantage estimates and returns (both (B, N)) of Schulman et al. (2016), Section 3:

        delta_t = r_t + gamma V_{t+1} - V_t,    A_t = sum_l (gamma lam)^l delta_{t+l} = delta_t + gamma lam A_{t+1},

    with V = 0 after the last real token (the episode ends there); returns = A + V are the value head's targets.
    lam = 1 gives the discounted returns-to-go minus V; lam = 0 the one-step TD errors. 0 on padding."""
    _same("rewards", rewards, "values", values)
    if not (0 <= gamma <= 1 and 0 <= lam <= 1):
        raise ValueError(f"gamma and lam must lie in [0, 1], got gamma={gamma}, lam={lam}")
    m = _mask(mask, rewards)
    r, v = rewards * m, values.detach() * m
    adv = torch.zeros_like(r)
    nxt_v, nxt_a = torch.zeros_like(r[:, 0]), torch.zeros_like(r[:, 0])
    for t in reversed(range(r.shape[1])):
        nxt_a = r[:, t] + gamma * nxt_v - v[:, t] + gamma * lam * nxt_a
        adv[:, t], nxt_v = nxt_a, v[:, t]
    return adv * m, (adv + v) * m


def whiten(x: torch.Tensor, mask: torch.Tensor | None = None, eps: float = 1e-8) -> torch.Tensor:
    """``x`` shifted and scaled to mean 0 and standard deviation 1 over the real tokens (0 on padding)."""
    m = _mask(mask, x)
    if m.sum() < 2:
        raise ValueError(f"whitening needs at least 2 real tokens, got {int(m.sum())}")
    mean = _masked_mean(x, m)
    var = _masked_mean((x - mean) ** 2, m)
    return (x - mean) * torch.rsqrt(var + eps) * m


# ------------------------------------------------------------------------------------------------------ PPO losses

def ppo_policy_loss(logp: torch.Tensor, old_logp: torch.Tensor, advantages: torch.Tensor, clip: float = 0.2,
                    mask: torch.Tensor | None = None) -> tuple[torch.Tensor, dict]:
    """-L^CLIP (PPO Eq. 7) averaged over real tokens, for minimisation: max(-A ratio, -A clip(ratio, 1 -+ clip)).

    Where the clipped term is the larger, the gradient is zero: a token whose ratio has already moved ``clip``
    beyond 1 in the direction its advantage favours gets no further push. Stats (floats): ``clip_frac``, the
    fraction of such tokens, and ``approx_kl`` = mean(old_logp - logp), an estimate of KL(pi_old || pi)."""
    _same("logp", logp, "old_logp", old_logp)
    _same("logp", logp, "advantages", advantages)
    if clip <= 0:
        raise ValueError(f"clip must be > 0, got {clip}")
    m = _mask(mask, logp)
    ratio = torch.exp(logp - old_logp.detach())
    adv = advantages.detach()
    unclipped, clipped = -adv * ratio, -adv * ratio.clamp(1 - clip, 1 + clip)
    loss = _masked_mean(torch.maximum(unclipped, clipped), m)
    stats = {"clip_frac": _masked_mean((clipped > unclipped).float(), m).item(),
             "approx_kl": _masked_mean(old_logp.detach() - logp.detach(), m).item()}
    return loss, stats


def ppo_value_loss(values: torch.Tensor, old_values: torch.Tensor, returns: torch.Tensor, clip: float = 0.2,
                   mask: torch.Tensor | None = None) -> tuple[torch.Tensor, dict]:
    """0.5 max((v - R)^2, (clip(v, v_old - clip, v_old + clip) - R)^2) averaged over real tokens: the clipped
    value loss of OpenAI's baselines and lm-human-preferences. Stats: ``clip_frac``, where the clipped term wins."""
    _same("values", values, "old_values", old_values)
    _same("values", values, "returns", returns)
    m = _mask(mask, values)
    old = old_values.detach()
    plain = (values - returns.detach()) ** 2
    clipped = (torch.maximum(torch.minimum(values, old + clip), old - clip) - returns.detach()) ** 2
    loss = 0.5 * _masked_mean(torch.maximum(plain, clipped), m)
    return loss, {"clip_frac": _masked_mean((clipped > plain).float(), m).item()}


# ------------------------------------------------------------------------------------------------------ KL control

def mean_kl(logp: torch.Tensor, ref_logp: torch.Tensor, mask: torch.Tensor | None = None) -> float:
    """The KL(pi || rho) of Ziegler et al., per sequence: sum over real tokens of logp - ref_logp, averaged over
    the rows (a sampled estimate, in nats)."""
    _same("logp", logp, "ref_logp", ref_logp)
    return ((logp - ref_logp) * _mask(mask, logp)).sum(-1).mean().item()


class AdaptiveKLController:
    """beta_{t+1} = beta_t (1 + K_beta e_t),  e_t = clip((KL_t - target) / target, -0.2, 0.2)  (Ziegler Section 2.2).

    ``update(kl, n_steps)`` uses K_beta = n_steps / horizon, the form of their code (openai/lm-human-preferences,
    ``train_policy.py``: n_steps = the batch's episodes, horizon = 10000), which makes the rate at which beta moves
    independent of the batch size. The default horizon of 10 with n_steps=1 is the paper's K_beta = 0.1 per update.
    Each update changes beta by a factor within 1 +- 0.2 K_beta."""

    def __init__(self, beta: float, target: float, horizon: float = 10.0):
        if beta <= 0 or target <= 0 or horizon <= 0:
            raise ValueError(f"beta, target and horizon must be > 0, got beta={beta}, target={target}, "
                             f"horizon={horizon}; for no KL control keep beta fixed instead")
        self.beta, self.target, self.horizon = float(beta), float(target), float(horizon)

    def update(self, kl: float, n_steps: int = 1) -> float:
        """Move beta after a batch whose KL (nats per sequence, ``mean_kl``) was ``kl``; returns the new beta."""
        if not 0 < n_steps <= self.horizon:
            raise ValueError(f"n_steps must be in (0, horizon={self.horizon}], got {n_steps}: raise the horizon")
        error = min(max(float(kl) / self.target - 1, -0.2), 0.2)
        self.beta *= 1 + error * n_steps / self.horizon
        return self.beta


class KLExploded(RuntimeError):
    """The policy moved so far from the reference that training should stop."""


def check_kl(kl: float, limit: float) -> float:
    """``kl`` as a float, or ``KLExploded`` if it is above ``limit`` or not finite."""
    if limit <= 0:
        raise ValueError(f"limit must be > 0, got {limit}")
    kl = float(kl)
    if not kl <= limit:  # also catches nan
        raise KLExploded(f"KL from the reference policy is {kl:.4g} nats, above the limit of {limit:.4g}: the PPO "
                         "update has run away; lower the learning rate, raise beta (or lower the KL target), use "
                         "fewer PPO epochs per batch, or a smaller clip")
    return kl
