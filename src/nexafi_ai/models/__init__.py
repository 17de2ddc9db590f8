"""Model runtimes shared by the use cases: fast, explainable scoring of fitted models.

A use case owns its features and decisions; what lives here is how a fitted model is loaded
from a data-only format and scored within a real-time latency budget.
"""

from nexafi_ai.models.lgbm import FastBooster, Row, top_reasons

__all__ = ["FastBooster", "Row", "top_reasons"]
