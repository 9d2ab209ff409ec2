"""g2core.names is the one vocabulary: no MLflow key, tag, artifact path or experiment name is spelled as a
literal anywhere else, and importing it stays cheap (no torch).

The scan reads the code with `ast`, so comments and docstrings never count, and a config key inside a longer
user-facing message ("study.storage: ...") is left alone: only a string that *is* a name (an exact literal such
as "val/abs_rel") or an f-string that *starts building* one (f"val/{k}", f"loss.weights.{term}") is flagged.
"""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SCANNED = ("g2core", "experiments", "benchmarks")
VOCABULARY = ROOT / "g2core" / "names.py"

# Metric keys (<split>/<metric>, vs_baseline/<variant>/<stat>, best_trial/<metric>), artifact paths
# (checkpoints/, samples/, eval/, report/) and experiment names (g2/<study>).
_PREFIXES = (
    "train",
    "val",
    "test",
    "best",
    "ref",
    "summary",
    "vs_baseline",
    "best_trial",
    "checkpoints",
    "samples",
    "eval",
)
_PATH_NAME = re.compile(rf"^(?:{'|'.join(_PREFIXES)}|g2)/")
# Tags and Optuna attributes: g2.role, g2.key, mlflow.parentRunId, mlflow_run_id, ...
_TAG_NAME = re.compile(r"^(?:g2\.|mlflow[._])[A-Za-z_]")
# A loss term's weight as param / config key: names.weight_param(term).
_WEIGHT_PARAM = re.compile(r"^loss\.weights\.[A-Za-z_{]")
# The study parent's tags that no config key shares. Its other tags (study.kind, study.metric, study.variants,
# study.storage, ...) are also the config keys that messages and validate_name(..., "study.variants") name: as
# literals they are messages; as tags they are read and written through names.StudyTags, never
# study_tag("<field>") outside a message (`parent_tag_calls`).
_STUDY_TAG = re.compile(r"^study\.(?:status|verdict|report_split|best_trial)(?:\.|$)")
# Strings that look like names and are not: (file or "*", text) -> why.
_NOT_NAMES = {
    ("*", "g2.project_root"): "an OmegaConf resolver",
    ("*", "mlflow.log"): "the local server's log file",
    ("*", "mlflow.db"): "the default SQLite store's file",
    ("*", "mlflow_pid"): "a field of the local stack's state file",
    ("*", "mlflow_port"): "a field of the local stack's state file",
    ("*", "samples/s"): "a benchmark's unit",
}
_NAME_CHARS = re.compile(r"^[^\s:=,;()'\"]+$")  # a name holds no spaces or message punctuation


def is_name(text: str) -> bool:
    """An exact literal that equals an MLflow name (or the leading part of one, like "val/")."""
    if not _NAME_CHARS.match(text):
        return False
    return bool(
        _PATH_NAME.match(text) or _TAG_NAME.match(text) or _WEIGHT_PARAM.match(text) or _STUDY_TAG.match(text)
    )


def starts_name(fstring: ast.JoinedStr) -> bool:
    """An f-string whose leading literal part begins a name: f"val/{k}", f"g2/{study}", f"summary/{v}/..."."""
    first = fstring.values[0] if fstring.values else None
    if not (isinstance(first, ast.Constant) and isinstance(first.value, str)):
        return False
    head = first.value.split(" ", 1)[0].split(":", 1)[0]  # f"val/{k}: ..." still builds val/<k>
    return bool(head) and is_name(head + "x")  # "x" stands for the first formatted value


def literal_names(path: Path) -> list[str]:
    """`file:line: 'text'` for each string literal or f-string in `path` that spells an MLflow name."""
    tree = ast.parse(path.read_text(), filename=str(path))
    skip: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.JoinedStr):  # its literal parts are judged through the f-string as a whole
            skip.update(id(part) for part in node.values if isinstance(part, ast.Constant))
            specs = [part.format_spec for part in node.values if isinstance(part, ast.FormattedValue)]
            skip.update(id(spec) for spec in specs if spec is not None)
        elif isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant):  # docstrings
            skip.add(id(node.value))
    rel = path.relative_to(ROOT).as_posix()
    found = []
    for node in ast.walk(tree):
        if id(node) in skip:
            continue
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and is_name(node.value):
            if ("*", node.value) not in _NOT_NAMES and (rel, node.value) not in _NOT_NAMES:
                found.append(f"{rel}:{node.lineno}: {node.value!r}")
        elif isinstance(node, ast.JoinedStr) and starts_name(node):
            found.append(f"{rel}:{node.lineno}: {ast.unparse(node)}")
    return found + parent_tag_calls(tree, rel)


def parent_tag_calls(tree: ast.AST, rel: str) -> list[str]:
    """`study_tag("kind")` and the like outside an f-string (a message may name the tag): a parent tag spelled
    by hand instead of through names.StudyTags, which the runner encodes and the report decodes."""
    in_messages = {id(n) for f in ast.walk(tree) if isinstance(f, ast.JoinedStr) for n in ast.walk(f)}
    return [
        f"{rel}:{node.lineno}: {ast.unparse(node)}"
        for node in ast.walk(tree)
        if isinstance(node, ast.Call)
        and getattr(node.func, "id", getattr(node.func, "attr", None)) == "study_tag"
        and any(isinstance(a, ast.Constant) for a in node.args)
        and id(node) not in in_messages
    ]


def scanned_files() -> list[Path]:
    files = [p for d in SCANNED for p in sorted((ROOT / d).rglob("*.py")) if p != VOCABULARY]
    assert len(files) > 50, files  # the scan must see the code, not an empty folder
    return files


def test_the_scan_flags_names_and_passes_messages() -> None:
    names = ["val/abs_rel", "train/loss", "best/epoch", "summary/a", "vs_baseline/a", "g2/train", "g2.role",
             "mlflow.parentRunId", "mlflow_run_id", "study.status", "checkpoints/best.pt", "eval/",
             "samples/best_predictions.npz", "loss.weights.ssi", "val/"]  # fmt: skip
    assert all(map(is_name, names)), [n for n in names if not is_name(n)]
    messages = ["study.storage", "study.name", "study.variants", "loss.weights", "trainer.best_metric", "val loss",
                "study.kind: expected ablation or search", "use val/abs_rel", "g2core.names", "valid/x"]  # fmt: skip
    assert not any(map(is_name, messages)), [m for m in messages if is_name(m)]
    built = ast.parse(
        'f"val/{k}"; f"train/loss_{t}"; f"loss.weights.{t}: unknown"; f"g2/{s}"; f"study.verdict.{v}"'
    ).body
    assert all(starts_name(stmt.value) for stmt in built)
    prose = ast.parse('f"{k}: expected val/abs_rel"; f"study.storage={u!r}: bad"; f"val {x}"').body
    assert not any(starts_name(stmt.value) for stmt in prose)
    tags = (
        'tags[study_tag("kind")]; names.study_tag("seeds"); f"not in {study_tag(\'variants\')}"; study_tag(f)'
    )
    assert len(parent_tag_calls(ast.parse(tags), "x.py")) == 2


def test_no_mlflow_name_is_spelled_outside_names_py() -> None:
    found = [hit for path in scanned_files() for hit in literal_names(path)]
    assert not found, "spell these with g2core.names:\n" + "\n".join(found)


def test_importing_names_does_not_import_torch() -> None:
    code = "import sys, g2core.names; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False", out.stdout + out.stderr
