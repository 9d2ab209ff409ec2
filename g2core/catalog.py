"""`python experiments/ablate.py --list` (and train.py --list): what a user can pick, one line each.

Studies, experiment presets, models, data sources and loss terms (built-in and the user's own, declared
under `loss.custom_terms` in any preset), from conf/ and every G2_CONF_PATH folder. A preset's description is
the first comment line of its yaml file; a function's or a class's is its docstring's first line.
`--list <study>` prints one study in full (g2core.catalog_detail). `entry_argv` is what the entry points run
before Hydra reads the command line.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import yaml

from g2core.config import CONF_DIR, ConfigError, presets, schema_overrides, searchpath_override
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
    """Print the catalog and exit for `--list` (one study or preset for `--list <name>`); else argv with
    G2_CONF_PATH's folders on Hydra's search path (first, so a `hydra.searchpath=` of the user's own still
    wins)."""
    args = argv[1:]
    if LIST_FLAG in args:
        after = args[args.index(LIST_FLAG) + 1 :]
        name = after[0].split("=", 1)[-1] if after and not after[0].startswith("-") else ""
        try:
            print(detail(name) if name else catalog())
        except ConfigError as exc:
            print(f"g2-ablate: error: {exc}", file=sys.stderr)
            raise SystemExit(2) from None
        raise SystemExit(0)
    entry = Path(argv[0]).stem  # experiments/<config name>.py
    if (CONF_DIR / f"{entry}.yaml").is_file():
        from g2core.cli import check_composes

        check_composes(entry, args)  # a value of the wrong type: one line, status 2
    return [argv[0], *searchpath_override(), *schema_overrides(args)]


def _comment_lines(path: Path) -> list[str]:
    """A yaml file's leading comment lines (past `# @package`), without their `#`."""
    lines: list[str] = []
    for line in path.read_text(encoding="utf-8").splitlines():
        text = line.strip()
        if text.startswith("# @package") or (not text and not lines):
            continue
        if not text.startswith("#"):
            break
        lines.append(text.lstrip("#").strip())
    return [line for line in lines if line]


def description(path: Path) -> str:
    """A preset's description: its yaml file's leading comment lines, as one paragraph."""
    return " ".join(_comment_lines(path))


def comment_line(path: Path) -> str:
    """The description's first line, carried on to the end of its sentence (a comment wraps mid-sentence)."""
    lines = _comment_lines(path)
    text = " ".join(lines)
    end = _SENTENCE_END.search(text, max(len(lines[0]) - 1, 0)) if lines else None
    return text[: end.end()] if end else text


_SENTENCE_END = re.compile(r"[.!?](?=\s|$)")


def detail(name: str) -> str:
    """`--list <name>`: one study, or one experiment preset, in full (g2core.catalog_detail)."""
    from g2core.catalog_detail import describe_preset, describe_study, unknown

    studies, experiments = presets("study"), presets("experiment")
    if name in studies:
        lines = {n: comment_line(p) for n, p in experiments.items()}
        return describe_study(name, studies[name], description(studies[name]), lines)
    if name in experiments:
        return describe_preset(name, experiments[name], description(experiments[name]))
    raise unknown(name, list(studies), list(experiments))


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
