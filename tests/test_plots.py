import matplotlib

matplotlib.use("Agg")

import pytest  # noqa: E402
import torch  # noqa: E402

from dlhist import plots as P  # noqa: E402
from dlhist.train import History  # noqa: E402


def hist(name, accs):
    return History(name=name, epochs=[{"epoch": i + 1, "val_acc": a} for i, a in enumerate(accs)],
                   steps=[{"step": i + 1, "loss": 1.0 / (i + 1)} for i in range(20)])


def test_plot_curves_one_line_per_run_and_median_of_seeds():
    ax = P.plot_curves({"a": hist("a", [0.5, 0.6]), "b": [hist("b", [0.4, 0.7]), hist("b", [0.6, 0.9])]})
    lines = ax.get_lines()
    assert len(lines) == 2 and list(lines[1].get_ydata()) == pytest.approx([50.0, 80.0])
    assert ax.get_ylabel() == "val_acc (%)" and ax.get_xlabel() == "epoch"
    ax = P.plot_curves({"a": hist("a", [0.5])}, key="loss", smooth=5)
    assert len(ax.get_lines()[0].get_ydata()) == 16 and ax.get_xlabel() == "step"
    per_step = History(name="c", steps=[{"step": i + 1, "loss": 1.0, "image": 2.0} for i in range(5)])
    assert P.plot_curves({"c": per_step}, key="image").get_xlabel() == "step"  # any key only steps have


def test_style_applies_to_the_session():
    import matplotlib.pyplot as plt

    P.subplots(1, 1)
    assert plt.rcParams["legend.frameon"] is False and plt.rcParams["axes.spines.top"] is False


def test_save_figure_only_in_full_mode(monkeypatch, tmp_path):
    (tmp_path / "pyproject.toml").write_text('[project]\nname = "dlhist"\n')
    (tmp_path / "topic").mkdir()
    monkeypatch.chdir(tmp_path / "topic")
    fig, _ = P.subplots(1, 1)
    monkeypatch.setenv("DLHIST_SMOKE", "1")
    assert P.save_figure(fig, "x.png") is None and not (tmp_path / "images").exists()
    monkeypatch.setenv("DLHIST_SMOKE", "0")
    assert P.save_figure(fig, "x.png") == tmp_path / "images" / "x.png" and (tmp_path / "images" / "x.png").exists()
    monkeypatch.chdir(tmp_path.parent)  # outside a clone: nothing is saved
    assert P.save_figure(fig, "y.png") is None


def test_plot_and_subplots():
    ax = P.plot([1, 2, 3], [[1, 2, 3], torch.tensor([3.0, 2.0, 1.0])], ["up", "down"], xlabel="x", logy=True)
    assert len(ax.get_lines()) == 2 and ax.get_yscale() == "log"
    fig, axes = P.subplots(1, 3)
    assert axes.shape == (1, 3)


def test_show_images_and_filters():
    fig = P.show_images(torch.rand(10, 1, 28, 28), labels=list(range(10)), ncols=5)
    assert len(fig.axes) == 10
    assert len(P.show_filters(torch.randn(6, 1, 5, 5)).axes) == 6
    assert len(P.show_filters(torch.randn(4, 784)).axes) == 4
    with pytest.raises(ValueError, match="square"):
        P.show_filters(torch.randn(4, 10))
    with pytest.raises(ValueError, match="does not match"):
        P.show_filters(torch.randn(4, 10), shape=(3, 3))
    with pytest.raises(ValueError, match="no images"):
        P.show_images([])


def test_show_images_fixed_range_keeps_faint_images_faint():
    faint = torch.full((2, 1, 4, 4), 0.2)
    faint[:, :, 0, 0] = 0.4
    stretched = P.show_images(faint).axes[0].images[0]
    fixed = P.show_images(faint, vrange=(0, 1)).axes[0].images[0]
    assert stretched.get_array().max() == pytest.approx(1.0) and stretched.get_clim() == (0, 1)
    assert fixed.get_array().max() == pytest.approx(0.4) and fixed.get_clim() == (0, 1)
