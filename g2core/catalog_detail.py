"""`--list <name>`: one study (or experiment preset) in full: what it asks, its variants with the loss weights
a trial trains with, the baseline, the seeds, and the deciding metric.

The study is read as a run reads it (Hydra compose of conf/ablate.yaml with +study=<name>, checked by
the study engine's own load_spec), and each variant's weights from its composed config, so what is shown
is what `python experiments/ablate.py +study=<name>` would train.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

from g2core.config import CONF_DIR, ConfigError, compose

INDENT = "  "
WIDTH = 100


def _weights(overrides: list[str]) -> str:
    """A preset's non-zero loss weights as a trial trains with them, e.g. `ssi 1.0, silog 1.0`."""
    weights = compose(overrides).loss.weights
    text = ", ".join(f"{t} {w:g}" for t, w in weights.items() if float(w) != 0)
    return text or "(no term weighted)"


def _paragraph(text: str) -> list[str]:
    return textwrap.wrap(text, WIDTH, initial_indent=INDENT, subsequent_indent=INDENT) or [INDENT]


def _shown(path: Path) -> str:
    return str(path.relative_to(CONF_DIR.parent)) if path.is_relative_to(CONF_DIR.parent) else str(path)


def _seeds(spec) -> str:
    if spec.seeds_auto:
        return (
            f"auto: {spec.first_seeds} per variant first, then one more for each undecided variant, up to "
            f"{spec.max_seeds} (alpha {spec.alpha:g}, equivalent within ±{spec.equivalence_margin:.0%})"
        )
    return ", ".join(map(str, spec.seeds))


def describe_study(name: str, path: Path, description: str, preset_lines: dict[str, str]) -> str:
    """The study `name` (conf file `path`) as `--list <name>` prints it; `preset_lines`: each experiment
    preset's one-line description."""
    from g2core.study.spec import load_spec

    spec = load_spec(compose([f"+study={name}"], config_name="ablate"))
    lines = [f"study {name} ({spec.kind}; {_shown(path)})", *_paragraph(description), ""]
    lines.append(f"{INDENT}deciding metric: {spec.metric} ({spec.direction})")
    lines.append(f"{INDENT}seeds: {_seeds(spec)}")
    if spec.overrides:
        lines.append(f"{INDENT}every trial: {' '.join(spec.overrides)}")
    if spec.kind == "search":
        base = _weights([f"experiment={spec.base_variant}"])
        lines += [
            f"{INDENT}trials: {spec.n_trials}, each trained once per seed; Optuna picks the weights",
            f"{INDENT}base preset: {spec.base_variant} ({base}); its other settings are every trial's",
            f"{INDENT}search space (loss.weights.<term>):",
            *(f"{INDENT * 2}{t} in [{lo:g}, {hi:g}]" for t, (lo, hi) in spec.search_space.items()),
        ]
        if spec.objectives:  # a Pareto search: each objective in its own direction
            shown = ", ".join(f"{m} ({d})" for m, d in zip(spec.objectives, spec.directions, strict=True))
            lines.append(f"{INDENT}objectives: {shown}; candidates from the Pareto front")
        if spec.confirm:  # g2core.study.confirm: what the search's answer rests on
            n = spec.confirm_top_k + 1
            lines += [
                f"{INDENT}confirmation: the top {spec.confirm_top_k} weight sets and {spec.base_variant} trained "
                f"again over fresh seeds,",
                f"{INDENT * 2}{spec.first_seeds} then up to {spec.max_seeds} while undecided "
                f"({n * spec.first_seeds} to {n * spec.max_seeds} runs), decided on the test split",
            ]
    else:
        baseline = spec.baseline or spec.variants[0]
        lines.append(f"{INDENT}baseline: {baseline} (every other variant is compared with it)")
        lines.append(f"{INDENT}variants (experiment=<name>; loss weights as a trial trains them):")
        rows = [
            (v, _weights([f"experiment={v}", *spec.overrides]), preset_lines.get(v, ""))
            for v in spec.variants
        ]
        name_w = max(len(v) for v, _, _ in rows)
        weight_w = max(len(w) for _, w, _ in rows)
        for variant, weights, text in rows:
            mark = "*" if variant == baseline else " "
            lines.append(
                f"{INDENT}{mark} {variant.ljust(name_w)}  {weights.ljust(weight_w)}  {text}".rstrip()
            )
        lines.append(f"{INDENT}(* the baseline)")
    lines += ["", f"run it: python experiments/ablate.py +study={name}"]
    return "\n".join(lines)


def describe_preset(name: str, path: Path, description: str) -> str:
    """An experiment preset as `--list <name>` prints it: its description and loss weights."""
    lines = [f"experiment preset {name} ({_shown(path)})", *_paragraph(description)]
    lines += ["", f"{INDENT}loss weights: {_weights([f'experiment={name}'])}"]
    lines += ["", f"train it: python experiments/train.py experiment={name}"]
    return "\n".join(lines)


def unknown(name: str, studies: list[str], presets: list[str]) -> ConfigError:
    return ConfigError(
        f"--list {name}: no study or experiment preset of that name; studies: {', '.join(studies)}; "
        f"presets: {', '.join(presets)} (--list alone lists everything)"
    )
