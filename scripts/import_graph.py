"""The project's import graph in numbers: the import circles (strongly connected groups of modules), imports that
run back up the floors (web → service → models → core), function-local imports, and whether the helper imports the
server. `python scripts/import_graph.py` (from the repository root, inside .venv) prints them; `--list` names each.

Built on grimp, the graph library behind import-linter, so it sees what `lint-imports` sees."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import grimp

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("wxbackend", "binding_site", "ukey_helper", "helper_protocol", "jobs", "config")

# The floor of a module, by the last part of its name; lower floors must not import higher ones.
# Jobs and tasks are edges like views: they run services, and a service enqueues them by name, never by import.
FLOORS = {"web": 3, "views": 3, "h5": 3, "api": 3, "pc": 3, "admin": 3, "cli": 3, "tasks": 3, "service": 2,
          "models": 1, "transitions": 1}


def floor(module: str) -> int | None:
    parts = module.split(".")
    if parts[0] == "jobs":
        return 3
    if len(parts) > 1 and parts[1] == "core":
        return 0
    if "web" in parts[1:]:
        return 3
    return FLOORS.get(parts[-1])


def circles(graph: grimp.ImportGraph) -> list[set[str]]:
    """Tarjan's strongly connected components with more than one module."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[set[str]] = []
    counter = [0]
    sys.setrecursionlimit(10_000)

    def visit(module: str) -> None:
        index[module] = low[module] = counter[0]
        counter[0] += 1
        stack.append(module)
        on_stack.add(module)
        for imported in graph.find_modules_directly_imported_by(module):
            if imported not in index:
                visit(imported)
                low[module] = min(low[module], low[imported])
            elif imported in on_stack:
                low[module] = min(low[module], index[imported])
        if low[module] == index[module]:
            group = set()
            while True:
                member = stack.pop()
                on_stack.discard(member)
                group.add(member)
                if member == module:
                    break
            if len(group) > 1:
                found.append(group)

    for module in sorted(graph.modules):
        if module not in index:
            visit(module)
    return found


def local_imports() -> list[str]:
    """Imports inside functions, outside `create_app` (the app factory may import its rooms late)."""
    found = []
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            tree = ast.parse(path.read_text(), str(path))
            for node in ast.walk(tree):
                if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.name != "create_app":
                    for inner in ast.walk(node):
                        if isinstance(inner, ast.Import | ast.ImportFrom) and inner is not node:
                            found.append(f"{path.relative_to(ROOT)}:{inner.lineno} in {node.name}()")
    return found


def main() -> None:
    names = "--list" in sys.argv
    sys.path.insert(0, str(ROOT))
    present = [p for p in PACKAGES if (ROOT / p / "__init__.py").exists()]
    graph = grimp.build_graph(*present, include_external_packages=False)
    groups = circles(graph)
    print(f"modules: {len(graph.modules)}")
    print(f"import circles: {len(groups)} (largest: {max((len(g) for g in groups), default=0)} modules)")
    if names:
        for group in groups:
            print("  circle:", ", ".join(sorted(group)))
    upward = []
    for module in sorted(graph.modules):
        low = floor(module)
        for imported in graph.find_modules_directly_imported_by(module):
            high = floor(imported)
            if low is not None and high is not None and high > low:
                upward.append(f"{module} -> {imported}")
    print(f"imports back up the floors: {len(upward)}")
    if names:
        for line in upward:
            print("  up:", line)
    local = local_imports()
    print(f"function-local imports (outside create_app): {len(local)}")
    if names:
        for line in local:
            print("  local:", line)
    helper = [m for m in graph.modules if m.startswith("ukey_helper")]
    server = {"wxbackend", "config", "binding_site", "jobs"}
    crossing = sorted(f"{m} -> {i}" for m in helper for i in graph.find_modules_directly_imported_by(m)
                      if i.split(".")[0] in server)
    back = sorted(f"{m} -> {i}" for m in graph.modules if m.split(".")[0] in server
                  for i in graph.find_modules_directly_imported_by(m) if i.startswith("ukey_helper"))
    print(f"helper -> server imports: {len(crossing)}; server -> helper imports: {len(back)}")
    if names:
        for line in crossing + back:
            print("  cross:", line)


if __name__ == "__main__":
    main()
