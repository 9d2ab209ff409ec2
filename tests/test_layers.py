"""The library's layers (issue 25): nothing outside g2core/stack/ imports it (stack/ serves the stores, the library
only connects to them), and the library has no import circle. Every import counts, including those inside
functions and under TYPE_CHECKING: a circle hidden behind a lazy import is still a circle.
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "g2core"


def _modules() -> dict[str, Path]:
    found = {}
    for path in PACKAGE.rglob("*.py"):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        found[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return found


def _imports(name: str, path: Path, modules: dict[str, Path]) -> set[str]:
    """The g2core modules `name` imports, and the packages that importing them runs (their __init__)."""
    package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    targets = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            targets.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(
                    [*package.split(".")[: len(package.split(".")) - node.level + 1], *filter(None, [base])]
                )
            targets.update(f"{base}.{a.name}" if f"{base}.{a.name}" in modules else base for a in node.names)
    out = set()
    for target in (t for t in targets if t.startswith("g2core.")):
        parts = target.split(".")
        for i in range(2, len(parts) + 1):  # g2core.a.b runs g2core.a's __init__ first
            prefix = ".".join(parts[:i])
            if prefix in modules and prefix != name and not name.startswith(f"{prefix}."):
                out.add(prefix)
    return out


def test_nothing_outside_stack_imports_it() -> None:
    modules = _modules()
    wrong = sorted(
        f"{name} imports {target}"
        for name, path in modules.items()
        if not name.startswith("g2core.stack")
        for target in _imports(name, path, modules)
        if target == "g2core.stack" or target.startswith("g2core.stack.")
    )
    assert not wrong, (
        "the library must not import g2core.stack (move what it needs into the library):\n" + "\n".join(wrong)
    )


def test_the_library_has_no_import_circle() -> None:
    """Across all of g2core (a circle through a lazy import counts: catalog -> catalog_detail -> study ->
    catalog was one, when study/ took the preset list from catalog instead of config)."""
    modules = _modules()
    edges = {name: _imports(name, path, modules) for name, path in modules.items()}

    def reaches(start: str, goal: str, seen: set[str]) -> bool:
        return any(
            n == goal or (n not in seen and not seen.add(n) and reaches(n, goal, seen)) for n in edges[start]
        )

    circles = sorted(name for name in modules if reaches(name, name, set()))
    assert not circles, f"modules on an import circle: {', '.join(circles)}"


# The report's read stage and what it reads with; parent.py and build.py write the report into MLflow, looks.py
# replays the decisions for a running study. Everything else in report/ decides or draws from what was read.
REPORT_IO = {"read", "collect", "values", "observations", "curves", "samples", "parent", "build", "looks"}


def test_the_report_reads_mlflow_in_one_stage() -> None:
    """report/ reads, then decides, then renders (issue 25): no module of the decide or render stage imports
    mlflow, so that no MLflow read can happen while the statistics are computed or the files drawn."""
    report = PACKAGE / "report"
    wrong = []
    for path in sorted(report.glob("*.py")):
        if path.stem in REPORT_IO or path.stem == "__init__":
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            names = (
                [a.name for a in node.names] if isinstance(node, ast.Import)
                else [node.module or ""] if isinstance(node, ast.ImportFrom) else []
            )  # fmt: skip
            wrong += [f"report/{path.name} imports {n}" for n in names if n.split(".")[0] == "mlflow"]
    assert not wrong, "read MLflow in report/read.py, not while deciding or drawing:\n" + "\n".join(wrong)
