"""The overview: OVERVIEW.md's measured numbers, the tech tree figure and PAPERS.md, all generated from data.

``dlhist overview`` rewrites three things from the curriculum (``curriculum.TOPICS``: titles, claims, ``requires``),
the paper list (``papers.CITATIONS``) and the committed ``results.json`` files:

- the generated spans of OVERVIEW.md, each between ``<!-- overview:KEY:start -->`` and ``<!-- overview:KEY:end -->``
  (inline, inside a sentence, or around a table). The prose around them is written by hand; every number in it is
  one of these spans. A span that quotes a result (``QUOTES``) also states whether the prose relies on that result
  having reproduced: if a rerun flips the verdict, the command stops and names the sentence to rewrite;
- ``images/tech-tree.png``: the topics as a graph of prerequisites, coloured by status. The PNG carries a digest of
  what it draws (topics, labels, edges, statuses), so ``--check`` compares data, not pixels, and does not depend on
  the matplotlib version;
- ``PAPERS.md``: every citation, grouped by section and topic.

``dlhist overview --check`` changes nothing and fails if any of the three is out of date.
"""

from __future__ import annotations

import hashlib
import json
import re
import textwrap
from dataclasses import dataclass
from pathlib import Path

from .. import results
from . import curriculum, papers
from .cli import CliError, headline_of

OVERVIEW = "OVERVIEW.md"
PAPERS = "PAPERS.md"
TREE = "images/tech-tree.png"
TREE_LAYOUT = "bands-by-section/columns-by-depth/1"  # change when the drawing changes, so --check notices
MARKER = re.compile(r"<!-- overview:(?P<key>[a-z0-9:-]+):start -->(?P<body>.*?)<!-- overview:(?P=key):end -->",
                    re.S)

# The tech tree's node labels: the name a reader knows each topic by.
LABELS = {
    "01-deep-neural-networks/01-dnn": "perceptron, MLP",
    "01-deep-neural-networks/02-cnn": "CNN (LeNet)",
    "01-deep-neural-networks/03-alex-net": "AlexNet, VGG",
    "01-deep-neural-networks/04-u-net": "U-Net",
    "02-optimization-and-regularization/01-weight-decay": "weight decay",
    "02-optimization-and-regularization/02-relu": "ReLU",
    "02-optimization-and-regularization/03-residuals": "ResNet",
    "02-optimization-and-regularization/04-dropout": "dropout",
    "02-optimization-and-regularization/05-batch-norm": "batch norm",
    "02-optimization-and-regularization/06-layer-norm": "layer norm",
    "02-optimization-and-regularization/07-gelu": "GELU",
    "02-optimization-and-regularization/08-adam": "Adam",
    "03-sequence-modeling/01-rnn": "RNN",
    "03-sequence-modeling/02-lstm": "LSTM",
    "03-sequence-modeling/03-learning-to-forget": "forget gate",
    "03-sequence-modeling/04-gru": "GRU",
    "03-sequence-modeling/05-word2vec": "word2vec",
    "03-sequence-modeling/06-seq2seq": "seq2seq",
    "03-sequence-modeling/07-attention": "attention",
    "03-sequence-modeling/08-mixture-of-experts": "mixture of experts",
    "04-transformers/01-transformer": "Transformer",
    "04-transformers/02-bert": "BERT",
    "04-transformers/03-t5": "T5",
    "04-transformers/04-gpt": "GPT-2/3, scaling",
    "04-transformers/05-lora": "LoRA",
    "04-transformers/06-rlhf": "RLHF",
    "04-transformers/07-vision-transformer": "ViT",
    "05-image-generation/01-gan": "GAN",
    "05-image-generation/02-vae": "VAE, VQ-VAE",
    "05-image-generation/03-diffusion": "diffusion",
    "05-image-generation/04-latent-diffusion": "latent diffusion",
    "05-image-generation/05-clip": "CLIP",
    "05-image-generation/06-dall-e": "DALL-E",
}

STATUS_COLOURS = {"reproduced": "#8fd19e", "not reproduced": "#f5a65b", "in progress": "#a9c8f0",
                  "planned": "#d9d9d9"}


# --- numbers quoted in the prose -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Quote:
    """One number from a topic's results.json, as a sentence of OVERVIEW.md quotes it.

    ``show``: "ours", "ours+-" (with the seeds' sd and count where there were several: "6.4 ± 1.9 BLEU over 3
    seeds", ``unit`` being "BLEU"), "paper", "setting" (a setting the record states, not a measurement: group 1 of
    ``pattern`` in the record's ``field``, its metric or its note, such as the "1,000" of "... at 1,000 images") or
    "count" (a percentage of runs as a number of runs: "3" for 60% of the runs that ``pattern`` finds in the metric,
    "(%, 5 seeds)"). ``expect`` is the record's ``reproduced`` verdict that the sentence relies on (a setting relies
    on none), and ``sign`` (+1 or -1; required with ``absolute``) the sign of the value it relies on ("fell short by
    9.5 points"): a rerun that flips either stops the command. ``also``: other names of the same row that the
    sentence fits as well (while a rerun renames it). ``scale`` multiplies the value, and ``sci`` writes it as
    "3.0 × 10⁻⁷", with ``digits`` digits after the point.
    """

    key: str
    topic: str
    metric: str
    show: str = "ours"
    digits: int = 1
    absolute: bool = False
    expect: bool = True
    unit: str = ""
    sign: int = 0
    also: tuple[str, ...] = ()
    pattern: str = ""
    field: str = "metric"
    scale: float = 1.0
    sci: bool = False


_D, _O, _S, _T = ("01-deep-neural-networks", "02-optimization-and-regularization", "03-sequence-modeling",
                  "04-transformers")
_G = "05-image-generation"
_Q = Quote
# metrics quoted more than once
_UNET = "held-out ISBI pixel error (1 - best F-score over 11 thresholds), U-Net"
_LN_RACE = "char-RNN, each at its best learning rate: held-out bpc at equal steps, RNN minus LN-RNN"
_LN_BATCH = "MNIST test error at batch size 4: BN minus LN (points)"
_ADAM_MLP = "Fig. 2 MLP+dropout: Adam final train NLL (eval mode) / best other"
_FORGET = "CERG runs solved perfectly, LSTM with forget gate (%, 5 seeds)"
_NO_FORGET = "CERG runs solved perfectly, 1997 LSTM without forget gate (%, 5 seeds)"
_RUNS = r"\(%, (\d+) seeds\)"
_LORA = ("SST-2 dev accuracy, LoRA r=8 on W_q, W_v minus full fine-tuning (points; reproduced if within 1 point or "
         "better)")
_VIT_SMALL = "CNN minus ViT test accuracy at 1,000 images (points)"
_DALLE = ("held-out (digit, colour) pairs: judge sees the caption's digit and colour in the CLIP-reranked sample, "
          "best of 8 (%)")
_ALEX = "ReLU vs tanh, 2012 recipe: speed-up to 13% training error, in steps"
QUOTES: list[Quote] = [
    _Q("mlp", f"{_D}/01-dnn", "MNIST test error (%), 784-800-10 MLP", digits=2),
    _Q("mlp-paper", f"{_D}/01-dnn", "MNIST test error (%), 784-800-10 MLP", "paper"),
    _Q("lenet", f"{_D}/02-cnn", "MNIST test error (%), LeNet-5 as in 1998", digits=2),
    _Q("lenet-paper", f"{_D}/02-cnn", "MNIST test error (%), LeNet-5 as in 1998", "paper", digits=2),
    _Q("alexnet-relu", f"{_D}/03-alex-net", _ALEX),
    _Q("alexnet-relu-paper", f"{_D}/03-alex-net", _ALEX, "paper",
       digits=0),
    _Q("vgg", f"{_D}/03-alex-net", "test error of 5x5 net minus 3x3-stack net (points)", digits=2, expect=False),
    _Q("vgg-paper", f"{_D}/03-alex-net", "test error of 5x5 net minus 3x3-stack net (points)", "paper", digits=0,
       expect=False),
    _Q("unet", f"{_D}/04-u-net", _UNET, digits=3),
    _Q("unet-paper", f"{_D}/04-u-net", _UNET, "paper", digits=3),
    _Q("unet-slices", f"{_D}/04-u-net", _UNET, "setting", pattern=r"(\d+) held-out labelled slices", field="note"),
    _Q("weight-decay", f"{_O}/01-weight-decay",
       "test error, no decay minus decay chosen on validation, 1k noisy labels (points)", "ours+-", unit="points"),
    _Q("relu", f"{_O}/02-relu", "test error, tanh minus ReLU (points)", "ours+-", digits=2, expect=False,
       unit="points", absolute=True, sign=-1),
    _Q("relu-paper", f"{_O}/02-relu", "test error, tanh minus ReLU (points)", "paper", digits=2, expect=False,
       sign=1),
    _Q("sigmoid", f"{_O}/02-relu", "final training loss, sigmoid ÷ ReLU", digits=0),
    _Q("plain-depth", f"{_O}/03-residuals", "train err: plain-56 minus plain-20 (points)"),
    _Q("residuals", f"{_O}/03-residuals", "train err: ResNet-56 minus plain-56 (points)", absolute=True, sign=-1),
    _Q("dropout", f"{_O}/04-dropout", "MNIST test error, 10,000 training digits: no dropout minus dropout (points)",
       "ours+-", digits=2, unit="points"),
    _Q("batch-norm", f"{_O}/05-batch-norm", "steps to the plain net's best test accuracy: without BN / with BN"),
    _Q("batch-norm-paper", f"{_O}/05-batch-norm",
       "steps to the plain net's best test accuracy: without BN / with BN", "paper"),
    _Q("batch-norm-lr", f"{_O}/05-batch-norm", "largest learning rate that still trains: with BN / without",
       digits=0),
    _Q("layer-norm", f"{_O}/06-layer-norm", _LN_RACE, "ours+-", digits=2, unit="bits per character"),
    _Q("layer-norm-lr", f"{_O}/06-layer-norm", "char-RNN at lr 0.03: held-out bpc, RNN minus LN-RNN", "ours+-",
       unit="bits per character"),
    _Q("layer-norm-batch", f"{_O}/06-layer-norm", _LN_BATCH, "ours+-", unit="points"),
    _Q("layer-norm-batch-size", f"{_O}/06-layer-norm", _LN_BATCH, "setting", pattern=r"at batch size (\d+)"),
    _Q("adam", f"{_O}/08-adam", "Fig. 1 logreg: Adam final train NLL / best other (Nesterov SGD, AdaGrad)",
       "ours+-", digits=3),
    _Q("adam-mlp", f"{_O}/08-adam", _ADAM_MLP, digits=2, expect=False),
    _Q("adam-mlp-epochs", f"{_O}/08-adam", _ADAM_MLP, "setting", pattern=r"(\d+) epochs", field="note"),
    _Q("gelu", f"{_O}/07-gelu", "final training loss, better rival ÷ GELU (dropout 0.5)", "ours+-",
       also=("median training loss, best rival ÷ GELU (dropout 0.5)",)),
    _Q("elman", f"{_S}/01-rnn",
       "lexical class of the 29 words, 1-NN among mean hidden states: trained minus untrained SRN (points)",
       "ours+-", digits=0, unit="points"),
    _Q("rtrl", f"{_S}/01-rnn", "time per step, log-log slope over n = 4..32: RTRL minus BPTT"),
    _Q("lstm", f"{_S}/02-lstm", "LSTM (1997 cell): test sequences wrong of 2560, adding problem T=100", "ours+-",
       digits=0, unit="of 2,560"),
    _Q("lstm-paper", f"{_S}/02-lstm", "LSTM (1997 cell): test sequences wrong of 2560, adding problem T=100",
       "paper", digits=0),
    _Q("lstm-gradient", f"{_S}/02-lstm",
       "error reaching the first step at T=100, at initialisation: log10(LSTM / tanh RNN)", digits=0),
    _Q("forget-gate", f"{_S}/03-learning-to-forget", _FORGET, digits=0),
    _Q("forget-gate-paper", f"{_S}/03-learning-to-forget", _FORGET, "paper", digits=0),
    _Q("forget-gate-count", f"{_S}/03-learning-to-forget", _FORGET, "count", pattern=_RUNS),
    _Q("forget-gate-runs", f"{_S}/03-learning-to-forget", _FORGET, "setting", pattern=_RUNS),
    _Q("no-forget-gate", f"{_S}/03-learning-to-forget", _NO_FORGET, digits=0),
    _Q("no-forget-gate-count", f"{_S}/03-learning-to-forget", _NO_FORGET, "count", pattern=_RUNS),
    _Q("forget-gate-norm", f"{_S}/03-learning-to-forget",
       "cell-state norm at the end of a test stream, 1997 LSTM / forget gate", "ours+-", digits=0),
    _Q("gru", f"{_S}/04-gru", "JSB Chorales test NLL per time step: tanh RNN minus the better gated unit", "ours+-",
       digits=2, unit="nats per time step"),
    _Q("gru-alone", f"{_S}/04-gru", "JSB Chorales test NLL per time step: tanh RNN minus GRU", "ours+-", digits=2,
       absolute=True, expect=False, unit="nats per time step", sign=-1),
    _Q("gru-text", f"{_S}/04-gru",
       "Tiny Shakespeare held-out bits per character: tanh RNN minus the better gated unit", "ours+-", digits=2,
       unit="bits per character"),
    _Q("word2vec", f"{_S}/05-word2vec", "analogy accuracy at equal passes: subsampled minus not (points)", "ours+-",
       expect=False, unit="points", absolute=True, sign=-1),
    _Q("word2vec-paper", f"{_S}/05-word2vec", "analogy accuracy at equal passes: subsampled minus not (points)",
       "paper", digits=0, expect=False),
    _Q("word2vec-pairs", f"{_S}/05-word2vec", "training pairs: no subsampling / subsampling, same passes"),
    _Q("seq2seq", f"{_S}/06-seq2seq", "test BLEU, reversed minus forward source (greedy, Multi30k en-fr)", "ours+-",
       unit="BLEU"),
    _Q("seq2seq-paper", f"{_S}/06-seq2seq", "test BLEU, reversed minus forward source (greedy, Multi30k en-fr)",
       "paper"),
    _Q("attention", f"{_S}/07-attention",
       "test BLEU, RNNsearch minus RNNencdec of the same size (greedy, Multi30k en-fr)", "ours+-", unit="BLEU"),
    _Q("attention-paper", f"{_S}/07-attention",
       "test BLEU, RNNsearch minus RNNencdec of the same size (greedy, Multi30k en-fr)", "paper"),
    _Q("moe", f"{_S}/08-mixture-of-experts", "CV(Importance) on held-out text: no balancing losses / losses at 0.1",
       "ours+-", digits=0),
    _Q("moe-paper", f"{_S}/08-mixture-of-experts",
       "CV(Importance) on held-out text: no balancing losses / losses at 0.1", "paper", digits=0),
    _Q("moe-dense", f"{_S}/08-mixture-of-experts",
       "held-out bits per character: dense (same compute) minus MoE with losses", "ours+-", digits=2,
       expect=False, unit="bits per character"),
    _Q("positions", f"{_T}/01-transformer", "copy-task token accuracy, sinusoidal minus no positions (points)",
       digits=0),
    _Q("transformer-bleu", f"{_T}/01-transformer",
       "test BLEU, Transformer minus RNNsearch, same data and one pass (Multi30k en-fr, greedy)", absolute=True,
       expect=False, sign=-1),
    _Q("scaling", f"{_T}/04-gpt", "validation loss falls as a power law in N at fixed tokens (R^2 >= 0.95, every "
       "step >= 3 seed sd): exponent alpha_N", digits=3),
    _Q("scaling-paper", f"{_T}/04-gpt", "validation loss falls as a power law in N at fixed tokens (R^2 >= 0.95, "
       "every step >= 3 seed sd): exponent alpha_N", "paper", digits=3),
    _Q("scaling-r2", f"{_T}/04-gpt", "power-law fit of validation loss against N: R^2", digits=3),
    _Q("scaling-gap", f"{_T}/04-gpt", "smallest loss gap between neighbouring sizes, in seed standard deviations"),
    _Q("icl", f"{_T}/04-gpt", "few-shot accuracy on held-out ciphers, as a fraction of the best possible (2-layer GPT)",
       digits=2, expect=False),
    _Q("lora", f"{_T}/05-lora", _LORA, "ours+-", absolute=True, expect=False, unit="points", sign=-1),
    _Q("lora-steps", f"{_T}/05-lora", _LORA, "setting", pattern=r"(\d+) steps of", field="note"),
    _Q("lora-merge", f"{_T}/05-lora", "largest |adapted - merged| logit on the SST-2 dev set (millionths)", digits=1,
       scale=1e-6, sci=True),
    _Q("parzen", f"{_G}/01-gan", "Parzen log-likelihood, k-means centroids minus real training digits (nats)",
       digits=0, unit="nats", sign=1),
    _Q("guidance", f"{_G}/03-diffusion", "class agreement of the judge, guided (scale 3) minus unguided (points)",
       "ours+-", unit="points", sign=1),
    _Q("guidance-precision", f"{_G}/03-diffusion", "precision, guided (scale 3) minus unguided", "ours+-", digits=3,
       absolute=True, expect=False, sign=-1),
    _Q("guidance-recall", f"{_G}/03-diffusion", "recall, unguided minus guided (scale 3)", "ours+-", digits=3,
       absolute=True, expect=False, sign=-1),
    _Q("vq", f"{_G}/02-vae", "VQ-VAE / continuous VAE, bound in bits per dimension (learned prior over the codes)",
       digits=2, expect=False),
    _Q("vq-paper", f"{_G}/02-vae", "VQ-VAE / continuous VAE, bound in bits per dimension (learned prior over the "
       "codes)", "paper", digits=3, expect=False),
    _Q("bert", f"{_T}/02-bert", "SST-2 dev accuracy with 1,000 labelled phrases, pre-trained minus from scratch "
       "(points)", "ours+-", expect=False, unit="points"),
    _Q("bert-5k", f"{_T}/02-bert", "SST-2 dev accuracy with 5,000 labelled phrases, pre-trained minus from scratch "
       "(points)", "ours+-", unit="points", sign=1),
    _Q("bert-n", f"{_T}/02-bert", "SST-2 dev accuracy with 1,000 labelled phrases, pre-trained minus from scratch "
       "(points)", "setting", pattern=r"with ([\d,]+) labelled"),
    _Q("bert-5k-n", f"{_T}/02-bert", "SST-2 dev accuracy with 5,000 labelled phrases, pre-trained minus from scratch "
       "(points)", "setting", pattern=r"with ([\d,]+) labelled"),
    _Q("rlhf-bon", f"{_T}/06-rlhf", "best-of-64: labeler (gold) gain / reward model (proxy) gain over best-of-1, both "
       "in sd of the pre-trained model's continuations (below 1: the proxy overstates the gain)", digits=2),
    _Q("rlhf-bon-n", f"{_T}/06-rlhf", "best-of-64: labeler (gold) gain / reward model (proxy) gain over best-of-1, "
       "both in sd of the pre-trained model's continuations (below 1: the proxy overstates the gain)", "setting",
       pattern=r"best-of-(\d+):"),
    _Q("rlhf", f"{_T}/06-rlhf", "labeler win rate of the tuned policy over the pre-trained model, 1,000 held-out "
       "prompts (%)", "ours+-", unit="%"),
    _Q("rlhf-lexicon", f"{_T}/06-rlhf", "independent judge (opinion lexicon) win rate of the tuned policy over the "
       "pre-trained model (%)", "ours+-", unit="%"),
    _Q("t5", f"{_T}/03-t5", "SST-2 dev accuracy with 2,000 labelled phrases, pre-trained minus from scratch (points)",
       "ours+-", expect=False, unit="points", sign=-1, absolute=True),
    _Q("t5-steps", f"{_T}/03-t5", "SST-2 dev accuracy with 2,000 labelled phrases, pre-trained minus from scratch "
       "(points)", "setting", pattern=r"(\d+) pre-training steps", field="note"),
    _Q("clip", f"{_G}/05-clip", "zero-shot accuracy on (digit, colour) pairs no training image or caption showed, "
       "contrastive minus bag-of-words prediction (points)", "ours+-", unit="points", sign=1),
    _Q("clip-seen", f"{_G}/05-clip", "zero-shot accuracy on test images of pairs seen in training, contrastive minus "
       "bag-of-words prediction, same image encoder and steps (points)", "ours+-", absolute=True, expect=False,
       unit="points", sign=-1),
    _Q("ldm-speed", f"{_G}/04-latent-diffusion", "sampling speed, latents (decoder included) over pixels, same sampler "
       "and steps (x)", "ours+-"),
    _Q("ldm-colour", f"{_G}/04-latent-diffusion", "classifier-free guidance: judge sees the caption's colour, s = 3 "
       "minus s = 1 (points)", "ours+-", unit="points", sign=1),
    _Q("dalle", f"{_G}/06-dall-e", _DALLE, "ours+-", unit="%"),
    _Q("dalle-n", f"{_G}/06-dall-e", _DALLE, "setting", pattern=r"best of (\d+)"),
    _Q("dalle-rerank", f"{_G}/06-dall-e", "CLIP reranking: best of 8 minus a random candidate, held-out pairs (points)",
       "ours+-", unit="points", sign=1),
    _Q("dalle-control", f"{_G}/06-dall-e", "held-out (digit, colour) pairs, CLIP's pick of 8: drawn for the caption "
       "minus drawn digit-blind (a random digit word) (points; sampling seeds of one trained model)", "ours+-",
       unit="points", sign=1),
    _Q("vit", f"{_T}/07-vision-transformer", "CNN minus ViT test accuracy: at 1,000 images minus at 60,000 (points)",
       "ours+-", unit="points"),
    _Q("vit-small", f"{_T}/07-vision-transformer", _VIT_SMALL),
    _Q("vit-small-n", f"{_T}/07-vision-transformer", _VIT_SMALL, "setting", pattern=r"at ([\d,]+) images"),
    _Q("vit-large", f"{_T}/07-vision-transformer", "ViT minus CNN test accuracy at 60,000 images (points)",
       "ours+-", expect=False, unit="points", sign=1),
]


@dataclass(frozen=True)
class Route:
    key: str
    title: str
    topics: tuple[str, ...]


ROUTES = [
    Route("transformers", "The fastest route to Transformers",
          (f"{_D}/01-dnn", f"{_T}/01-transformer", f"{_T}/04-gpt", f"{_T}/05-lora")),
    Route("images", "The route to image generation",
          (f"{_D}/01-dnn", f"{_D}/02-cnn", f"{_D}/04-u-net", f"{_T}/01-transformer", f"{_T}/04-gpt",
           "05-image-generation/01-gan", "05-image-generation/02-vae", "05-image-generation/03-diffusion",
           "05-image-generation/04-latent-diffusion", "05-image-generation/05-clip",
           "05-image-generation/06-dall-e")),
]

BY_PATH = {t.path: t for t in curriculum.TOPICS}


# --- the graph of prerequisites ------------------------------------------------------------------------------------


def requires_problems(topics=None) -> list[str]:
    """What is wrong with the topics' ``requires``: unknown topics, self-references, repeats and cycles."""
    topics = list(topics if topics is not None else curriculum.TOPICS)
    known = {t.path for t in topics}
    problems = []
    for t in topics:
        for r in t.requires:
            if r not in known:
                problems.append(f"{t.path} requires {r!r}, which is no topic (write a topic's path, section/folder)")
            elif r == t.path:
                problems.append(f"{t.path} requires itself")
        if len(set(t.requires)) != len(t.requires):
            problems.append(f"{t.path} names a prerequisite twice")
    graph = {t.path: [r for r in t.requires if r in known and r != t.path] for t in topics}
    state: dict[str, int] = {}  # 1: on the current path, 2: done

    def visit(node: str, path: list[str]) -> None:
        state[node] = 1
        for r in graph[node]:
            if state.get(r) == 1:
                cycle = path[path.index(r):] + [r] if r in path else [node, r]
                problems.append("cycle: " + " -> ".join(reversed(cycle)))
            elif r not in state:
                visit(r, path + [r])
        state[node] = 2

    for t in topics:
        if t.path not in state:
            visit(t.path, [t.path])
    return problems


def depths(topics=None) -> dict[str, int]:
    """Each topic's depth in the graph: 0 without prerequisites, else one more than its deepest prerequisite."""
    topics = list(topics if topics is not None else curriculum.TOPICS)
    by_path = {t.path: t for t in topics}
    memo: dict[str, int] = {}

    def depth(p: str) -> int:
        if p not in memo:
            memo[p] = 1 + max((depth(r) for r in by_path[p].requires), default=-1)
        return memo[p]

    return {t.path: depth(t.path) for t in topics}


# --- reading results -----------------------------------------------------------------------------------------------


def statuses(root: Path) -> dict[str, str]:
    return {t.path: curriculum.status(root, t) for t in curriculum.TOPICS}


def _records(root: Path, topic: str) -> list[dict]:
    path = root / topic / "results.json"
    if not path.exists():
        raise CliError(f"OVERVIEW.md quotes {topic}, which has no results.json yet")
    return results.load(path)


def _fmt(v: float, digits: int) -> str:
    return f"{v:,.{digits}f}"


_SUPERSCRIPT = str.maketrans("-0123456789", "⁻⁰¹²³⁴⁵⁶⁷⁸⁹")


def _sci(v: float, digits: int) -> str:
    """``v`` as "3.0 × 10⁻⁷", ``digits`` digits after the point."""
    mantissa, exponent = f"{v:.{digits}e}".split("e")
    return f"{mantissa} × 10{str(int(exponent)).translate(_SUPERSCRIPT)}"


def _find(q: Quote, records: list[dict]) -> dict:
    names = (q.metric, *q.also)
    found = [r for r in records if r["metric"] in names]
    if len(found) != 1:
        named = repr(q.metric) + "".join(f" (or {n!r})" for n in q.also)
        raise CliError(f"OVERVIEW.md quotes {q.topic}: {named}, which its results.json "
                       f"{'lacks' if not found else 'holds twice'}: update overview.QUOTES ({q.key}) and the sentence")
    return found[0]


def _setting(q: Quote, r: dict) -> str:
    m = re.search(q.pattern, str(r.get(q.field) or "")) if q.pattern else None
    if m is None:
        raise CliError(f"{q.topic}: {r['metric']!r}: its {q.field} no longer states the setting that OVERVIEW.md's "
                       f"sentence around <!-- overview:{q.key}:start --> quotes (pattern {q.pattern!r}): rewrite "
                       f"the sentence, then fix {q.key!r} in overview.QUOTES")
    return m.group(1)


def quote_text(q: Quote, records: list[dict]) -> str:
    r = _find(q, records)
    if q.show == "setting":
        return _setting(q, r)
    if bool(r["reproduced"]) != q.expect:
        now = "reproduced" if r["reproduced"] else "did not reproduce"
        raise CliError(f"{q.topic}: {r['metric']!r} now {now}; OVERVIEW.md's sentence around "
                       f"<!-- overview:{q.key}:start --> says otherwise: rewrite it, then set expect={r['reproduced']} "
                       f"for {q.key!r} in overview.QUOTES")
    if q.show == "paper":
        if r["paper"] is None:
            raise CliError(f"{q.topic}: {r['metric']!r} has no paper number to quote ({q.key})")
        value = r["paper"]
    else:
        value = r["ours"]
    if q.show == "count":
        runs = int(_setting(q, r).replace(",", ""))
        count = value * runs / 100
        if abs(count - round(count)) > 1e-6:
            raise CliError(f"{q.topic}: {r['metric']!r} is {value:g}%, not a whole number of {runs} runs ({q.key})")
        return str(round(count))
    if q.absolute and q.sign not in (1, -1):
        raise CliError(f"overview.QUOTES {q.key!r}: an absolute value needs the sign its sentence relies on (sign=±1)")
    if q.sign and (value > 0) - (value < 0) != q.sign:
        raise CliError(f"{q.topic}: {r['metric']!r} is now {value:g}, of the other sign; OVERVIEW.md's sentence "
                       f"around <!-- overview:{q.key}:start --> relies on its sign: rewrite it, then fix {q.key!r} in "
                       f"overview.QUOTES")
    fix = abs if q.absolute else (lambda v: v)
    value = fix(value) * q.scale
    text = _sci(value, q.digits) if q.sci else _fmt(value, q.digits)
    unit = ("" if q.unit.startswith("%") else " ") + q.unit if q.unit else ""
    if q.show == "ours+-" and r.get("n_seeds"):
        sd = r["sd"] * q.scale
        sd_digits = q.digits  # at least one significant digit of the sd: "0.984 ± 0.0004", never "± 0.000"
        while sd and round(sd, sd_digits) == 0 and sd_digits < 6:
            sd_digits += 1
        return f"{text} ± {_fmt(sd, sd_digits)}{unit} over {r['n_seeds']} seeds"
    return text + unit


def _minutes(seconds: float) -> str:
    return f"{seconds / 60:.0f} min"


def _topic_link(root: Path, path: str) -> str:
    """The topic's folder name, linked to the folder where it exists."""
    folder = BY_PATH[path].folder
    return f"[{folder}]({path}/)" if (root / path).is_dir() else folder


def topic_seconds(root: Path) -> dict[str, float]:
    """The wall time of each topic's committed full run (its headline record's ``seconds``)."""
    out = {}
    for t in curriculum.TOPICS:
        path = root / t.path / "results.json"
        if path.exists():
            out[t.path] = float(headline_of(results.load(path), path.relative_to(root))["seconds"])
    return out


def route_table(root: Path, route: Route) -> str:
    secs, states = topic_seconds(root), statuses(root)
    lines = ["| step | topic | | status | run time |", "|---|---|---|---|---|"]
    for i, p in enumerate(route.topics, 1):
        time = _minutes(secs[p]) if p in secs else "-"
        lines.append(f"| {i} | {_topic_link(root, p)} | {BY_PATH[p].title} | {states[p]} | {time} |")
    done = [p for p in route.topics if p in secs]
    lines.append(f"| | **{len(done)} of {len(route.topics)} written** | | | "
                 f"**{_minutes(sum(secs[p] for p in done))}** |")
    return "\n".join(lines)


def full_route_table(root: Path) -> str:
    secs, states = topic_seconds(root), statuses(root)
    lines = ["| section | notebooks written | planned | run time |", "|---|---|---|---|"]
    for section, title in curriculum.SECTIONS.items():
        paths = [t.path for t in curriculum.TOPICS if t.section == section]
        done = [p for p in paths if p in secs]
        name = f"[{section[:2]} {title}]({section}/)" if (root / section).is_dir() else f"{section[:2]} {title}"
        lines.append(f"| {name} | {len(done)} | {sum(states[p] == 'planned' for p in paths)} | "
                     f"{_minutes(sum(secs[p] for p in done))} |")
    lines.append(f"| **all** | **{len(secs)}** | **{sum(s == 'planned' for s in states.values())}** | "
                 f"**{_minutes(sum(secs.values()))}** |")
    return "\n".join(lines)


def _count(n: int, one: str, many: str) -> str:
    return f"{n} {one if n == 1 else many}"


def _passed_not_asserted(root: Path) -> list[str]:
    """The topics counted as reproduced whose headline claim passed in the committed run but is not asserted
    (``reproduced`` true, ``asserted`` false): it passed there, but not robustly enough for the notebook to insist."""
    out = []
    for t in curriculum.TOPICS:
        if curriculum.status(root, t) == "reproduced":
            path = root / t.path / "results.json"
            r = headline_of(results.load(path), path.relative_to(root))
            if r["reproduced"] and not r.get("asserted", True):
                out.append(t.folder)
    return out


def status_sentence(root: Path) -> str:
    states = statuses(root)
    n = {s: sum(v == s for v in states.values()) for s in STATUS_COLOURS}
    loose = _passed_not_asserted(root)
    text = (f"Of the {len(states)} topics, {_count(n['reproduced'] + n['not reproduced'], 'has', 'have')} a "
            f"committed full run: {_count(n['reproduced'] - len(loose), 'reproduces its', 'reproduce their')} "
            f"paper's key claim and {_count(n['not reproduced'], 'does', 'do')} not")
    if loose:
        one = len(loose) == 1
        text += (f"; {len(loose)} more ({', '.join(loose)}) passed in {'its' if one else 'their'} committed "
                 f"run{'' if one else 's'} but {'is' if one else 'are'} not asserted, because "
                 f"{'it' if one else 'they'} did not pass robustly")
    if n["in progress"]:
        text += f"; {_count(n['in progress'], 'is', 'are')} in progress"
    return text + f"; {_count(n['planned'], 'is', 'are')} planned."


def _ours_rounded(r: dict, topic: str) -> str:
    """A record's own value as the prose rounds it: with the digits of a quote of the same row, else two."""
    digits = next((q.digits for q in QUOTES if q.topic == topic and r["metric"] in (q.metric, *q.also)
                   and q.show in ("ours", "ours+-") and not q.sci and q.scale == 1), 2)
    text = _fmt(r["ours"], digits)
    if r.get("n_seeds"):
        sd_digits = digits
        while r["sd"] and round(r["sd"], sd_digits) == 0 and sd_digits < 6:
            sd_digits += 1
        text += f" ± {_fmt(r['sd'], sd_digits)} ({r['n_seeds']} seeds)"
    return text


def not_reproduced_table(root: Path) -> str:
    lines = ["| topic | the paper's key claim | what we measured | ours | paper |", "|---|---|---|---|---|"]
    for t in curriculum.TOPICS:
        if curriculum.status(root, t) != "not reproduced":
            continue
        path = root / t.path / "results.json"
        r = headline_of(results.load(path), path.relative_to(root))
        cells = [_topic_link(root, t.path), t.claim, r["metric"], _ours_rounded(r, t.path), results._num(r["paper"])]
        lines.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
    return "\n".join(lines)


def secondary_sentence(root: Path) -> str:
    rows = [r for t in curriculum.TOPICS if (root / t.path / "results.json").exists()
            for r in _records(root, t.path) if not r.get("headline")]
    failed = [r for r in rows if not r["reproduced"]]
    return f"{len(failed)} of the {len(rows)}"


def total_hours(root: Path) -> str:
    return f"{sum(topic_seconds(root).values()) / 3600:.1f}"


def overview_numbers(root: Path, keys=None) -> dict[str, str]:
    """The generated spans of OVERVIEW.md, by key (all of them, or those in ``keys``): the quoted numbers
    (``QUOTES``), the status sentence, the table of claims that did not reproduce and the reading routes, all from
    the committed results.json files. An unknown key is an error."""
    records: dict[str, list[dict]] = {}

    def quote(q: Quote) -> str:
        if q.topic not in records:
            records[q.topic] = _records(root, q.topic)
        return quote_text(q, records[q.topic])

    make = {q.key: (lambda q=q: quote(q)) for q in QUOTES}
    make.update({
        "status": lambda: status_sentence(root),
        "not-reproduced": lambda: "\n" + not_reproduced_table(root) + "\n",
        "secondary": lambda: secondary_sentence(root),
        "total-hours": lambda: total_hours(root),
        "route:full": lambda: "\n" + full_route_table(root) + "\n",
    })
    for route in ROUTES:
        make[f"route:{route.key}"] = lambda route=route: "\n" + route_table(root, route) + "\n"
    keys = list(make) if keys is None else list(keys)
    unknown = sorted(set(keys) - set(make))
    if unknown:
        raise CliError(f"OVERVIEW.md has generated spans that nothing generates: {unknown}")
    return {k: make[k]() for k in keys}


def render(text: str, numbers) -> str:
    """``text`` with each generated span replaced by ``numbers(keys)[key]``, where ``keys`` are the keys of the
    spans in ``text``; a key that ``numbers`` does not give is an error."""
    keys = sorted({m["key"] for m in MARKER.finditer(text)})
    if not keys:
        return text
    blocks = numbers(keys)
    missing = [k for k in keys if k not in blocks]
    if missing:
        raise CliError(f"OVERVIEW.md has generated spans that nothing generates: {missing}")
    return MARKER.sub(lambda m: f"<!-- overview:{m['key']}:start -->{blocks[m['key']]}"
                                f"<!-- overview:{m['key']}:end -->", text)


# --- the paper list ------------------------------------------------------------------------------------------------


def _wrap(text: str, indent: str = "  ", width: int = 120) -> str:
    return textwrap.fill(text, width=width, initial_indent="- ", subsequent_indent=indent, break_long_words=False,
                         break_on_hyphens=False)


def paper_list_markdown(root: Path | None = None) -> str:
    """PAPERS.md: every citation of ``papers.CITATIONS`` by section and topic, each with its link(s). A topic is
    linked to its folder when ``root`` holds it."""
    n = sum(len(c) for c in papers.CITATIONS.values())
    intro = [f"Every paper the curriculum cites ({n} citations in {len(papers.CITATIONS)} topics; a paper cited by "
             "two topics is listed under both), grouped by section and topic: the full citation and a link to the "
             "paper, never a copy. Planned topics list the papers they are planned to reproduce.",
             "Generated by `dlhist overview` from `dlhist/tools/papers.py`, which a test keeps equal to the \"Papers\" "
             "section of each topic's README; do not edit this file by hand."]
    out = ["# Papers", ""]
    for paragraph in intro:
        out += [textwrap.fill(paragraph, 120, break_long_words=False, break_on_hyphens=False), ""]
    for section, title in curriculum.SECTIONS.items():
        out += [f"## {section[:2]} {title}", ""]
        for t in (t for t in curriculum.TOPICS if t.section == section):
            exists = root is not None and (root / t.path).is_dir()
            head = f"{t.folder[:2]} · {t.title}"
            out += [f"### [{head}]({t.path}/)" if exists else f"### {head} (planned)", ""]
            for c in papers.CITATIONS[t.path]:
                extra = [u for u in papers.links(c) if u not in c]
                out.append(_wrap(c + ("" if not extra else " " + " · ".join(extra))))
            out.append("")
    return "\n".join(out).rstrip() + "\n"


# --- the tech tree -------------------------------------------------------------------------------------------------


def tree_data(root: Path) -> list[dict]:
    states = statuses(root)
    return [{"topic": t.path, "label": LABELS[t.path], "status": states[t.path], "requires": list(t.requires)}
            for t in curriculum.TOPICS]


def tree_digest(root: Path) -> str:
    payload = json.dumps({"layout": TREE_LAYOUT, "nodes": tree_data(root)}, sort_keys=True)
    return hashlib.sha256(payload.encode()).hexdigest()[:16]


def figure_digest(path: Path) -> str | None:
    """The digest a tech-tree PNG was drawn from (None if the file is missing or carries none)."""
    if not path.exists():
        return None
    from PIL import Image

    with Image.open(path) as im:
        m = re.search(r"digest ([0-9a-f]{16})", im.info.get("Description", ""))
    return m.group(1) if m else None


def tree_layout(topics=None) -> dict[str, tuple[float, float]]:
    """(x, y) of each topic: a column per depth, a horizontal band per section, and within a band's column the
    topics in the order of their prerequisites' heights (then curriculum order), to keep arrows short."""
    topics = list(topics if topics is not None else curriculum.TOPICS)
    depth = depths(topics)
    order = {t.path: i for i, t in enumerate(topics)}
    sections = list(dict.fromkeys(t.section for t in topics))
    cells: dict[tuple[str, int], list[str]] = {}
    for t in topics:
        cells.setdefault((t.section, depth[t.path]), []).append(t.path)
    band = {s: max(len(v) for (sec, _), v in cells.items() if sec == s) for s in sections}
    pos: dict[str, tuple[float, float]] = {}
    top = 0.0
    by_path = {t.path: t for t in topics}
    for s in sections:
        for d in sorted(d for (sec, d) in cells if sec == s):
            members = cells[(s, d)]

            def key(p, by_path=by_path):
                ys = [pos[r][1] for r in by_path[p].requires if r in pos]
                return (-(sum(ys) / len(ys)) if ys else 0.0, order[p])

            members = sorted(members, key=key) if d else members
            offset = (band[s] - len(members)) / 2
            for i, p in enumerate(members):
                pos[p] = (float(d), -(top + offset + i))
        top += band[s] + 0.6
    return pos


def tech_tree_figure(root: Path, path: Path | str) -> Path:
    """Draw the tech tree (matplotlib only) to ``path``, a PNG that carries the digest of what it draws."""
    from matplotlib.figure import Figure
    from matplotlib.patches import FancyArrowPatch, FancyBboxPatch, Patch

    problems = requires_problems()
    if problems:
        raise CliError("the topics' prerequisites are broken: " + "; ".join(problems))
    path = Path(path)
    states = statuses(root)
    pos = tree_layout()
    dx, w, h = 2.1, 1.55, 0.62
    xs = [x * dx for x, _ in pos.values()]
    ys = [y for _, y in pos.values()]
    margin = 2.7  # room on the left for the section names
    width, height = max(xs) - min(xs) + margin + w / 2 + 0.6, max(ys) - min(ys) + 2.2
    fig = Figure(figsize=(width * 0.95, height * 0.62))
    ax = fig.add_axes((0, 0, 1, 1))
    ax.set_xlim(min(xs) - margin, max(xs) + w / 2 + 0.4)
    ax.set_ylim(min(ys) - 1.4, max(ys) + 0.8)
    ax.axis("off")
    # section bands, labelled on the left
    for i, (section, title) in enumerate(curriculum.SECTIONS.items()):
        band_ys = [pos[t.path][1] for t in curriculum.TOPICS if t.section == section]
        lo, hi = min(band_ys) - 0.5, max(band_ys) + 0.5
        ax.axhspan(lo, hi, color="#f4f4f4" if i % 2 == 0 else "#ffffff", zorder=0)
        name = "\n".join(textwrap.wrap(title, 18))
        ax.text(min(xs) - margin + 0.1, (lo + hi) / 2, f"{section[:2]}\n{name}", ha="left", va="center", fontsize=10,
                color="#444444", fontweight="bold")
    for t in curriculum.TOPICS:  # arrows first, under the boxes
        x1, y1 = pos[t.path]
        for r in t.requires:
            x0, y0 = pos[r]
            if x1 - x0 <= 1:
                rad = 0.0
            elif abs(y1 - y0) < 1e-9:  # along a row, past the boxes in between: sag by about 0.45 below them
                rad = 0.9 / ((x1 - x0) * dx - w)
            else:
                rad = 0.12 if y1 > y0 else -0.12
            colour = "#666666" if x1 - x0 <= 2 else "#aaaaaa"  # long arrows lighter, so that they cross quietly
            ax.add_patch(FancyArrowPatch((x0 * dx + w / 2, y0), (x1 * dx - w / 2, y1), arrowstyle="-|>",
                                         mutation_scale=9, color=colour, lw=0.8, zorder=1,
                                         connectionstyle=f"arc3,rad={rad}", shrinkA=0, shrinkB=1))
    for t in curriculum.TOPICS:
        x, y = pos[t.path]
        colour = STATUS_COLOURS[states[t.path]]
        ax.add_patch(FancyBboxPatch((x * dx - w / 2, y - h / 2), w, h, boxstyle="round,pad=0.02,rounding_size=0.12",
                                    facecolor=colour, edgecolor="#555555", lw=0.8, zorder=2))
        ax.text(x * dx, y + 0.1, LABELS[t.path], ha="center", va="center", fontsize=9, zorder=3)
        ax.text(x * dx, y - 0.17, f"{t.section[:2]}/{t.folder[:2]}", ha="center", va="center", fontsize=7,
                color="#333333", zorder=3)
    present = [s for s in STATUS_COLOURS if s in states.values()]
    ax.legend(handles=[Patch(facecolor=STATUS_COLOURS[s], edgecolor="#555555", label=s) for s in present],
              loc="lower right", ncol=len(present), frameon=False, fontsize=10)
    ax.text(min(xs) - margin + 0.1, min(ys) - 1.0, "An arrow points from a topic to one that builds on it. Colour: the "
            "status of the topic's key claim in its committed results.json. Drawn by `dlhist overview`.",
            ha="left", va="center", fontsize=9, color="#444444")
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110, metadata={"Description": f"dlhist tech tree, digest {tree_digest(root)}",
                                         "Software": None})
    return path


# --- the command ---------------------------------------------------------------------------------------------------


def stale(root: Path) -> dict[str, str | None]:
    """What ``dlhist overview`` would rewrite: {relative path: new text, or None for the figure}."""
    out: dict[str, str | None] = {}
    overview = root / OVERVIEW
    if not overview.exists():
        raise CliError(f"{overview} is missing: the overview essay holds the generated spans this command fills")
    text = overview.read_text()
    new = render(text, lambda keys: overview_numbers(root, keys))
    if new != text:
        out[OVERVIEW] = new
    plist = paper_list_markdown(root)
    if not (root / PAPERS).exists() or (root / PAPERS).read_text() != plist:
        out[PAPERS] = plist
    if figure_digest(root / TREE) != tree_digest(root):
        out[TREE] = None
    return out


def update(root: Path) -> list[str]:
    """Rewrite what is out of date; returns the relative paths written."""
    todo = stale(root)  # everything is computed before anything is written
    for rel, text in todo.items():
        if text is None:
            tech_tree_figure(root, root / rel)
        else:
            (root / rel).write_text(text)
    return list(todo)
