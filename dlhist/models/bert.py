"""BERT (Devlin et al. 2018): a bidirectional Transformer encoder pre-trained by predicting masked tokens.

    model = BERT(vocab_size=V + 1, context=64, d_model=128, n_heads=4, layers=4)   # id V: the mask token
    inputs, targets = mask_tokens(ids, mask_id=V, vocab_size=V + 1, special=(PAD,))
    out = model(inputs, targets)                   # {"loss", "accuracy"} over the masked positions only
    clf = GPTClassifier(model, n_classes=2, pool="mean")    # fine-tuning: a linear head on the mean final state

The stack is the package's GPT with ``causal=False``: every token attends to both sides, which is what masked
language modelling makes possible and left-to-right language modelling forbids. Differences from the paper, kept on
purpose: pre-norm blocks (GPT-2's, more stable at small scale; BERT used post-norm), no segment embeddings and no
next-sentence task (RoBERTa, Liu et al. 2019, Section 4.2, found it does not help). Without that task no [CLS] state
is trained to summarise the text, so a classifier reads the mean of the final states (``pool="first"`` reads the
first token's, BERT's way once such a token is trained). The masked-LM head is the
paper's: a dense layer with GELU and LayerNorm, then the output layer tied to the token embeddings, plus a bias.
Only the masked positions go through the output layer, so its cost is ~15% of a language model's.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .gpt import GPT


class BERT(GPT):
    def __init__(self, vocab_size: int, context: int = 128, d_model: int = 128, n_heads: int = 4, layers: int = 4,
                 dropout: float = 0.0, positions: str = "learned"):
        super().__init__(vocab_size, context, d_model, n_heads, layers, dropout, positions=positions, causal=False)
        self.transform = nn.Sequential(nn.Linear(d_model, d_model), nn.GELU(), nn.LayerNorm(d_model))
        self.out_bias = nn.Parameter(torch.zeros(vocab_size))

    def mlm_logits(self, states: torch.Tensor) -> torch.Tensor:
        """Vocabulary logits (..., V) from final states (..., d_model)."""
        return self.transform(states) @ self.tok.weight.T + self.out_bias

    def forward(self, idx: torch.Tensor, targets: torch.Tensor | None = None, real: torch.Tensor | None = None):
        """Logits (B, T, V) for token ids (B, T), or, with ``targets`` (B, T) holding the original id at masked
        positions and -1 elsewhere (``mask_tokens``), ``{"loss", "accuracy"}`` over the masked positions.
        ``real`` (B, T), True at real tokens, keeps padding out of attention."""
        states = self.hidden(idx, real=real)
        if targets is None:
            return self.mlm_logits(states)
        if targets.shape != idx.shape:
            raise ValueError(f"targets {tuple(targets.shape)} must have the shape of idx {tuple(idx.shape)}")
        chosen = targets != -1
        if not chosen.any():
            raise ValueError("no position is masked in this batch (every target is -1): nothing to predict")
        logits = self.mlm_logits(states[chosen])
        wanted = targets[chosen]
        return {"loss": F.cross_entropy(logits, wanted), "accuracy": (logits.argmax(-1) == wanted).float().mean()}


def torch_twin(block: nn.Module) -> nn.TransformerEncoderLayer:
    """PyTorch's ``nn.TransformerEncoderLayer`` (pre-norm, GELU) holding the weights of one of our non-causal GPT
    blocks (learned positions, i.e. no rotary embedding): the twin a bidirectional block is checked against."""
    if block.causal or block.attn.rotary or not block.has_mlp:
        raise ValueError("only a non-causal block with an MLP and without rotary embeddings has a PyTorch twin")
    attn, d = block.attn, block.ln1.normalized_shape[0]
    ref = nn.TransformerEncoderLayer(d, attn.n_heads, block.mlp[0].out_features, dropout=0.0, activation="gelu",
                                     batch_first=True, norm_first=True)
    ref = ref.to(dtype=block.ln1.weight.dtype, device=block.ln1.weight.device)
    with torch.no_grad():
        ref.self_attn.in_proj_weight.copy_(torch.cat([attn.q_proj.weight, attn.k_proj.weight, attn.v_proj.weight]))
        ref.self_attn.in_proj_bias.copy_(torch.cat([attn.q_proj.bias, attn.k_proj.bias, attn.v_proj.bias]))
        ref.self_attn.out_proj.load_state_dict(attn.out_proj.state_dict())
        ref.linear1.load_state_dict(block.mlp[0].state_dict())
        ref.linear2.load_state_dict(block.mlp[3].state_dict())
        ref.norm1.load_state_dict(block.ln1.state_dict())
        ref.norm2.load_state_dict(block.ln2.state_dict())
    return ref.eval()


__all__ = ["BERT", "torch_twin"]
