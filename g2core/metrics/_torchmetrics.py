"""torchmetrics' Metric base class, imported without transformers.

`import torchmetrics` imports its text and multimodal metrics, and those import transformers whenever it is
installed (the `hf` extra, for Depth Anything V2): 0.8-1.3 s in every driver, worker and evaluation,
for BERTScore and CLIP metrics this project never uses. While torchmetrics is imported, its availability
checks (lightning_utilities' RequirementCache) answer "not installed" for transformers, so it leaves
those metrics out; transformers itself stays importable, and is imported when a Depth Anything model is
built (g2core/models/depth_anything_v2.py).
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager

HIDDEN = "transformers"


@contextmanager
def _transformers_hidden() -> Iterator[None]:
    try:
        from lightning_utilities.core.imports import RequirementCache
    except ImportError:  # a torchmetrics that no longer uses it: import it as it is
        yield
        return
    check = RequirementCache.__bool__

    def without_transformers(self: RequirementCache) -> bool:
        name = str(self.requirement or self.module or "")
        if name.startswith(HIDDEN) and HIDDEN not in sys.modules:
            return False  # not cached on the instance: a later check sees the truth
        return check(self)

    RequirementCache.__bool__ = without_transformers  # type: ignore[method-assign]
    try:
        yield
    finally:
        RequirementCache.__bool__ = check  # type: ignore[method-assign]


with _transformers_hidden():
    from torchmetrics import Metric

__all__ = ["Metric"]
