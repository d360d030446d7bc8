"""Static import graph of ``src/knowrithm`` and the figures docs/architecture.md tracks.

Run ``python tests/architecture/imports.py`` to print the figures (domain-to-domain import
edges, function-level imports, module count, largest module); ``test_layers.py`` turns the
layer rules of docs/architecture.md into failing tests with the same graph.
"""
from __future__ import annotations

import ast
import sys
from dataclasses import dataclass, field
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "src" / "knowrithm"
ROOT = "knowrithm"
# Domains every other domain may import: the bottom layer (see docs/architecture.md, "Layers").
SHARED_DOMAINS = frozenset({"audit"})


@dataclass(frozen=True)
class Import:
    source: str          # importing module, dotted
    target: str          # imported module, dotted (best effort: "from x import y" -> x.y if x.y is a module)
    line: int
    in_function: bool    # inside a def / class body rather than at module level
    type_only: bool      # under ``if TYPE_CHECKING:``


@dataclass
class Graph:
    modules: dict[str, Path] = field(default_factory=dict)
    imports: list[Import] = field(default_factory=list)


def module_files() -> dict[str, Path]:
    found = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        rel = path.relative_to(PACKAGE.parent)
        if "migrations" in rel.parts:
            continue
        parts = list(rel.with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        found[".".join(parts)] = path
    return found


def _resolve(module: str, is_package: bool, node: ast.ImportFrom) -> str:
    if not node.level:
        return node.module or ""
    base = module.split(".") if is_package else module.split(".")[:-1]
    base = base[: len(base) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


class _Visitor(ast.NodeVisitor):
    def __init__(self, module: str, is_package: bool, modules: dict[str, Path]):
        self.module, self.is_package, self.modules = module, is_package, modules
        self.depth = 0
        self.type_only = 0
        self.found: list[Import] = []

    def _scoped(self, node):
        self.depth += 1
        self.generic_visit(node)
        self.depth -= 1

    visit_FunctionDef = visit_AsyncFunctionDef = visit_ClassDef = visit_Lambda = _scoped

    def visit_If(self, node: ast.If):
        test = node.test
        name = test.id if isinstance(test, ast.Name) else getattr(test, "attr", None)
        if name == "TYPE_CHECKING":
            self.type_only += 1
            for child in node.body:
                self.visit(child)
            self.type_only -= 1
            for child in node.orelse:
                self.visit(child)
        else:
            self.generic_visit(node)

    def _add(self, target: str, line: int):
        if target == ROOT or target.startswith(ROOT + "."):
            self.found.append(Import(self.module, target, line, self.depth > 0, self.type_only > 0))

    def visit_Import(self, node: ast.Import):
        for alias in node.names:
            self._add(alias.name, node.lineno)

    def visit_ImportFrom(self, node: ast.ImportFrom):
        base = _resolve(self.module, self.is_package, node)
        for alias in node.names:
            sub = f"{base}.{alias.name}"
            self._add(sub if sub in self.modules else base, node.lineno)


def build() -> Graph:
    graph = Graph(modules=module_files())
    for name, path in graph.modules.items():
        visitor = _Visitor(name, path.name == "__init__.py", graph.modules)
        visitor.visit(ast.parse(path.read_text(), str(path)))
        graph.imports.extend(visitor.found)
    return graph


def count_function_level_imports(*, ours_only: bool = False) -> int:
    """``import`` statements inside a def or class body (of any module, or only of ours)."""
    total = 0
    for path in module_files().values():
        tree = ast.parse(path.read_text())
        for top in tree.body:
            for node in ast.walk(top):
                if isinstance(node, (ast.Import, ast.ImportFrom)) and node is not top:
                    if _inside_function(top, node) and (not ours_only or _is_ours(node)):
                        total += 1
    return total


def _is_ours(node: ast.Import | ast.ImportFrom) -> bool:
    if isinstance(node, ast.ImportFrom):
        return bool(node.level) or (node.module or "").split(".")[0] == ROOT
    return any(alias.name.split(".")[0] == ROOT for alias in node.names)


def _inside_function(top: ast.AST, target: ast.AST) -> bool:
    def walk(node, inside):
        for child in ast.iter_child_nodes(node):
            now = inside or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Lambda))
            if child is target:
                return inside
            found = walk(child, now)
            if found is not None:
                return found
        return None
    start = isinstance(top, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))
    return bool(walk(top, start))


def layer(module: str) -> tuple[str, str | None]:
    """("domains", "documents"), ("infra", None), ("integrations", "llm"), ("app", None)..."""
    parts = module.split(".")
    if len(parts) < 2:
        return ("root", None)
    if parts[1] in ("domains", "integrations", "infra"):
        return (parts[1], parts[2] if len(parts) > 2 else None)
    return (parts[1], None)


def domain_edges(graph: Graph, *, include_function_level: bool = True) -> set[tuple[str, str]]:
    edges = set()
    for imp in graph.imports:
        if imp.type_only or (imp.in_function and not include_function_level):
            continue
        (sl, sd), (tl, td) = layer(imp.source), layer(imp.target)
        if sl == tl == "domains" and sd and td and sd != td:
            edges.add((sd, td))
    return edges


def checked_domain_edges(graph: Graph) -> dict[tuple[str, str], list[str]]:
    """Domain-to-domain imports the layer rules constrain: not type-only, not of another
    domain's `models` module, not of a shared (bottom-layer) domain. Value: where each happens."""
    edges: dict[tuple[str, str], list[str]] = {}
    for imp in graph.imports:
        (source_layer, source), (target_layer, target) = layer(imp.source), layer(imp.target)
        if imp.type_only or source_layer != "domains" or target_layer != "domains" or not source or not target:
            continue
        if source == target or target in SHARED_DOMAINS or imp.target.split(".")[-1] == "models":
            continue
        edges.setdefault((source, target), []).append(f"{imp.source}:{imp.line} -> {imp.target}")
    return edges


def strongly_connected(edges: set[tuple[str, str]]) -> list[set[str]]:
    """Tarjan's algorithm; returns only components with more than one node."""
    nodes = sorted({n for e in edges for n in e})
    succ = {n: sorted(t for s, t in edges if s == n) for n in nodes}
    index, low, stack, on, out, counter = {}, {}, [], set(), [], [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in succ[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = set()
            while True:
                w = stack.pop()
                on.discard(w)
                comp.add(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(comp)

    sys.setrecursionlimit(10000)
    for n in nodes:
        if n not in index:
            visit(n)
    return out


def figures() -> dict:
    graph = build()
    sizes = {name: len(path.read_text().splitlines()) for name, path in graph.modules.items()}
    largest = max(sizes, key=sizes.get)
    ordered = sorted(sizes.values())
    edges = domain_edges(graph)
    checked = set(checked_domain_edges(graph))
    return {
        "modules": len(graph.modules),
        "median_module_lines": ordered[len(ordered) // 2],
        "largest_module": f"{largest} ({sizes[largest]} lines)",
        "domain_edges": len(edges),
        "domain_edges_module_level": len(domain_edges(graph, include_function_level=False)),
        "function_level_imports": count_function_level_imports(),
        "function_level_imports_of_knowrithm": count_function_level_imports(ours_only=True),
        "largest_domain_cycle": max((len(c) for c in strongly_connected(edges)), default=0),
        "domain_edges_excluding_models_and_audit": len(checked),
        "largest_cycle_excluding_models_and_audit": max((len(c) for c in strongly_connected(checked)), default=0),
    }


if __name__ == "__main__":
    for key, value in figures().items():
        print(f"{key:38} {value}")
