"""Architectures that two or more topics use, built from ``dlhist.scratch`` or ``torch.nn``.

- ``mlp``: the multilayer perceptron of most MNIST experiments
- ``lenet``: the modern LeNet (also a small feature network for judging generated digits)
- ``CifarNet``, ``layer_grad_norms``: He et al.'s 6n+2 plain and residual networks
- ``UNet``: the U-Net of segmentation (and, later, of diffusion)
- ``transformer``, ``gpt``, ``vit``, ``seq2seq``: sequence models, imported by module (``dlhist.models.vit.ViT``)
"""

from .lenet import lenet
from .mlp import mlp
from .resnet import CifarNet, layer_grad_norms
from .unet import UNet

__all__ = ["CifarNet", "UNet", "layer_grad_norms", "lenet", "mlp"]
