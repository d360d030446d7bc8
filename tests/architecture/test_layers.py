"""The layer rules of docs/architecture.md, checked on the import graph of src/knowrithm.

- Domains may depend on each other only without cycles; importing another domain's
  `models` module, or the `audit` domain (the bottom layer), does not count.
- infra/ and integrations/ never import a domain (they know no business nouns).
- A `routes.py` never commits nor enqueues: the service that changes the rows commits, then
  queues the work.
- Only the edge reads the request: services, tasks and the audit layer receive the actor
  (which carries the request's origin) as an argument instead of importing `flask.g`,
  `flask.request` or the request-reading helpers of `infra.auth` / `infra.http`.
"""
from __future__ import annotations

import ast

from tests.architecture import imports


def _domain_edges() -> dict[tuple[str, str], list[str]]:
    return imports.checked_domain_edges(imports.build())


def test_no_import_cycle_between_domains():
    edges = _domain_edges()
    cycles = imports.strongly_connected(set(edges))
    report = []
    for cycle in cycles:
        report.append(" <-> ".join(sorted(cycle)))
        report += [f"    {line}" for (a, b), lines in sorted(edges.items()) if a in cycle and b in cycle
                   for line in lines]
    assert not cycles, "domain import cycles:\n" + "\n".join(report)


def test_shared_domains_import_no_other_domain():
    offenders = [f"{i.source}:{i.line} -> {i.target}" for i in imports.build().imports
                 if imports.layer(i.source) in {("domains", d) for d in imports.SHARED_DOMAINS}
                 and imports.layer(i.target)[0] == "domains"
                 and imports.layer(i.target)[1] not in imports.SHARED_DOMAINS]
    assert not offenders, offenders


def test_infra_and_integrations_never_import_domains():
    offenders = [f"{i.source}:{i.line} -> {i.target}" for i in imports.build().imports
                 if imports.layer(i.source)[0] in ("infra", "integrations") and imports.layer(i.target)[0] == "domains"]
    assert not offenders, offenders


def test_routes_never_commit():
    offenders = []
    for name, path in imports.module_files().items():
        if not path.name.endswith("routes.py"):
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "commit":
                offenders.append(f"{name}:{node.lineno}")
    assert not offenders, f"commit() in routes (move it into the service): {offenders}"


def test_routes_never_enqueue():
    offenders = []
    for name, path in imports.module_files().items():
        if not path.name.endswith("routes.py"):
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call) and getattr(node.func, "id", getattr(node.func, "attr", None)) == "enqueue":
                offenders.append(f"{name}:{node.lineno}")
    assert not offenders, f"enqueue() in routes (the service queues after its commit): {offenders}"


# Request-reading names: Flask's request globals, and the infra helpers built on them.
REQUEST_GLOBALS = {
    "flask": {"g", "request", "session", "has_request_context"},
    "knowrithm.infra.auth": {"current_principal", "request_actor", "acting_company_id", "attribute_request"},
    "knowrithm.infra.http": {"request_origin"},
}
# Edge modules of the domains, besides every `routes.py` / `*_routes.py`: turning a request's
# credentials into a principal (and counting that key's use), the per-request API log, the
# Socket.IO handlers.
EDGE_MODULES = {
    "knowrithm.domains.auth.principal",
    "knowrithm.domains.auth.key_cache",
    "knowrithm.domains.auth.identity",
    "knowrithm.domains.auth.request_log",
}


def _is_edge(name: str, path) -> bool:
    return path.name.endswith("routes.py") or path.name == "realtime.py" or name in EDGE_MODULES


def test_only_the_edge_reads_the_request():
    offenders = []
    for name, path in imports.module_files().items():
        if imports.layer(name)[0] != "domains" or _is_edge(name, path):
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module in REQUEST_GLOBALS:
                offenders += [f"{name}:{node.lineno} imports {node.module}.{alias.name}" for alias in node.names
                              if alias.name in REQUEST_GLOBALS[node.module]]
            elif isinstance(node, ast.Attribute) and node.attr in ("g", "request") \
                    and isinstance(node.value, ast.Name) and node.value.id == "flask":
                offenders.append(f"{name}:{node.lineno} uses flask.{node.attr}")
    assert not offenders, "services receive the actor from the route instead:\n" + "\n".join(offenders)


def test_the_checks_see_the_code():
    # Guards the checks above against passing vacuously (an empty graph has no cycles).
    graph = imports.build()
    assert len(graph.modules) > 100 and len(_domain_edges()) > 20
