"""The package's layers, read from its import statements (those inside functions included).

Bottom to top (README, "Layout"): errors -> format -> kernels -> query -> protocol -> codecs -> sampling -> store ->
interop -> ops -> torch -> ray -> cli. A module imports only from its own layer or below, no import cycle exists,
torch is imported only by the torch layer, nothing in the product imports the test kit, and no module outside
the store reaches into a reader's private members.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "kinonb"
LAYERS = ["errors", "_version", "format", "kernels", "query", "protocol", "codecs", "sampling", "store", "interop", "ops",
          "torch", "ray", "cli", "testing"]
FACE = {"kinonb", "kinonb.__main__", "kinonb.example"}  # the public face may import any layer


def _modules() -> dict[str, Path]:
    out = {}
    for path in PACKAGE.rglob("*.py"):
        parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = path
    return out


MODULES = _modules()


def _is_package(name: str) -> bool:
    return MODULES[name].name == "__init__.py"


def _imports(name: str) -> set[str]:
    """Every kinonb module (and third-party top-level name) that ``name`` imports, anywhere in its body."""
    tree = ast.parse(MODULES[name].read_text())
    base = name.split(".") if _is_package(name) else name.split(".")[:-1]
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                prefix = base[: len(base) - (node.level - 1)]
                target = ".".join(prefix + ([node.module] if node.module else []))
            else:
                target = node.module
            for alias in node.names:
                sub = f"{target}.{alias.name}"
                found.add(sub if sub in MODULES else target)
    return found


GRAPH = {name: {m for m in _imports(name) if m in MODULES} for name in MODULES}


def _layer(name: str) -> int | None:
    if name in FACE:
        return None
    return LAYERS.index(name.split(".")[1])


def test_every_module_has_a_layer():
    for name in MODULES:
        if name not in FACE:
            assert name.split(".")[1] in LAYERS, f"{name}: not in a layer of {LAYERS}"


@pytest.mark.parametrize("name", sorted(set(MODULES) - FACE))
def test_imports_only_from_its_layer_or_below(name):
    mine = _layer(name)
    for target in GRAPH[name]:
        if target in FACE:
            assert name.startswith("kinonb.testing"), f"{name} imports the package face {target}"
            continue
        assert _layer(target) <= mine, f"{name} ({LAYERS[mine]}) imports {target} ({LAYERS[_layer(target)]})"


def test_no_import_cycles():
    state: dict[str, int] = {}  # 1 on the stack, 2 done

    def visit(name, stack):
        state[name] = 1
        for target in sorted(GRAPH[name]):
            if state.get(target) == 1:
                cycle = stack[stack.index(target):] + [target]
                pytest.fail("import cycle: " + " -> ".join(cycle))
            if target not in state:
                visit(target, stack + [target])
        state[name] = 2

    for name in sorted(MODULES):
        if name not in state:
            visit(name, [name])


def test_torch_only_in_the_torch_layer():
    for name in MODULES:
        if name.startswith(("kinonb.torch", "kinonb.testing")):
            continue
        torch_imports = {m for m in _imports(name) if m == "torch" or m.startswith("torch.")}
        assert not torch_imports, f"{name} imports {sorted(torch_imports)}"


def test_product_imports_neither_cli_nor_test_kit():
    for name, targets in GRAPH.items():
        if not name.startswith(("kinonb.cli", "kinonb.testing")) and name != "kinonb.__main__":
            assert not {t for t in targets if t.startswith(("kinonb.cli", "kinonb.testing"))}, name


def test_no_private_reader_access_or_type_probes_outside_the_store():
    private = re.compile(r"\bdb\._[a-z]")
    probe = re.compile(r"hasattr\(\s*db\b|isinstance\(\s*db\b")
    for name, path in MODULES.items():
        if name.startswith("kinonb.store"):
            continue
        text = path.read_text()
        assert not private.search(text), f"{name} touches a reader's private member"
        assert not probe.search(text), f"{name} tells readers apart with hasattr/isinstance"
