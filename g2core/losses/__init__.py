"""Depth loss terms (one function per term) and the weighted composite a run trains with.

Terms take ``pred, gt`` float ``[B,1,H,W]`` and a bool ``mask`` ``[B,1,H,W]`` and return a
scalar tensor; an image with an empty mask contributes 0. Definitions: DESIGN, "Vocabulary".
  g2.py, midas.py, silog.py   the terms (midas aligns with g2core.metrics.align's least squares)
  composite.py                CompositeLoss, built by create_loss; weights checked by g2core.validate.check_loss
  custom.py                   the user's own terms (`loss.custom_terms.<term>._target_`), used like the built-ins
Term names come from g2core.names; nothing here knows of MLflow, config files or studies.
"""

from .composite import ADEPTH_MASKS, TERMS, CompositeLoss, create_loss, term_functions
from .custom import build_custom_terms
from .g2 import adepth, rdepth, rgrad, standardize
from .midas import align_scale_shift, gm, ssi
from .silog import silog

__all__ = [
    "ADEPTH_MASKS",
    "TERMS",
    "CompositeLoss",
    "adepth",
    "align_scale_shift",
    "build_custom_terms",
    "create_loss",
    "gm",
    "rdepth",
    "rgrad",
    "silog",
    "ssi",
    "standardize",
    "term_functions",
]
