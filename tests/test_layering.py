"""The layering of ARCHITECTURE.md is what the code does: every import of every module (module
level, inside functions, and under ``if TYPE_CHECKING:``) goes to the same or a lower layer.

Decisions:
- ``TYPE_CHECKING`` imports count. They cost nothing at run time, but a lower layer that names a
  higher layer's types depends on its design all the same.
- Function-level (lazy) imports count too; the only exceptions are listed in ``ALLOWED`` with
  the reason (``Model.save`` / ``Model.to_bytes``, thin conveniences over ``serde``).
- ``tflitekit/__init__.py`` (the package root, which re-exports everything and loads the
  subpackages lazily) and ``__main__`` sit at the top with the CLI; ``validate`` (the one-call
  file check over ``serde`` and ``ir.check``) sits with analysis. Importing a name from the root
  package (``from tflitekit import Model``) inside the package is an import of the top layer.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "tflitekit"

# Lowest first. A module may import its own layer and lower ones, never a higher one. The names
# are the top-level modules and subpackages of tflitekit; "__init__" is the package root.
LAYERS: list[set[str]] = [
    {"errors", "options", "_generated"},
    {"ir"},
    {"serde"},
    {"interpreter", "xs3", "codecs", "analysis", "validate"},
    {"passes"},
    {"runtimes", "crosscheck", "testing", "training", "demo"},
    {"cli", "__main__", "__init__"},
]

# (importing module, imported component) -> why the upward import is accepted. Each must be a
# function-level import: the layer below must not need the one above to be imported.
ALLOWED: dict[tuple[str, str], str] = {
    ("tflitekit.ir.model", "serde"): "Model.save / Model.to_bytes are conveniences over serde",
}


def _module_name(package: Path, path: Path) -> str:
    parts = [package.name, *path.relative_to(package).with_suffix("").parts]
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _is_module(package: Path, dotted: str) -> bool:
    rel = Path(*dotted.split(".")[1:])
    return (package / rel).with_suffix(".py").is_file() or (package / rel / "__init__.py").is_file()


def _imports(package: Path, tree: ast.Module, module: str,
             is_package: bool) -> Iterator[tuple[str, int, bool]]:
    """(imported module, line, at module level) for every import in ``tree``, relative ones
    resolved; ``from pkg import name`` imports ``pkg.name`` when that is a module, else ``pkg``."""
    base = module.split(".") if is_package else module.split(".")[:-1]
    lazy = {id(n) for f in ast.walk(tree) if isinstance(f, (ast.FunctionDef, ast.AsyncFunctionDef))
            for n in ast.walk(f)}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, node.lineno, id(node) not in lazy
        elif isinstance(node, ast.ImportFrom):
            prefix = base[:len(base) - node.level + 1] if node.level else []
            source = ".".join([*prefix, *([node.module] if node.module else [])])
            for alias in node.names:
                target = f"{source}.{alias.name}"
                yield (target if _is_module(package, target) else source), node.lineno, \
                    id(node) not in lazy


def _component(package: Path, dotted: str) -> str | None:
    """The top-level module or subpackage of ``package`` that ``dotted`` names, or None when it
    names something outside the package; ``"__init__"`` for the package root itself."""
    parts = dotted.split(".")
    if parts[0] != package.name:
        return None
    return parts[1] if len(parts) > 1 and _is_module(package, ".".join(parts[:2])) else "__init__"


def violations(package: Path, layers: Sequence[set[str]] = LAYERS,
               allowed: dict[tuple[str, str], str] | None = None) -> list[str]:
    """Every import in ``package`` that goes to a higher layer, and every module in no layer."""
    allowed = ALLOWED if allowed is None else allowed
    rank = {name: i for i, layer in enumerate(layers) for name in layer}
    found: set[str] = set()
    for path in sorted(package.rglob("*.py")):
        module = _module_name(package, path)
        own = _component(package, module) or "__init__"
        if own not in rank:
            found.add(f"{module}: in no layer (add {own!r} to LAYERS)")
            continue
        tree = ast.parse(path.read_text(), str(path))
        for target, line, at_top in _imports(package, tree, module, path.name == "__init__.py"):
            comp = _component(package, target)
            if comp is None or comp == own or rank.get(comp, len(layers)) <= rank[own]:
                continue
            if (module, comp) in allowed and not at_top:
                continue
            found.add(f"{path.relative_to(package.parent)}:{line}: {module} ({own}, layer "
                      f"{rank[own]}) imports {target} ({comp}, layer {rank.get(comp, 'none')})")
    return sorted(found)


# ------------------------------------------------------------------------------------------------
# The real package
# ------------------------------------------------------------------------------------------------


def test_allowed_exceptions_are_still_needed() -> None:
    """An exception nobody uses any more goes (the checker then enforces the rule)."""
    for key in ALLOWED:
        without = {k: v for k, v in ALLOWED.items() if k != key}
        assert violations(PACKAGE, allowed=without) != violations(PACKAGE), key


def test_tflitekit_imports_only_downward() -> None:
    assert violations(PACKAGE) == []


# ------------------------------------------------------------------------------------------------
# The checker, on a synthetic package
# ------------------------------------------------------------------------------------------------

TOY_LAYERS = [{"low"}, {"mid"}, {"high", "__init__"}]


def _toy(tmp_path: Path, files: dict[str, str]) -> Path:
    root = tmp_path / "toy"
    for name, text in {"__init__.py": "", "low/__init__.py": "", "mid/__init__.py": "",
                       "high.py": "", **files}.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    return root


def test_checker_accepts_downward_imports(tmp_path: Path) -> None:
    root = _toy(tmp_path, {
        "mid/a.py": "from ..low import x\nfrom . import b\nimport toy.low\nimport numpy\n",
        "mid/b.py": "from toy.low.c import y\n",
        "low/c.py": "y = 1\n",
        "high.py": "from .mid import a\nfrom toy import mid\n",
    })
    assert violations(root, TOY_LAYERS, {}) == []


@pytest.mark.parametrize(("source", "target"), [
    ("from ..mid import a", "toy.mid.a"),                   # relative, module level
    ("from ..mid import T", "toy.mid"),                     # a name of a subpackage
    ("import toy.high", "toy.high"),                        # absolute
    ("from toy import high", "toy.high"),                   # a submodule of the root package
    ("from toy import Something", "toy"),                   # a name of the root package
    ("def f():\n    from ..high import z", "toy.high"),   # lazy, inside a function
    ("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from toy.mid.a import T",
     "toy.mid.a"),                                          # type-checking only
])
def test_checker_finds_upward_imports(tmp_path: Path, source: str, target: str) -> None:
    root = _toy(tmp_path, {"low/bad.py": source + "\n", "mid/a.py": "T = 1\n",
                           "mid/__init__.py": "T = 1\n"})
    found = violations(root, TOY_LAYERS, {})
    assert len(found) == 1 and f"toy.low.bad (low, layer 0) imports {target} " in found[0], found


def test_checker_allows_only_listed_lazy_imports(tmp_path: Path) -> None:
    lazy = "def save():\n    from ..mid import a\n"
    root = _toy(tmp_path, {"low/model.py": lazy, "low/other.py": lazy, "mid/a.py": ""})
    allowed = {("toy.low.model", "mid"): "a convenience"}
    assert [v.split(": ")[1] for v in violations(root, TOY_LAYERS, allowed)] == [
        "toy.low.other (low, layer 0) imports toy.mid.a (mid, layer 1)"]
    (root / "low/model.py").write_text("from ..mid import a\n")  # at module level: refused
    assert len(violations(root, TOY_LAYERS, allowed)) == 2


def test_checker_reports_modules_in_no_layer(tmp_path: Path) -> None:
    root = _toy(tmp_path, {"stray.py": ""})
    assert violations(root, TOY_LAYERS, {}) == ["toy.stray: in no layer (add 'stray' to LAYERS)"]
