"""What a payment service sends to be scored, and what it gets back.

The request is strict: unknown fields, NaN/infinite or negative amounts, naive timestamps and any
string that looks like a full card number are refused with a 422 naming the field. Card and
terminal are *tokens*; the PAN never enters this service.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from nexafi_ai.usecases.fields import FreeText, Token

__all__ = ["Decision", "FraudScoreOut", "Reason", "TransactionIn"]

Decision = Literal["approve", "review", "decline"]


class TransactionIn(BaseModel):
    """One card or payment transaction, before it is processed."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False, str_strip_whitespace=True)

    transaction_id: Token
    card_id: Token = Field(description="Card token (never the card number).")
    terminal_id: Token = Field(description="Terminal or merchant point-of-sale id.")
    amount: float = Field(ge=0, le=10_000_000, description="Amount in major units, e.g. 12.50.")
    currency: str = Field(default="EUR", pattern=r"^[A-Z]{3}$")
    timestamp: AwareDatetime = Field(description="When the transaction happened, with timezone.")
    mcc: str | None = Field(default=None, pattern=r"^[0-9]{4}$", description="Merchant category.")
    channel: Literal["pos", "contactless", "ecommerce", "atm", "moto"] | None = None
    country: str | None = Field(
        default=None, pattern=r"^[A-Z]{2}$", description="Terminal country."
    )
    card_country: str | None = Field(default=None, pattern=r"^[A-Z]{2}$")
    merchant_name: FreeText | None = None
    #: Already engineered numeric features, for models trained on such exports (no card or
    #: terminal history); ignored by models that compute windowed features.
    features: dict[Annotated[str, Field(max_length=64)], float] | None = None


class Reason(BaseModel):
    """One reason behind a score: a stable code, plain words, and its TreeSHAP weight."""

    code: str
    feature: str
    description: str
    value: float | None
    contribution: float


class FraudScoreOut(BaseModel):
    """The answer: probability, 0-100 risk score, decision and the reasons behind it."""

    transaction_id: str
    fraud_probability: float
    risk_score: int = Field(ge=0, le=100)
    decision: Decision
    reasons: list[Reason]
    model_version: str
