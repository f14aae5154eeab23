"""The layering rules (README "Architecture"), checked by reading the imports of every module."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FORBIDDEN_IN_CORE = {"asyncio", "aiohttp", "socket", "time", "datetime", "threading",
                     "selectors", "subprocess"}


def imports(path: Path) -> list[tuple[str, int]]:
    tree = ast.parse(path.read_text(), filename=str(path))
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out += [(a.name, node.lineno) for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            out.append((node.module, node.lineno))
    return out


def test_core_is_sans_io() -> None:
    bad = []
    for path in sorted((ROOT / "gossipreg" / "core").rglob("*.py")):
        for name, line in imports(path):
            if name.split(".")[0] in FORBIDDEN_IN_CORE:
                bad.append(f"{path.relative_to(ROOT)}:{line} imports {name}")
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            # random.Random (the injected generator's type) is fine; module-level draws are not.
            if (isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name)
                    and node.value.id == "random" and node.attr != "Random"):
                bad.append(f"{path.relative_to(ROOT)}:{node.lineno} uses random.{node.attr}")
    assert not bad, "\n".join(bad)


def test_library_never_imports_sim() -> None:
    bad = [f"{p.relative_to(ROOT)}:{line} imports {name}"
           for p in sorted((ROOT / "gossipreg").rglob("*.py"))
           for name, line in imports(p) if name.split(".")[0] == "sim"]
    assert not bad, "\n".join(bad)


def test_simulator_uses_only_the_core() -> None:
    bad = []
    for p in sorted((ROOT / "sim").rglob("*.py")):
        if {"mesh", "bench"} & set(p.relative_to(ROOT).parts):
            continue  # the harness drives real nodes; benchmarks measure what users call
        for name, line in imports(p):
            if name.startswith(("gossipreg.io", "gossipreg.registry", "gossipreg.cli.app")):
                bad.append(f"{p.relative_to(ROOT)}:{line} imports {name}")
    assert not bad, "\n".join(bad)


# A Node's parts: outside the core, only its read surface, its inputs and its outputs are used.
# (``events``, its event queue, is left out: simulator nodes and trackers have fields of that
# name; nothing outside reaches the queue but through ``poll_event``.)
NODE_PARTS = {"dir", "swim", "ae", "replica", "view", "codec", "members", "metrics", "out",
              "wall_offset", "inbound", "cfg", "rng"}
# Underscored names that are public API of the standard library.
STDLIB_UNDERSCORED = {("os", "_exit"), ("sys", "_getframe"), ("sys", "_debugmallocstats")}


def _outside_the_core() -> list[Path]:
    g = ROOT / "gossipreg"
    return sorted([*(g / "io").rglob("*.py"), *g.glob("registry*.py"),
                   *(g / "cli").rglob("*.py"), *(ROOT / "sim").rglob("*.py")])


def test_nothing_outside_the_core_reaches_into_its_parts_or_privates() -> None:
    """A part is named on something else than ``self`` (a class's own attribute of the same
    name is not the node's) and not called (``read.members()`` is a method of the read
    surface, not the member table)."""
    bad = []
    for path in _outside_the_core():
        tree = ast.parse(path.read_text(), filename=str(path))
        called = {id(n.func) for n in ast.walk(tree) if isinstance(n, ast.Call)}
        for node in ast.walk(tree):
            if not isinstance(node, ast.Attribute):
                continue
            owner = node.value.id if isinstance(node.value, ast.Name) else None
            own = owner in ("self", "cls")
            private = (node.attr.startswith("_") and not node.attr.startswith("__")
                       and not own and (owner, node.attr) not in STDLIB_UNDERSCORED)
            part = node.attr in NODE_PARTS and not own and id(node) not in called
            if private or part:
                bad.append(f"{path.relative_to(ROOT)}:{node.lineno} .{node.attr}")
    assert not bad, "\n".join(bad)



def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _package_imports(path: Path, name: str) -> set[str]:
    """Every gossipreg module ``path`` imports (``TYPE_CHECKING`` blocks and relative imports
    included); ``from pkg import mod`` counts as importing ``pkg.mod`` when that is a module."""
    tree = ast.parse(path.read_text(), filename=str(path))
    is_pkg = path.name == "__init__.py"
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = name.split(".")
                anchor = anchor if is_pkg else anchor[:-1]
                anchor = anchor[: len(anchor) - (node.level - 1)]
                base = ".".join([*anchor, *([base] if base else [])])
            found.add(base)
            found |= {f"{base}.{a.name}" for a in node.names}
    return {m for m in found if m.split(".")[0] == "gossipreg"}


def test_no_import_cycles_in_the_library() -> None:
    paths = sorted((ROOT / "gossipreg").rglob("*.py"))
    modules = {_module_name(p): p for p in paths}
    graph = {m: {i for i in _package_imports(p, m) if i in modules and i != m}
             for m, p in modules.items()}
    cycles: list[str] = []
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    stack: list[str] = []

    def visit(m: str) -> None:
        state[m] = 1
        stack.append(m)
        for n in sorted(graph[m]):
            if state.get(n) == 1:
                cycles.append(" -> ".join([*stack[stack.index(n):], n]))
            elif n not in state:
                visit(n)
        stack.pop()
        state[m] = 2

    for m in sorted(graph):
        if m not in state:
            visit(m)
    assert not cycles, "import cycles:\n" + "\n".join(cycles)


STATE_MACHINES = (
    "node.py", "inbound.py", "membership/swim.py", "membership/table.py",
    "membership/suspicion.py", "membership/nameguard.py", "gossip/dissemination.py",
    "gossip/broadcast.py", "gossip/antientropy.py", "replica/store.py", "replica/owner_state.py",
    "replica/hlc.py", "directory/directory.py", "directory/view.py", "directory/events.py",
    "search/index.py", "wire/codec.py", "wire/keyring.py",
)


def _lines(path: Path) -> int:
    return len(path.read_text().splitlines())


def test_modules_stay_small_and_core_modules_open_with_their_rules() -> None:
    big = [f"{p.relative_to(ROOT)}: {_lines(p)} lines"
           for p in sorted((ROOT / "gossipreg").rglob("*.py")) if _lines(p) > 400]
    assert not big, "modules over 400 lines:\n" + "\n".join(big)
    assert _lines(ROOT / "gossipreg" / "core" / "node.py") <= 300  # the router stays thin
    core = ROOT / "gossipreg" / "core"
    docs = {p.relative_to(core).as_posix(): ast.get_docstring(ast.parse(p.read_text())) or ""
            for p in sorted(core.rglob("*.py"))}
    silent = [m for m, d in docs.items() if not d]
    assert not silent, "core modules without a docstring:\n" + "\n".join(silent)
    # Each state machine opens with what holds of it (other modules need not force one).
    no_rules = [m for m in STATE_MACHINES if "Rules" not in docs[m]]
    assert not no_rules, "state machines whose docstring states no rules:\n" + "\n".join(no_rules)


# What each core sub-package may import of the core (besides itself). The shared vocabulary
# (errors, types, config, formulas) imports no sub-package; metrics counts wire message kinds.
_SHARED = {"errors", "types", "config", "formulas"}
CORE_MAY_IMPORT: dict[str, set[str]] = {
    "errors": set(), "types": {"errors"}, "config": {"errors", "plain"},
    "plain": set(), "formulas": set(),
    "metrics": {"errors", "types", "wire"},
    "wire": {"errors", "types"},
    # trust: the judge counts drops (metrics) and reads the shapes it judges (wire); the
    # signer and verifier are injected, so no cryptography and no other machine.
    "trust": _SHARED | {"metrics", "wire"},
    # membership signs our own Alive, Left and row, and relays members' proofs (trust).
    "membership": _SHARED | {"metrics", "wire", "trust"},
    "replica": _SHARED | {"wire"},
    "search": _SHARED,
    "gossip": _SHARED | {"metrics", "wire", "membership", "replica"},
    "directory": _SHARED | {"wire", "membership", "replica", "search"},
    "route": _SHARED,
}


def _core_unit(module: str) -> str | None:
    """The sub-package (or top-level module) of the core a module belongs to."""
    parts = module.split(".")
    return parts[2] if parts[:2] == ["gossipreg", "core"] and len(parts) > 2 else None


def test_core_sub_packages_import_only_downwards() -> None:
    bad = []
    for path in sorted((ROOT / "gossipreg" / "core").rglob("*.py")):
        name = _module_name(path)
        unit = _core_unit(name)
        allowed = CORE_MAY_IMPORT.get(unit or "")
        if allowed is None:  # node, inbound, reader and the package itself route everything
            continue
        for dep in _package_imports(path, name):
            target = _core_unit(dep)
            if dep.startswith("gossipreg.") and not dep.startswith("gossipreg.core"):
                bad.append(f"{name} imports {dep} (outside the core)")
            elif target and target != unit and target not in allowed:
                bad.append(f"{name} imports {dep} ({unit} may import {sorted(allowed)})")
    assert not bad, "\n".join(bad)


def test_io_registry_and_cli_layers_point_down() -> None:
    """io imports the core, never the registry or the CLI; the registry never the CLI."""
    rules = {"gossipreg.io": ("gossipreg.registry", "gossipreg.cli"),
             "gossipreg.registry": ("gossipreg.cli",)}
    bad = []
    for path in sorted((ROOT / "gossipreg").rglob("*.py")):
        name = _module_name(path)
        for layer, banned in rules.items():
            if name == layer or name.startswith(layer + "."):
                bad += [f"{name} imports {d}" for d in _package_imports(path, name)
                        if d.startswith(banned)]
    assert not bad, "\n".join(bad)


def test_transports_know_nothing_above_them() -> None:
    """io/net moves frames: it may use the core and io's address parsing, never the runner,
    the API, the credentials or the rest of io (they compose it, not the other way round)."""
    allowed = ("gossipreg.core", "gossipreg.io.net", "gossipreg.io.validate")
    bad = []
    for path in sorted((ROOT / "gossipreg" / "io" / "net").rglob("*.py")):
        name = _module_name(path)
        bad += [f"{name} imports {d}" for d in _package_imports(path, name)
                if not d.startswith(allowed)]
    assert not bad, "\n".join(bad)


def test_the_tree_stays_shallow() -> None:
    core = [p.name for p in (ROOT / "gossipreg" / "core").glob("*.py")]
    top = [p.name for p in (ROOT / "gossipreg").glob("*.py")]
    assert len(core) <= 12, f"gossipreg/core has {len(core)} modules directly inside: {core}"
    assert len(top) <= 8, f"gossipreg/ has {len(top)} modules directly inside: {top}"
    inits = sorted((ROOT / "gossipreg").rglob("__init__.py"))
    undocumented = [str(p.relative_to(ROOT)) for p in inits
                    if not ast.get_docstring(ast.parse(p.read_text()))]
    assert not undocumented, f"packages without a docstring: {undocumented}"
