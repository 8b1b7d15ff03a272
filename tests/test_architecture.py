# SPDX-License-Identifier: Apache-2.0
# SPDX-FileCopyrightText: Copyright (c) 2026 The modulus-lrsa authors
"""The package is one straight house: every room imports only from the rooms below it.

Rooms, from the bottom up (README.md, "Layout"):

=================  =====================================================================
``modulus_lrsa``   the package itself: ``__version__`` only
``errors``         the exceptions every layer raises
``atomic``         atomic file writes
``distributed``    process-group start-up and the model-wrapper protocols
``io``             VTK readers and writers, the Darcy files, field selectors and channel layouts
``geometry``       Warp signed distances, normals, samplers
``data``           the dataset generators
``datapipes``      case discovery, cache, datasets
``models``         LRSA
``forces``         lift and drag from surface fields
``surrogate``      calling a trained model: the descriptor file, inputs, precision, device
``descriptor``     the typed data descriptor (``ModelDescriptor``): training's output, prediction's input
``training``       ``lrsa-train`` (and ``python -m modulus_lrsa.train``)
``inference``      ``lrsa-predict``
``demos``          ``make demo``, ``make demo-darcy``
=================  =====================================================================

Every import counts, function-level ones included, and no lazy-import trick
(module ``__getattr__``, ``importlib``) may hide one.
"""

from __future__ import annotations

import ast
from pathlib import Path

import modulus_lrsa

ROOMS = (
    "modulus_lrsa", "errors", "atomic", "distributed", "io", "geometry", "data", "datapipes", "models", "forces",
    "surrogate", "descriptor", "training", "inference", "demos",
)
#: Modules that belong to a room of another name.
ALIASES = {"train": "training"}
PACKAGE = Path(modulus_lrsa.__file__).parent


def module_name(path: Path, package: Path = PACKAGE) -> str:
    parts = list(path.relative_to(package.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def room_of(module: str) -> str:
    parts = module.split(".")
    room = parts[1] if len(parts) > 1 else parts[0]
    return ALIASES.get(room, room)


def imports_of(path: Path, package_root: Path = PACKAGE) -> list[tuple[int, str, bool]]:
    """(line, imported module, at module level) of every import of ``modulus_lrsa`` in ``path``."""
    tree = ast.parse(path.read_text(), filename=str(path))
    module = module_name(path, package_root)
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    top_level = {id(node) for node in tree.body}
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                names = [".".join(base + ([node.module] if node.module else []))]
            else:
                names = [node.module or ""]
        else:
            continue
        found += [(node.lineno, name, id(node) in top_level) for name in names if name.split(".")[0] == "modulus_lrsa"]
    return found


def sources() -> list[Path]:
    return sorted(PACKAGE.rglob("*.py"))


def test_every_module_is_in_a_room():
    unknown = {module_name(path) for path in sources() if room_of(module_name(path)) not in ROOMS}
    assert not unknown, f"modules outside the rooms of {ROOMS}: {sorted(unknown)}; add the room to ROOMS and README.md"


def test_imports_only_go_down():
    upward = []
    for path in sources():
        importer = module_name(path)
        own = ROOMS.index(room_of(importer))
        for line, imported, _ in imports_of(path):
            if ROOMS.index(room_of(imported)) > own:
                upward.append(f"{path.relative_to(PACKAGE.parent)}:{line}: {room_of(importer)} imports {imported}")
    assert not upward, "imports up the house:\n" + "\n".join(upward)


def test_no_import_cycle_between_modules():
    graph = {module_name(path): {name for _, name, top in imports_of(path) if top} for path in sources()}
    known = set(graph)

    def target(name: str) -> str | None:
        # ``from modulus_lrsa.data import darcy`` names a package; walk up to a module file.
        while name and name not in known:
            name = name.rpartition(".")[0]
        return name or None

    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(module: str) -> None:
        state[module], _ = 1, stack.append(module)
        for imported in sorted(filter(None, map(target, graph[module]))):
            if imported == module or module.startswith(imported + "."):
                continue  # a package's own __init__ runs first: not a cycle
            if state.get(imported) == 1:
                cycle = stack[stack.index(imported):] + [imported]
                raise AssertionError("import cycle: " + " -> ".join(cycle))
            if imported not in state:
                visit(imported)
        state[module] = 2
        stack.pop()

    for module in sorted(graph):
        if module not in state:
            visit(module)


def test_no_lazy_import_tricks():
    tricks = []
    for path in sources():
        tree = ast.parse(path.read_text())
        for node in tree.body:
            if isinstance(node, ast.FunctionDef) and node.name == "__getattr__":
                tricks.append(f"{path.relative_to(PACKAGE.parent)}: module-level __getattr__")
        for node in ast.walk(tree):
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                names = [alias.name for alias in node.names] if isinstance(node, ast.Import) else [node.module or ""]
                if "importlib" in names:
                    tricks.append(f"{path.relative_to(PACKAGE.parent)}:{node.lineno}: imports importlib")
    assert not tricks, "\n".join(tricks)


def test_the_checker_sees_a_relative_function_level_import_going_up(tmp_path):
    fake = tmp_path / "modulus_lrsa"
    (fake / "io").mkdir(parents=True)
    reader = fake / "io" / "reader.py"
    reader.write_text("def f():\n    from ..training.train import main\n")
    [(line, imported, top)] = imports_of(reader, fake)
    assert (line, imported, top) == (2, "modulus_lrsa.training.train", False)
    assert ROOMS.index(room_of(imported)) > ROOMS.index(room_of(module_name(reader, fake)))


SPDX_HEADER = ("# SPDX-License-Identifier: Apache-2.0", "# SPDX-FileCopyrightText:")


def test_every_source_file_has_an_spdx_header():
    root = PACKAGE.parent
    missing = []
    for folder in ("modulus_lrsa", "tests", "benchmarks", "examples"):
        for path in sorted((root / folder).rglob("*.py")):
            head = path.read_text().splitlines()[:2]
            if len(head) < 2 or head[0] != SPDX_HEADER[0] or not head[1].startswith(SPDX_HEADER[1]):
                missing.append(str(path.relative_to(root)))
    assert not missing, f"files without the two-line header {SPDX_HEADER}: {missing}"


def test_private_aten_operators_are_called_only_from_the_attention_room():
    """models/attention.py is the one home of the attention numerics, the only place that
    may reach PyTorch's private ``torch.ops.aten._*`` kernels (whose signatures change
    between releases)."""
    home = PACKAGE / "models" / "attention.py"
    users = []
    for path in sources():
        for node in ast.walk(ast.parse(path.read_text())):
            if (isinstance(node, ast.Attribute) and node.attr.startswith("_") and isinstance(node.value, ast.Attribute)
                    and node.value.attr == "aten" and path != home):
                users.append(f"{path.relative_to(PACKAGE.parent)}:{node.lineno}: torch.ops.aten.{node.attr}")
    assert not users, "private aten operators outside models/attention.py:\n" + "\n".join(users)


def test_tests_import_no_private_name_of_the_models():
    """Tests exercise the model through its public names, so a refactor of its insides
    cannot be pinned by a test that reached into them."""
    private = []
    for path in sorted((PACKAGE.parent / "tests").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("modulus_lrsa.models"):
                private += [f"{path.name}:{node.lineno}: {node.module}.{alias.name}"
                            for alias in node.names if alias.name.startswith("_")]
    assert not private, "tests import private model names:\n" + "\n".join(private)
