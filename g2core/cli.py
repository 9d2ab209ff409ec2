"""What the entry points share: one clear line for a user's mistake, summaries at the end."""

from __future__ import annotations

import logging
import os
import signal
import sys
from collections.abc import Callable, Sequence
from typing import TypeVar

from omegaconf import DictConfig

from g2core.config import ConfigError, compose, redact
from g2core.startup import INTERRUPTED, INTERRUPTED_STATUS, interruptible

T = TypeVar("T")
log = logging.getLogger("g2core")


def user_errors() -> tuple[type[BaseException], ...]:
    """Errors a user causes and can fix from the message alone: no traceback for these."""
    from g2core.data import DataError
    from g2core.tracking import TrackingUnavailable
    from g2core.train import NonFiniteLoss

    errors: list[type[BaseException]] = [ConfigError, DataError, NonFiniteLoss, TrackingUnavailable]
    try:
        from g2core.report import ReportError

        errors.append(ReportError)
    except ImportError:
        pass
    return tuple(errors)


def run_cli(fn: Callable[[], T]) -> T:
    """Run an entry point's work; a user error becomes one line on stderr and exit status 2, Ctrl-C one line
    and status 130 (the work below closes its MLflow runs as KILLED and keeps its checkpoints)."""
    try:
        with interruptible():  # outside it, an entry point's Ctrl-C leaves at once (g2core.startup)
            return fn()
    except ConfigError as exc:  # matched first: user_errors() imports torch, seconds an early check saves
        _user_error(exc)
    except user_errors() as exc:
        _user_error(exc)
    except KeyboardInterrupt:
        # A second Ctrl-C while this line is written must not print a traceback either.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        print(f"\ng2-ablate: {INTERRUPTED}", file=sys.stderr, flush=True)
        sys.exit(INTERRUPTED_STATUS)
    except Exception as exc:  # a disk, quota or file-size limit full, wherever: one line too
        from g2core.disk_full import describe

        line = describe(exc)
        if line is None or os.environ.get("HYDRA_FULL_ERROR") == "1":
            raise
        print(f"g2-ablate: error: {line}", file=sys.stderr)
        sys.exit(2)


def check_composes(config_name: str, args: Sequence[str]) -> None:
    """Compose the entry point's config once before @hydra.main does: Hydra reports a value of the wrong type
    (trainer.max_epochs=abc) in several lines with status 1, compose() says it in the validator's one line
    (status 2). Anything else, and flags (--help, --cfg, -m), are left to Hydra's own report."""
    if any(arg.startswith("-") for arg in args):
        return
    try:
        compose(args, config_name)
    except ConfigError as exc:
        _user_error(exc)
    except Exception:  # Hydra composes again and reports it its own way
        return


def _user_error(exc: BaseException) -> None:
    if os.environ.get("HYDRA_FULL_ERROR") == "1":
        raise exc
    print(f"g2-ablate: error: {exc}", file=sys.stderr)
    sys.exit(2)


def print_run_summary(cfg: DictConfig, result) -> None:
    from g2core.names import strip_split
    from g2core.tracking import resolve_tracking_uri

    uri = redact("uri", resolve_tracking_uri(cfg.tracking.uri, cfg.paths.root))
    state = "already finished" if result.already_finished else "finished"
    best = result.best
    print(
        f"\nrun {result.run_id} {state}: {cfg.trainer.best_metric}="
        f"{best.get(strip_split(cfg.trainer.best_metric), float('nan')):.4f}"
        f" delta1={best.get('delta1', float('nan')):.3f}"
    )
    print(f"MLflow store: {uri}  (experiment {cfg.tracking.experiment})")
    print(f"checkpoints: {result.run_dir}")
    print("browse: make ui  (or: mlflow ui --backend-store-uri " + uri + ")")


def print_study_summary(result, root: str) -> None:
    """The comparison in a few lines, the verdict, the report and how to open the MLflow UI on this store."""
    from g2core.study.terminal import study_summary

    print("\n" + "\n".join(study_summary(result, root)))
