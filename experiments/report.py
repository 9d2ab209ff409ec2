"""Rebuild a study's report from MLflow alone: `python experiments/report.py +study=loss_terms`.

Writes paths.root/reports/<study>/ (README.md, table.csv/.tex/.html, comparison.csv, figures), attaches it to
the study's parent run and sets the parent's summary. The numbers come from the test split; report.split=val
for runs trained without one. Works on any machine that reaches the tracking store (tracking.uri=...).
"""

from g2core.startup import quiet_start

quiet_start()  # Ctrl-C while importing (up to ~40 s on a loaded machine): one line, status 130

from pathlib import Path  # noqa: E402

import hydra  # noqa: E402
from omegaconf import DictConfig  # noqa: E402

from g2core.cli import run_cli  # noqa: E402
from g2core.store_probe import check_entry_stores  # noqa: E402


@hydra.main(config_path="../conf", config_name="report", version_base="1.3")
def main(cfg: DictConfig) -> None:
    run_cli(lambda: check_entry_stores(cfg, study_storage=False))  # in seconds; a report reads MLflow only
    from g2core.checks import validate_name
    from g2core.config import ConfigError, presets
    from g2core.names import REPORT_README, REPORTS_DIR, ROBUSTNESS_ALIGNS, TEST, VAL, study_experiment
    from g2core.report import write_report
    from g2core.tracking import resolve_tracking_uri

    def build():
        if "study" not in cfg:
            raise ConfigError(
                f"no study selected: pass +study=<name>; available: {', '.join(presets('study'))}"
            )
        name = validate_name(str(cfg.study.name), "study.name")
        out = Path(cfg.paths.root) / REPORTS_DIR / name
        uri = resolve_tracking_uri(cfg.tracking.uri, cfg.paths.root)
        experiment = cfg.study.get("experiment") or study_experiment(name)
        split = str(cfg.get("report", {}).get("split", TEST))
        if split not in (TEST, VAL):
            raise ConfigError(f"report.split={split!r}: expected one of {TEST}, {VAL}")
        aligns = tuple(cfg.get("report", {}).get("robustness_aligns", ROBUSTNESS_ALIGNS) or ())
        if not set(aligns) <= set(ROBUSTNESS_ALIGNS):
            raise ConfigError(
                f"report.robustness_aligns={list(aligns)}: expected a list of {', '.join(ROBUSTNESS_ALIGNS)}"
            )
        return write_report(
            uri,
            name,
            out,
            experiment_name=experiment,
            log_to_parent=bool(cfg.log_to_parent),
            split=split,
            robustness_aligns=aligns,
        )

    result = run_cli(build)
    print(f"report: {result.out_dir / REPORT_README} ({len(result.files)} files)")


if __name__ == "__main__":
    main()
