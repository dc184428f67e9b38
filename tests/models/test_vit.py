import pytest
import torch
import torch.nn.functional as F

from dlhist.models.vit import PatchEmbedding, ViT, mean_attention_distance


def test_patch_embedding_is_a_linear_map_of_each_flattened_patch():
    torch.manual_seed(0)
    pe = PatchEmbedding(8, 4, 3, 5).double()
    x = torch.randn(2, 3, 8, 8, dtype=torch.double)
    patches = F.unfold(x, 4, stride=4).transpose(1, 2)  # (B, 4 patches, 3 * 4 * 4), row by row
    expected = patches @ pe.proj.weight.flatten(1).T + pe.proj.bias
    torch.testing.assert_close(pe(x), expected)


def test_forward_attention_and_errors():
    torch.manual_seed(0)
    m = ViT(image_size=8, patch=2, channels=1, num_classes=3, d_model=16, n_heads=2, layers=2).eval()
    x = torch.randn(5, 1, 8, 8)
    logits, weights = m(x, return_attention=True)
    torch.testing.assert_close(logits, m(x))
    assert logits.shape == (5, 3) and len(weights) == 2 and weights[0].shape == (5, 2, 17, 17)
    torch.testing.assert_close(weights[1].sum(-1), torch.ones(5, 2, 17))
    with pytest.raises(ValueError, match=r"images must be \(batch, 1, 8, 8\), got \(5, 1, 9, 9\)"):
        m(torch.randn(5, 1, 9, 9))
    with pytest.raises(ValueError, match="not a multiple of the patch size"):
        ViT(image_size=10, patch=4)


def test_mean_attention_distance_by_hand():
    grid, patch = 2, 4
    local = torch.eye(5)[None, None]  # every patch attends to itself: distance 0
    uniform = torch.full((1, 1, 5, 5), 0.2)  # to all four patches alike: (0 + 4 + 4 + 4 * sqrt(2)) / 4 pixels
    d = mean_attention_distance(torch.cat([local, uniform], 1), grid, patch)
    torch.testing.assert_close(d, torch.tensor([0.0, (8 + 4 * 2 ** 0.5) / 4]))
    with pytest.raises(ValueError, match="for a 2x2 grid"):
        mean_attention_distance(torch.ones(1, 1, 4, 4), grid, patch)


def test_learns_where_the_bright_half_is():
    torch.manual_seed(0)
    y = torch.randint(0, 2, (256,))
    x = torch.randn(256, 1, 8, 8) * 0.3
    x[y == 0, :, :, :4] += 1.0
    x[y == 1, :, :, 4:] += 1.0
    m = ViT(image_size=8, patch=4, num_classes=2, d_model=16, n_heads=2, layers=1)
    opt = torch.optim.Adam(m.parameters(), lr=3e-3)
    for _ in range(60):
        loss = F.cross_entropy(m(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert (m(x).argmax(1) == y).float().mean() > 0.95
