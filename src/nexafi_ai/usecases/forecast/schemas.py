"""What a fintech app sends to get a price forecast or a trend, and what it gets back.

A request names a stored ``symbol`` (one the served model was trained on) or sends its own
``series`` of prices, never both. Steps are observations of the series (trading days for
daily closes); intervals are given for each requested confidence level, keyed by the level as
text (``"80"``, ``"95"``) because JSON object keys are strings.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_core import InitErrorDetails, PydanticCustomError

from nexafi_ai.usecases.fields import Token

__all__ = [
    "ForecastOut",
    "ForecastRequest",
    "ForecastStep",
    "SeriesPoint",
    "Signal",
    "TrendOut",
]

Signal = Literal["up", "down", "neutral"]


class SeriesPoint(BaseModel):
    """One observation of a price series: when, and the (adjusted) close."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    timestamp: AwareDatetime
    value: float = Field(gt=0, description="Price (adjusted close); strictly positive.")


class ForecastRequest(BaseModel):
    """A forecast for a stored ``symbol`` or for a sent ``series``: exactly one of the two."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False, str_strip_whitespace=True)

    symbol: Token | None = Field(default=None, description="A symbol the model was trained on.")
    series: list[SeriesPoint] | None = Field(
        default=None, max_length=20_000, description="Your own price history, any order."
    )
    series_id: Token | None = Field(
        default=None,
        description=(
            "Your name for a sent series (a ticker, a portfolio id). It is logged as the "
            "forecast's entity, so the prices you send later grade this forecast (live MASE)."
        ),
    )
    horizon: int = Field(5, ge=1, le=60, description="Steps (observations) ahead.")
    levels: list[int] = Field(
        default_factory=lambda: [80, 95],
        min_length=1,
        max_length=5,
        description="Interval confidence levels in percent, each 50 to 99.",
    )

    @field_validator("levels")
    @classmethod
    def _levels_in_range(cls, levels: list[int]) -> list[int]:
        # One error for the list, so the 422 names "levels" whichever entry is out of range.
        bad = [level for level in levels if not 50 <= level <= 99]
        if bad:
            raise ValueError(f"each level must be from 50 to 99, got {bad[0]}")
        return sorted(set(levels))

    @model_validator(mode="after")
    def _one_source(self) -> ForecastRequest:
        if (self.symbol is None) == (self.series is None):
            raise _field_error(
                type(self).__name__, "symbol", "send exactly one of symbol or series"
            )
        if self.series_id is not None and self.series is None:
            raise _field_error(
                type(self).__name__, "series_id", "series_id names a sent series; send series"
            )
        return self


def _field_error(title: str, field: str, message: str) -> ValidationError:
    # A ValidationError (not a ValueError) so the 422 names the field, not the body.
    return ValidationError.from_exception_data(
        title,
        [InitErrorDetails(type=PydanticCustomError("source", message), loc=(field,), input=None)],
    )


class ForecastStep(BaseModel):
    """The forecast price ``step`` observations ahead, with intervals by level."""

    timestamp: datetime
    mean: float
    lower: dict[str, float]
    upper: dict[str, float]


class ForecastOut(BaseModel):
    """A price forecast, the model that made it and how it fared against the random walk."""

    symbol: str | None
    model: str = Field(description="The served point model, e.g. random_walk or theta.")
    random_walk_fallback: bool = Field(
        description="True when no model beat the random walk significantly in validation."
    )
    explanation: str
    horizon: int
    forecasts: list[ForecastStep]
    validation: dict[str, float | str | bool | None]
    model_version: str


class TrendOut(BaseModel):
    """Direction and volatility of a stored symbol over the next ``horizon`` observations."""

    symbol: str
    horizon: int
    probability_up: float = Field(description="P(price after horizon > last price).")
    expected_return: float = Field(description="Expected simple return over the horizon.")
    volatility_daily: float
    volatility_annualised: float
    signal: Signal
    model_version: str
