"""The curriculum: sections, topics, papers and claims. ``dlhist list`` prints it; tests check it against the disk.

Each topic's ``claim`` is the paper's own key claim in one line; its notebook records it as the headline claim
(``record(..., headline=True)``). Planned topics are the intended course; their folder names may change when their
issue is written (the README's curriculum table must follow: a test checks it). Each topic's ``requires`` names the
topics it builds on; ``dlhist overview`` draws them as the tech tree (images/tech-tree.png), and a test checks that
they name real topics and form no cycle.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Topic:
    section: str
    folder: str
    title: str
    papers: str
    claim: str = ""
    requires: tuple[str, ...] = ()  # the topics (paths) whose ideas this one builds on: the tech tree's edges

    @property
    def path(self) -> str:
        return f"{self.section}/{self.folder}"


SECTIONS = {
    "01-deep-neural-networks": "Deep neural networks",
    "02-optimization-and-regularization": "Optimization and regularization",
    "03-sequence-modeling": "Sequence modeling",
    "04-transformers": "Transformers",
    "05-image-generation": "Image generation",
}

_T = Topic
TOPICS: list[Topic] = [
    _T("01-deep-neural-networks", "01-dnn", "Perceptron, backprop and the MLP",
       "Rosenblatt 1958; Minsky & Papert 1969; Rumelhart, Hinton & Williams 1986",
       "backprop trains hidden units that learn internal representations, beyond a single perceptron"),
    _T("01-deep-neural-networks", "02-cnn", "Convolutional networks: LeNet", "LeCun et al. 1989; LeCun et al. 1998",
       "local receptive fields, shared weights and subsampling: LeNet-5 reaches 0.95% MNIST test error",
       requires=("01-deep-neural-networks/01-dnn",)),
    _T("01-deep-neural-networks", "03-alex-net", "AlexNet and VGG",
       "Krizhevsky, Sutskever & Hinton 2012; Simonyan & Zisserman 2014",
       "deep ReLU CNNs train several times faster than tanh ones; depth with small 3x3 filters wins",
       requires=("01-deep-neural-networks/02-cnn",)),
    _T("01-deep-neural-networks", "04-u-net", "U-Net segmentation", "Ronneberger, Fischer & Brox 2015",
       "a U-shaped net with skip connections segments precisely from very few annotated images",
       requires=("01-deep-neural-networks/02-cnn",)),
    _T("02-optimization-and-regularization", "01-weight-decay", "Weight decay",
       "Krogh & Hertz 1991; Loshchilov & Hutter 2019",
       "weight decay improves generalisation; for Adam, decoupled decay (AdamW) beats an L2 penalty",
       requires=("01-deep-neural-networks/01-dnn",)),
    _T("02-optimization-and-regularization", "02-relu", "Rectified linear units",
       "Glorot, Bordes & Bengio 2011; Nair & Hinton 2010",
       "rectifier nets reach a lower test error than tanh nets without pre-training, and learn sparse codes",
       requires=("01-deep-neural-networks/01-dnn",)),
    _T("02-optimization-and-regularization", "03-residuals", "Residual networks", "He, Zhang, Ren & Sun 2015",
       "deeper plain nets train worse (degradation); residual nets gain accuracy from depth",
       requires=("01-deep-neural-networks/03-alex-net", "02-optimization-and-regularization/05-batch-norm")),
    _T("02-optimization-and-regularization", "04-dropout", "Dropout", "Srivastava et al. 2014",
       "randomly dropping units prevents co-adaptation and lowers test error",
       requires=("01-deep-neural-networks/01-dnn",)),
    _T("02-optimization-and-regularization", "05-batch-norm", "Batch normalization", "Ioffe & Szegedy 2015",
       "normalising layer inputs per mini-batch trains in far fewer steps, at higher learning rates",
       requires=("01-deep-neural-networks/01-dnn",)),
    _T("02-optimization-and-regularization", "06-layer-norm", "Layer normalization", "Ba, Kiros & Hinton 2016",
       "normalising over a layer's units works at any batch size and speeds up RNN training",
       requires=("02-optimization-and-regularization/05-batch-norm",)),
    _T("02-optimization-and-regularization", "07-gelu", "GELU", "Hendrycks & Gimpel 2016",
       "the GELU matches or beats ReLU and ELU across tasks",
       requires=("02-optimization-and-regularization/02-relu",)),
    _T("02-optimization-and-regularization", "08-adam", "Adam", "Kingma & Ba 2014",
       "Adam converges as fast as or faster than other stochastic optimizers, with little tuning",
       requires=("01-deep-neural-networks/01-dnn",)),
    _T("03-sequence-modeling", "01-rnn", "Recurrent networks", "Williams & Zipser 1989; Elman 1990",
       "an RNN trained only to predict the next item finds structure (word classes); RTRL is exact but costly",
       requires=("01-deep-neural-networks/01-dnn",)),
    _T("03-sequence-modeling", "02-lstm", "Long short-term memory", "Hochreiter & Schmidhuber 1997",
       "LSTM bridges lags of 100-1000 steps where BPTT/RTRL RNNs fail",
       requires=("03-sequence-modeling/01-rnn",)),
    _T("03-sequence-modeling", "03-learning-to-forget", "Learning to forget: the forget gate",
       "Gers, Schmidhuber & Cummins 2000",
       "on continual streams the 1997 LSTM's state grows and it fails; a forget gate fixes it",
       requires=("03-sequence-modeling/02-lstm",)),
    _T("03-sequence-modeling", "04-gru", "Gated recurrent units", "Cho et al. 2014; Chung et al. 2014",
       "gated units beat tanh RNNs; GRU and LSTM are comparable",
       requires=("03-sequence-modeling/03-learning-to-forget",)),
    _T("03-sequence-modeling", "05-word2vec", "Word embeddings: word2vec", "Mikolov et al. 2013a, 2013b",
       "skip-gram with negative sampling and subsampling learns linear analogies cheaply",
       requires=("01-deep-neural-networks/01-dnn",)),
    _T("03-sequence-modeling", "06-seq2seq", "Sequence to sequence",
       "Sutskever, Vinyals & Le 2014; Cho et al. 2014",
       "a deep LSTM encoder-decoder translates; reversing the source helps a lot",
       requires=("03-sequence-modeling/02-lstm", "03-sequence-modeling/05-word2vec")),
    _T("03-sequence-modeling", "07-attention", "Attention for translation", "Bahdanau, Cho & Bengio 2014",
       "soft alignment removes the fixed-vector bottleneck; no collapse on long sentences",
       requires=("03-sequence-modeling/04-gru", "03-sequence-modeling/06-seq2seq")),
    _T("03-sequence-modeling", "08-mixture-of-experts", "Sparsely gated mixture of experts", "Shazeer et al. 2017",
       "a sparsely gated MoE adds capacity at about constant compute; it needs balancing losses",
       requires=("03-sequence-modeling/02-lstm",)),
    _T("04-transformers", "01-transformer", "The Transformer", "Vaswani et al. 2017",
       "attention alone translates better at a fraction of the training cost; learned PE ~ sinusoidal",
       requires=("03-sequence-modeling/07-attention", "02-optimization-and-regularization/06-layer-norm")),
    _T("04-transformers", "02-bert", "BERT: masked-language pre-training", "Devlin et al. 2018; Liu et al. 2019",
       "masked-LM pre-training of a bidirectional encoder, then fine-tuning, beats training from scratch",
       requires=("04-transformers/01-transformer",)),
    _T("04-transformers", "03-t5", "T5: text-to-text transfer", "Raffel et al. 2019",
       "one text-to-text model with span corruption; pre-training helps classification more than translation",
       requires=("04-transformers/02-bert",)),
    _T("04-transformers", "04-gpt", "GPT: scaling and in-context learning",
       "Radford et al. 2019; Brown et al. 2020; Kaplan et al. 2020",
       "LM loss falls as a power law in size; larger models learn in context, without gradient steps",
       requires=("04-transformers/01-transformer",)),
    _T("04-transformers", "05-lora", "LoRA: low-rank adaptation", "Hu et al. 2021",
       "low-rank updates on W_q, W_v match full fine-tuning with under 1% of the parameters, mergeable",
       requires=("04-transformers/04-gpt",)),
    _T("04-transformers", "06-rlhf", "RLHF: learning from human preferences",
       "Ziegler et al. 2019; Schulman et al. 2017; Ouyang et al. 2022; Bai et al. 2022",
       "a reward model from comparisons plus PPO with a KL penalty steers a pre-trained model's generations",
       requires=("04-transformers/04-gpt",)),
    _T("04-transformers", "07-vision-transformer", "Vision Transformer", "Dosovitskiy et al. 2020",
       "patches plus a plain Transformer: weak inductive bias needs more data than CNNs, then matches them",
       requires=("04-transformers/01-transformer", "01-deep-neural-networks/02-cnn")),
    _T("05-image-generation", "01-gan", "Generative adversarial networks", "Goodfellow et al. 2014",
       "adversarial nets learn to sample; the non-saturating generator loss is needed early in training",
       requires=("01-deep-neural-networks/01-dnn",)),
    _T("05-image-generation", "02-vae", "Variational autoencoders and VQ-VAE",
       "Kingma & Welling 2013; van den Oord et al. 2017; Razavi et al. 2019",
       "the reparameterised ELBO trains better than wake-sleep; discrete VQ codes nearly match a continuous VAE",
       requires=("01-deep-neural-networks/02-cnn",)),
    _T("05-image-generation", "03-diffusion", "Denoising diffusion",
       "Sohl-Dickstein et al. 2015; Ho et al. 2020; Nichol & Dhariwal 2021; Song et al. 2020; "
       "Dhariwal & Nichol 2021",
       "denoising diffusion gives high-quality samples; guidance trades recall for precision; fewer steps work",
       requires=("05-image-generation/01-gan", "05-image-generation/02-vae", "01-deep-neural-networks/04-u-net")),
    _T("05-image-generation", "04-latent-diffusion", "Latent diffusion", "Rombach et al. 2022",
       "diffusing in an autoencoder's latent space is far cheaper for equal quality",
       requires=("05-image-generation/03-diffusion", "04-transformers/01-transformer")),
    _T("05-image-generation", "05-clip", "CLIP: contrastive image-text pre-training", "Radford et al. 2021",
       "contrastive image-text pre-training gives zero-shot classifiers, far more efficiently than prediction",
       requires=("04-transformers/01-transformer", "01-deep-neural-networks/02-cnn")),
    _T("05-image-generation", "06-dall-e", "DALL-E: text to image", "Ramesh et al. 2021; Ramesh et al. 2022",
       "a Transformer over text and image tokens generates novel compositions; CLIP reranking helps",
       requires=("05-image-generation/02-vae", "04-transformers/04-gpt", "05-image-generation/05-clip")),
]


def is_clone(folder: Path) -> bool:
    """Whether ``folder`` is the root of a clone: it holds README.md, pyproject.toml and section folders."""
    return ((folder / "README.md").is_file() and (folder / "pyproject.toml").is_file()
            and any((folder / s).is_dir() for s in SECTIONS))


def repo_root(start: Path | str | None = None) -> Path:
    """The clone that holds ``start`` (default: the working directory), searching upwards.

    Never the folder the package was installed from: with several clones, ``dlhist`` must act on the one it is run
    in. Raises FileNotFoundError, naming the folder searched, outside a clone.
    """
    p = Path(start if start is not None else Path.cwd()).resolve()
    for cand in (p, *p.parents):
        if is_clone(cand):
            return cand
    raise FileNotFoundError(
        f"no dlhist clone in {p} or any folder above it (a clone holds README.md, pyproject.toml and section "
        f"folders such as {next(iter(SECTIONS))}/): cd into a clone of the repository, or pass --root PATH")


def check_root(root: Path | str) -> Path:
    """An explicitly given root (``--root``): it must exist and hold at least one section folder."""
    p = Path(root).expanduser().resolve()
    if not p.is_dir():
        raise FileNotFoundError(f"--root {p}: no such folder; pass the root of a clone of the repository")
    if not any((p / s).is_dir() for s in SECTIONS):
        raise FileNotFoundError(f"--root {p} holds no section folder (such as {next(iter(SECTIONS))}/); "
                                f"pass the root of a clone of the repository")
    return p


def notebook_of(root: Path, topic: Topic) -> Path | None:
    found = sorted((root / topic.path).glob("*.ipynb"))
    return found[0] if found else None


def status(root: Path, topic: Topic) -> str:
    """planned (no folder), in progress (no full-run results yet), reproduced, or not reproduced.

    Reproduced means the headline claim (the paper's key claim) and every asserted claim reproduced.
    """
    folder = root / topic.path
    if not folder.is_dir():
        return "planned"
    res = folder / "results.json"
    if notebook_of(root, topic) is None or not res.exists():
        return "in progress"
    records = json.loads(res.read_text())
    headline = [r for r in records if r.get("headline")]
    if headline:  # the key claim decides, with every asserted claim; a claim only reported does not
        checked = headline + [r for r in records if r.get("asserted", True)]
    else:  # a results.json from before headline claims: every record counts
        checked = records
    return "reproduced" if checked and all(r.get("reproduced") for r in checked) else "not reproduced"


def resolve(root: Path, targets: list[str]) -> list[Topic]:
    """Topics named by section or topic folder names, paths, or 'all'; only those whose folder exists."""
    present = [t for t in TOPICS if (root / t.path).is_dir()]
    if not targets or targets == ["all"]:
        return present
    chosen = []
    for target in targets:
        key = target.strip("/").replace("\\", "/")
        key = key[len(str(root)) + 1:] if key.startswith(str(root)) else key
        key = key.removeprefix("./")
        match = [t for t in present if t.path == key or t.section == key or t.folder == key
                 or t.path.startswith(key + "/") or key.endswith(t.path)]
        if not match:
            known = ", ".join(sorted({t.section for t in present} | {t.path for t in present}))
            raise SystemExit(f"dlhist: no topic matches {target!r}; present topics and sections: {known}")
        chosen += [t for t in match if t not in chosen]
    return chosen
