"""The curriculum: sections, topics, papers and claims. ``dlhist list`` prints it; tests check it against the disk.

Planned topics are the intended course; their folder names may change when their issue is written.
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
       "784-800-10 MLP reaches <= 1.6% MNIST test error"),
    _T("01-deep-neural-networks", "02-cnn", "Convolutional networks: LeNet", "LeCun et al. 1989; LeCun et al. 1998",
       "<= 1.0% MNIST test error; more robust to shifts than the MLP"),
    _T("01-deep-neural-networks", "03-alex-net", "AlexNet and VGG",
       "Krizhevsky, Sutskever & Hinton 2012; Simonyan & Zisserman 2014",
       "ReLU reaches a training error faster than tanh"),
    _T("01-deep-neural-networks", "04-u-net", "U-Net segmentation", "Ronneberger, Fischer & Brox 2015",
       "skip connections improve membrane segmentation"),
    _T("02-optimization-and-regularization", "01-weight-decay", "Weight decay",
       "Krogh & Hertz 1991; Loshchilov & Hutter 2019", "L2 lowers test error and weight norm when overfitting"),
    _T("02-optimization-and-regularization", "02-relu", "Rectified linear units",
       "Glorot, Bordes & Bengio 2011; Nair & Hinton 2010", "deep ReLU nets train faster, with sparse activations"),
    _T("02-optimization-and-regularization", "03-residuals", "Residual networks", "He, Zhang, Ren & Sun 2015",
       "plain-56 trains worse than plain-20; residual-56 beats residual-20"),
    _T("02-optimization-and-regularization", "04-dropout", "Dropout", "Srivastava et al. 2014",
       "dropout lowers MNIST test error"),
    _T("02-optimization-and-regularization", "05-batch-norm", "Batch normalization", "Ioffe & Szegedy 2015",
       "BN trains faster and keeps activations stable"),
    _T("02-optimization-and-regularization", "06-layer-norm", "Layer normalization", "Ba, Kiros & Hinton 2016",
       "LN is independent of batch size and speeds up RNNs"),
    _T("02-optimization-and-regularization", "07-gelu", "GELU", "Hendrycks & Gimpel 2016",
       "GELU has the lowest training loss"),
    _T("02-optimization-and-regularization", "08-adam", "Adam", "Kingma & Ba 2014", "Adam converges fastest"),
    _T("03-sequence-modeling", "01-rnn", "Recurrent networks", "Elman 1990; Karpathy 2015"),
    _T("03-sequence-modeling", "02-lstm", "Long short-term memory", "Hochreiter & Schmidhuber 1997"),
    _T("03-sequence-modeling", "03-gru", "Gated recurrent units", "Cho et al. 2014; Chung et al. 2014"),
    _T("03-sequence-modeling", "04-word2vec", "Word embeddings", "Mikolov et al. 2013"),
    _T("03-sequence-modeling", "05-text-cnn", "CNNs for sentence classification", "Kim 2014"),
    _T("03-sequence-modeling", "06-seq2seq", "Sequence to sequence", "Sutskever, Vinyals & Le 2014"),
    _T("03-sequence-modeling", "07-attention", "Attention for translation", "Bahdanau, Cho & Bengio 2014"),
    _T("04-transformers", "01-transformer", "The Transformer", "Vaswani et al. 2017"),
    _T("04-transformers", "02-gpt", "Generative pre-training", "Radford et al. 2018"),
    _T("04-transformers", "03-bert", "BERT", "Devlin et al. 2018"),
    _T("04-transformers", "04-gpt-2", "Language models as unsupervised learners", "Radford et al. 2019"),
    _T("04-transformers", "05-vit", "Vision Transformer", "Dosovitskiy et al. 2020"),
    _T("04-transformers", "06-rope", "Rotary position embeddings", "Su et al. 2021"),
    _T("04-transformers", "07-lora", "Low-rank adaptation", "Hu et al. 2021"),
    _T("05-image-generation", "01-autoencoder", "Autoencoders", "Hinton & Salakhutdinov 2006"),
    _T("05-image-generation", "02-vae", "Variational autoencoders", "Kingma & Welling 2013"),
    _T("05-image-generation", "03-gan", "Generative adversarial networks", "Goodfellow et al. 2014"),
    _T("05-image-generation", "04-dcgan", "DCGAN", "Radford, Metz & Chintala 2015"),
    _T("05-image-generation", "05-pixel-cnn", "Autoregressive image models", "van den Oord et al. 2016"),
    _T("05-image-generation", "06-ddpm", "Denoising diffusion", "Ho, Jain & Abbeel 2020"),
    _T("05-image-generation", "07-clip", "CLIP", "Radford et al. 2021"),
]


def repo_root(start: Path | None = None) -> Path:
    """The repository root: the folder above the installed package if it holds the curriculum, else cwd upwards."""
    here = Path(__file__).resolve().parent.parent
    if (here / next(iter(SECTIONS))).is_dir():
        return here
    p = (start or Path.cwd()).resolve()
    for cand in (p, *p.parents):
        if (cand / next(iter(SECTIONS))).is_dir():
            return cand
    raise FileNotFoundError(f"no dlhist repository found from {p}: run inside a clone, or pass --root")


def notebook_of(root: Path, topic: Topic) -> Path | None:
    found = sorted((root / topic.path).glob("*.ipynb"))
    return found[0] if found else None


def status(root: Path, topic: Topic) -> str:
    """planned (no folder), in progress (no full-run results yet), reproduced, or not reproduced."""
    folder = root / topic.path
    if not folder.is_dir():
        return "planned"
    res = folder / "results.json"
    if notebook_of(root, topic) is None or not res.exists():
        return "in progress"
    records = json.loads(res.read_text())
    return "reproduced" if records and all(r.get("reproduced") for r in records) else "not reproduced"


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
