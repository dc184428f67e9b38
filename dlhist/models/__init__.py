"""Architectures that two or more topics use, built from ``dlhist.scratch`` or ``torch.nn``.

- ``mlp``: the multilayer perceptron of most MNIST experiments
- ``lenet``: the modern LeNet (generated digits are judged by ``dlhist.generative.Judge``)
- ``CifarNet``, ``layer_grad_norms``: He et al.'s 6n+2 plain and residual networks
- ``UNet``: the U-Net of segmentation; ``TimeUNet``, ``TimeClassifier``, ``timestep_embedding``: the time-conditioned
  U-Net of diffusion models and the noise-aware classifier that guides it
- ``transformer``, ``gpt``, ``bert``, ``vit``, ``seq2seq``: sequence models, imported by module
  (``dlhist.models.vit.ViT``)
- ``latent``: latent diffusion's KL autoencoder, caption encoder and caption-conditional noise predictor, and a VQ
  autoencoder that turns images into code grids (``dlhist.models.latent.KLAutoencoder``)
- ``dalle``: DALL-E's joint caption-and-image-code sequences, its weighted loss, candidate generation and reranking
- ``clip``: CLIP's image and text encoders, its contrastive loss, the bag-of-words baseline and zero-shot
  classification (``dlhist.models.clip.CLIP``)
"""

from .lenet import lenet
from .mlp import mlp
from .resnet import CifarNet, layer_grad_norms
from .unet import TimeClassifier, TimeUNet, UNet, timestep_embedding

__all__ = ["CifarNet", "TimeClassifier", "TimeUNet", "UNet", "layer_grad_norms", "lenet", "mlp", "timestep_embedding"]
