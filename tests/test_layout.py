"""The package's shape: no import cycles (lazy imports included), Typer only in the CLI,
every module importable on its own."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "specter2_cli"


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


MODULES = {module_name(p): p for p in sorted(PACKAGE.rglob("*.py")) if p.name != "__main__.py"}


def _in_type_checking(node: ast.AST, parents: dict[ast.AST, ast.AST]) -> bool:
    while node in parents:
        node = parents[node]
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            return True
    return False


def imports_of(name: str) -> tuple[set[str], set[str]]:
    """(modules of this package it imports, anywhere but under TYPE_CHECKING; top-level names
    of the other packages it imports)."""
    path = MODULES[name]
    tree = ast.parse(path.read_text())
    parents = {child: node for node in ast.walk(tree) for child in ast.iter_child_nodes(node)}
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    ours: set[str] = set()
    others: set[str] = set()
    for node in ast.walk(tree):
        if _in_type_checking(node, parents):
            continue
        if isinstance(node, ast.Import):
            for a in node.names:
                (ours if a.name.startswith("specter2_cli") else others).add(a.name.split(".")[0])
        elif isinstance(node, ast.ImportFrom):
            if node.level == 0:
                base = node.module or ""
                if not base.startswith("specter2_cli"):
                    others.add(base.split(".")[0])
                    continue
            else:
                up = package.split(".")
                up = up[: len(up) - (node.level - 1)]
                base = ".".join(up + ([node.module] if node.module else []))
            for a in node.names:
                candidate = f"{base}.{a.name}"
                ours.add(candidate if candidate in MODULES else base)
    ours.discard(name)
    return {m for m in ours if m in MODULES}, others


def test_no_import_cycles() -> None:
    graph = {m: imports_of(m)[0] for m in MODULES}
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(m: str) -> None:
        state[m] = 1
        stack.append(m)
        for d in sorted(graph[m]):
            if state.get(d) == 1:
                cycle = [*stack[stack.index(d) :], d]
                raise AssertionError("import cycle: " + " -> ".join(cycle))
            if d not in state:
                visit(d)
        stack.pop()
        state[m] = 2

    for m in sorted(graph):
        if m not in state:
            visit(m)


def test_only_the_cli_imports_typer() -> None:
    users = {m for m in MODULES if "typer" in imports_of(m)[1]}
    assert users and all(m.startswith("specter2_cli.cli") for m in users), sorted(users)


def test_every_module_imports_on_its_own() -> None:
    """Each module of ours imports first, alone: a child forked per module from one
    interpreter that holds the third-party libraries but none of our modules."""
    code = (
        "import os, sys, traceback\n"
        "import numpy, pyarrow, pyarrow.parquet, typer, torch  # theirs, not ours: shared\n"
        "assert not [m for m in sys.modules if m.startswith('specter2_cli')]\n"
        "failed = []\n"
        "for m in sys.argv[1:]:\n"
        "    r, w = os.pipe()\n"
        "    pid = os.fork()\n"
        "    if pid == 0:\n"
        "        os.close(r)\n"
        "        try:\n"
        "            __import__(m)\n"
        "            os._exit(0)\n"
        "        except BaseException:\n"
        "            os.write(w, traceback.format_exc().strip().splitlines()[-1].encode())\n"
        "            os._exit(1)\n"
        "    os.close(w)\n"
        "    msg = os.read(r, 65536).decode()\n"
        "    os.close(r)\n"
        "    if os.waitpid(pid, 0)[1]:\n"
        "        failed.append(m + ': ' + msg)\n"
        "print('\\n'.join(failed)); sys.exit(1 if failed else 0)\n"
    )
    r = subprocess.run([sys.executable, "-c", code, *MODULES], capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr
