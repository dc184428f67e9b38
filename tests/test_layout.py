"""The package's layout rules (../shared/design/architecture.md): imports point one way, and `import dlhist` loads
no repository tooling."""

import ast
import subprocess
import sys
from pathlib import Path

import pytest

PKG = Path(__file__).resolve().parents[1] / "dlhist"


def imports_of(path: Path) -> set[str]:
    """The dlhist modules a file imports, as absolute dotted names."""
    tree = ast.parse(path.read_text())
    parts = list(path.relative_to(PKG.parent).with_suffix("").parts)
    package = parts[:-1] if parts[-1] != "__init__" else parts[:-1]
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.startswith("dlhist")}
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - node.level + 1] if node.level > 1 else package
                mod = ".".join(base + ([node.module] if node.module else []))
            else:
                mod = node.module or ""
            if mod.startswith("dlhist"):
                found.add(mod)
                found |= {f"{mod}.{a.name}" for a in node.names}
    return found


KERNEL = [p for p in PKG.rglob("*.py") if "tools" not in p.relative_to(PKG).parts]


@pytest.mark.parametrize("path", KERNEL, ids=lambda p: str(p.relative_to(PKG)))
def test_nothing_on_the_kernel_side_imports_the_tooling(path):
    assert not [m for m in imports_of(path) if m.startswith("dlhist.tools")]


@pytest.mark.parametrize("path", sorted((PKG / "scratch").glob("*.py")), ids=lambda p: p.name)
def test_scratch_imports_only_torch_and_scratch(path):
    outside = [m for m in imports_of(path) if not m.startswith("dlhist.scratch")]
    assert not outside, f"{path.name} imports {outside}: from-scratch modules stand on torch alone"


@pytest.mark.parametrize("path", sorted((PKG / "models").glob("*.py")), ids=lambda p: p.name)
def test_models_import_only_scratch_and_models(path):
    outside = [m for m in imports_of(path) if not m.startswith(("dlhist.scratch", "dlhist.models"))]
    assert not outside, f"{path.name} imports {outside}"


def test_import_dlhist_loads_no_tooling_and_no_cuda():
    code = ("import sys, dlhist, torch; "
            "print([m for m in sys.modules if m.startswith('dlhist.tools') or m in ('nbformat', 'nbclient')]); "
            "print(torch.cuda.is_initialized()); print(callable(dlhist.models.mlp), callable(dlhist.check.max_diff))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split("\n")
    assert out[:3] == ["[]", "False", "True True"]


def test_modules_are_named_by_concept_not_by_chapter_or_dataset():
    names = {p.stem for p in PKG.rglob("*.py")}
    banned = {"cifar", "mnist", "isbi", "shakespeare", "multi30k"} | {f"ch{i:02d}" for i in range(40)}
    assert not names & banned
