"""The user's own parts: config nodes with Hydra's `_target_` (a loss term, a model, a dataset).

`_target_` is a dotted path `package.module.name` to a callable in a module on PYTHONPATH; the factories
that build the built-in parts (g2core.losses.create_loss, g2core.models.build_model,
g2core.data.build_datasets) call it, so a user part is checked, logged and ablated like a built-in one.
Resolved with Hydra's own `get_object`, so a path that works in `hydra.utils.instantiate` works here.
Plain Python: importing this module imports neither torch nor a user module (only resolving a target does).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from typing import Any

from g2core.schema import ConfigError

TARGET = "_target_"  # Hydra's key for "the callable that builds this node"


def has_target(node: Any) -> bool:
    """True when a config node (mapping) names its own builder with `_target_`."""
    return isinstance(node, Mapping) and TARGET in node


def import_target(path: Any, key: str) -> Any:
    """The object `path` names, or a one-line ConfigError naming `key` (before anything is built)."""
    from hydra.utils import get_object

    if not isinstance(path, str) or "." not in path:
        raise ConfigError(f"{key}={path!r}: expected a dotted path package.module.name of a callable")
    try:
        obj = get_object(path)
    except Exception as exc:  # ImportError, AttributeError, or an error raised inside the user's module
        cause = exc.__cause__ or exc
        reason = f"{type(cause).__name__}: {cause}".splitlines()[0]
        raise ConfigError(
            f"{key}={path!r}: cannot import it ({reason}); check the path and put its package on PYTHONPATH"
        ) from None
    if not callable(obj):
        raise ConfigError(f"{key}={path!r}: {type(obj).__name__} is not callable; name a function or a class")
    return obj


def accepted_params(fn: Callable[..., Any]) -> tuple[list[str], bool]:
    """The keyword arguments `fn` takes by name, and whether it also takes any (**kwargs)."""
    try:
        params = inspect.signature(fn).parameters.values()
    except (TypeError, ValueError):  # a builtin without a signature: assume it takes what it is given
        return [], True
    named = [p.name for p in params if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]
    return named, any(p.kind is p.VAR_KEYWORD for p in params)


def kwargs_for(fn: Callable[..., Any], available: Mapping[str, Any]) -> dict[str, Any]:
    """The entries of `available` that `fn` takes (all of them when it takes **kwargs)."""
    named, takes_any = accepted_params(fn)
    return {k: v for k, v in available.items() if takes_any or k in named}


def first_doc_line(obj: Any) -> str:
    """The first line of an object's docstring ('' without one): what `--list` prints for code."""
    doc = inspect.getdoc(obj) or ""
    return doc.strip().splitlines()[0] if doc.strip() else ""
