"""Which software and CPU environments made the report's numbers: the counted runs grouped by their `env.*`
tags (g2core/tracking/environment.py), as a table for the provenance section.

Runs are bit-identical only within one environment; across environments they drift by 1e-8..1e-6 a step,
amplified over the epochs, even under one config hash. So the section names every environment and flags
a study whose runs come from more than one.
"""

from __future__ import annotations

import pandas as pd

from g2core.tracking.environment import ENV_KEYS, ENV_PREFIX

from .collect import ChildRun

MIXED = "⚠"
NOT_RECORDED = "not recorded"
_LABELS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"


def _signature(tags: dict[str, str]) -> tuple[tuple[str, str], ...]:
    return tuple(sorted((k, v) for k, v in tags.items() if k.startswith(ENV_PREFIX)))


def _label(i: int) -> str:
    return _LABELS[i] if i < len(_LABELS) else f"E{i + 1}"


def _count(runs: list[str]) -> str:
    return f"{len(runs)} run" + ("s" if len(runs) != 1 else "")


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def environment_section(values: pd.DataFrame, children: list[ChildRun]) -> str:
    """Markdown: the environments of the counted runs (`values`), one column each, and a ⚠ line if several."""
    if values.empty:
        return ""
    tags = {c.run_id: c.tags for c in children}
    groups: dict[tuple[tuple[str, str], ...], list[str]] = {}
    for _, row in values.iterrows():
        groups.setdefault(_signature(tags.get(row["run_id"], {})), []).append(str(row["run_name"]))
    recorded = {sig: runs for sig, runs in groups.items() if sig}
    unrecorded = groups.get((), [])
    if not recorded:
        return (
            f"Environment: not recorded (the counted runs carry no `{ENV_PREFIX}*` tags; they were logged "
            "before runs recorded their torch build, CPU and threads).\n"
        )
    keys = [k for k in ENV_KEYS if any(k in dict(sig) for sig in recorded)]
    keys += sorted({k for sig in recorded for k, _ in sig} - set(keys))
    order = sorted(recorded, key=lambda sig: (-len(recorded[sig]), sig))
    columns = [(_label(i), dict(sig), recorded[sig]) for i, sig in enumerate(order)]
    header = ["| | " + " | ".join(f"{label} ({_count(runs)})" for label, _, runs in columns) + " |"]
    header.append("|---|" + "---|" * len(columns))
    rows = [
        f"| `{key}` | " + " | ".join(_cell(env.get(key, "")) for _, env, _ in columns) + " |" for key in keys
    ]
    lines = [
        f"Environments that made the numbers (`{ENV_PREFIX}*` tags; runs are bit-identical only within one):",
        "",
        *header,
        *rows,
        "",
    ]
    if len(columns) > 1:
        differ = [k for k in keys if len({env.get(k, "") for _, env, _ in columns}) > 1]
        lines.append(
            f"{MIXED} Mixed environments: the counted runs come from {len(columns)} environments, which "
            f"differ in {', '.join(f'`{k}`' for k in differ)}; numbers move by about 1e-8..1e-6 a step "
            "between them, amplified over the epochs, so a small difference may be the machine's, "
            "not the recipe's."
        )
        lines += [f"- {label}: {', '.join(runs)}" for label, _, runs in columns]
    if unrecorded:
        lines.append(f"- {NOT_RECORDED} (no `{ENV_PREFIX}*` tags): {', '.join(unrecorded)}")
    return "\n".join(lines) + "\n"
