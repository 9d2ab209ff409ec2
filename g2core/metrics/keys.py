"""Metric names, re-exported from g2core.names (the one vocabulary): `val/<key>`, `test/<key>`, reports."""

from g2core.names import EDGE_METRIC_KEYS, LOWER_IS_BETTER, METRIC_KEYS

__all__ = ["EDGE_METRIC_KEYS", "LOWER_IS_BETTER", "METRIC_KEYS"]
