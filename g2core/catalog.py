"""`python experiments/ablate.py --list` (and train.py --list): what a user can pick, one line each.

Studies, experiment presets, models, data sources and loss terms (built-in and the user's own, declared
under `loss.custom_terms` in any preset), from conf/ and every G2_CONF_PATH folder. A preset's description is
the first comment line of its yaml file; a function's or a class's is its docstring's first line.
`entry_argv` is what the entry points run before Hydra reads the command line.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import yaml

from g2core.config import CONF_DIR, ConfigError, conf_dirs, searchpath_override
from g2core.plugins import TARGET, first_doc_line, import_target

LIST_FLAG = "--list"
# Groups a user picks with `<group>=<name>` (study: `+study=<name>`), in the order --list prints them.
GROUPS = (
    ("study", "studies (+study=<name>, experiments/ablate.py)"),
    ("experiment", "experiment presets (experiment=<name>; a study's variants)"),
    ("model", "models (model=<name>)"),
    ("data", "data sources (data=<name>)"),
)


def entry_argv(argv: list[str]) -> list[str]:
    """Print the catalog and exit for `--list`; else argv with G2_CONF_PATH's folders on Hydra's search path
    (first, so a `hydra.searchpath=` of the user's own still wins)."""
    if LIST_FLAG in argv[1:]:
        print(catalog())
        raise SystemExit(0)
    return [argv[0], *searchpath_override(), *argv[1:]]


def comment_line(path: Path) -> str:
    """The first comment line of a yaml file that is not a `# @package` directive."""
    for line in path.read_text(encoding="utf-8").splitlines():
        text = line.strip()
        if text.startswith("#") and not text.startswith("# @package"):
            return text.lstrip("#").strip()
        if text and not text.startswith("#"):
            return ""
    return ""


def presets(group: str) -> dict[str, Path]:
    """name -> file of every preset of a group; a G2_CONF_PATH file shadows conf/'s of the same name."""
    found: dict[str, Path] = {}
    for folder in conf_dirs():
        for path in sorted((folder / group).glob("*.yaml")):
            found[path.stem] = path
    return dict(sorted(found.items()))


def declared_terms() -> dict[str, tuple[str, Path]]:
    """term -> (`_target_`, file) of every `loss.custom_terms` entry in the loss and experiment presets."""
    terms: dict[str, tuple[str, Path]] = {}
    for group in ("loss", "experiment"):
        for path in presets(group).values():
            for term, target in _custom_terms_in(path, group):
                terms.setdefault(term, (target, path))
    return terms


def _custom_terms_in(path: Path, group: str) -> Iterator[tuple[str, str]]:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError:
        return
    loss = data if group == "loss" else data.get("loss") if isinstance(data, dict) else None
    custom = loss.get("custom_terms") if isinstance(loss, dict) else None
    for term, node in (custom or {}).items():
        if isinstance(node, dict) and isinstance(node.get(TARGET), str):
            yield str(term), node[TARGET]


def _describe_target(target: str) -> str:
    try:
        return first_doc_line(import_target(target, TARGET)) or target
    except ConfigError as exc:
        return f"(cannot import: {str(exc).split(': ', 1)[-1]})"


def _constructor_line(fn: Any) -> str:
    """Its docstring's first line, else its module's (a constructor is often a one-line function)."""
    return first_doc_line(fn) or first_doc_line(sys.modules.get(fn.__module__))


def _where(path: Path) -> str:
    return "" if path.is_relative_to(CONF_DIR) else f"  [{path.parent.parent}]"


def _rows(rows: Sequence[tuple[str, str]]) -> list[str]:
    width = max((len(name) for name, _ in rows), default=0)
    return [f"  {name.ljust(width)}  {text}".rstrip() for name, text in rows] or ["  (none)"]


def catalog() -> str:
    """The whole listing, as --list prints it."""
    from g2core.losses import term_functions
    from g2core.models import list_models
    from g2core.models._registry import _MODEL_REGISTRY

    lines: list[str] = []
    for group, title in GROUPS:
        lines += [f"{title}:"]
        lines += _rows([(n, comment_line(p) + _where(p)) for n, p in presets(group).items()])
        if group == "model":
            lines += ["registered model constructors (model.name=<name>, or model._target_=pkg.module.fn):"]
            lines += _rows([(n, _constructor_line(_MODEL_REGISTRY[n])) for n in list_models()])
    lines += ["loss terms (loss.weights.<term>=<w>; logged as train/loss_<term>):"]
    rows = [(t, first_doc_line(getattr(fn, "func", fn))) for t, fn in term_functions().items()]  # (partials)
    rows += [
        (t, f"{_describe_target(target)}  [{target}, {path}]")
        for t, (target, path) in declared_terms().items()
    ]
    lines += _rows(rows)
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> Any:
    """`python -m g2core.catalog`: the same listing."""
    print(catalog())
    return 0


if __name__ == "__main__":
    sys.exit(main())
