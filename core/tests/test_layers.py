"""Layers point down only (config/layers.py): every import of every module, including imports
placed inside functions, goes to its own layer or one below."""

import ast
from pathlib import Path

from config.layers import LAYERS, layer_of

ROOT = Path(__file__).resolve().parents[2]
SKIPPED_DIRS = {"migrations", "tests", ".venv", "node_modules", "bench", "static", "templates", "locale"}


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imported_modules(source: str, module: str, is_package: bool) -> list[tuple[int, str]]:
    """(line, module) for every import in the source, relative ones resolved."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found.extend((node.lineno, alias.name) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = module.split(".") if is_package else module.split(".")[:-1]
                base = base[: len(base) - (node.level - 1)]
                target = ".".join([*base, node.module] if node.module else base)
            else:
                target = node.module or ""
            found.append((node.lineno, target))
            # `from fulfilment import routing` imports the module fulfilment.routing
            found.extend((node.lineno, f"{target}.{alias.name}") for alias in node.names)
    return found


def upward_imports(source: str, module: str, is_package: bool = False) -> list[str]:
    here = layer_of(module)
    if here is None:
        return []
    problems = []
    for line, target in imported_modules(source, module, is_package):
        there = layer_of(target)
        if there is not None and there > here:
            problems.append(
                f"{module}:{line} imports {target} ({LAYERS[here][0]} → {LAYERS[there][0]}, upward)"
            )
    return sorted(set(problems))


def conduit_modules():
    for path in sorted(ROOT.rglob("*.py")):
        relative = path.relative_to(ROOT)
        if SKIPPED_DIRS & set(relative.parts) or layer_of(relative.parts[0]) is None:
            continue
        yield path, module_name(path)


def test_no_module_imports_a_layer_above_its_own():
    problems = []
    for path, module in conduit_modules():
        problems += upward_imports(path.read_text(encoding="utf-8"), module, path.name == "__init__.py")
    assert problems == [], "\n".join(problems)


def test_the_check_sees_upward_imports_even_inside_functions():
    source = "from core.models import User\n\ndef f():\n    from fulfilment import routing\n"
    assert upward_imports(source, "orders.services") == [
        "orders.services:4 imports fulfilment (orders → fulfilment, upward)",
        "orders.services:4 imports fulfilment.routing (orders → fulfilment, upward)",
    ]
    assert upward_imports("from .routing import plan\n", "orders.services") == []  # own layer
    assert upward_imports("from ..desk import views\n", "orders.api.views") == []  # edges share a layer


def test_every_app_has_a_layer():
    from django.apps import apps

    ours = [config.name for config in apps.get_app_configs() if (ROOT / config.name.split(".")[0]).is_dir()]
    assert [name for name in ours if layer_of(name) is None] == []


def test_edges_sit_above_every_domain_layer():
    assert layer_of("orders.api.views") == layer_of("desk.views") > layer_of("returns.services")
    assert layer_of("fulfilment.warehouse_views") > layer_of("integrations.services")
    assert layer_of("config.urls") > layer_of("desk.views")
