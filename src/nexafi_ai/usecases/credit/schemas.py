"""What the Credit Service sends for one applicant, and the decision it gets back.

The built-in applicant fields are named and range-checked, so a typo or an impossible value
(negative income, utilisation of 5000%) is a 422 naming the field rather than a silently odd
score. A model trained on a lender's own columns reads them from ``attributes``; the model
then checks that every attribute is one of its features. Fields the model learned could be
missing (unreported income, never delinquent) may be left out; the others are required by the
model and their absence is a 422 too. There is no protected attribute here: the model never
sees it.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from nexafi_ai.usecases.fields import NoPan, Token

__all__ = ["ApplicantIn", "CreditDecision", "CreditReason", "CreditScoreOut"]

CreditDecision = Literal["approve", "decline"]


ApplicantId = Token
Category = Annotated[str, Field(min_length=1, max_length=64), NoPan]
AttributeName = Annotated[str, Field(min_length=1, max_length=128, pattern=r"^[^\x00-\x1f]+$")]
AttributeValue = float | Annotated[str, Field(max_length=128), NoPan] | None


class ApplicantIn(BaseModel):
    """One loan application: the applicant's profile, bureau data and the loan asked for."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False, str_strip_whitespace=True)

    applicant_id: ApplicantId = Field(description="The lender's application id.")
    application_date: AwareDatetime | None = Field(
        default=None, description="When the application was made (for the log and monitoring)."
    )
    age: int | None = Field(default=None, ge=18, le=120)
    annual_income: float | None = Field(default=None, ge=0, le=100_000_000)
    employment_status: Category | None = Field(
        default=None, description="employed, self_employed, unemployed, retired, student"
    )
    employment_length_years: float | None = Field(default=None, ge=0, le=80)
    debt_to_income: float | None = Field(
        default=None, ge=0, le=100, description="Monthly debt payments / monthly income."
    )
    revolving_utilization: float | None = Field(
        default=None, ge=0, le=10, description="Revolving balances / limits (1.0 = 100%)."
    )
    delinquencies_2y: int | None = Field(default=None, ge=0, le=1000)
    months_since_last_delinquency: float | None = Field(
        default=None, ge=0, le=1200, description="Leave out if never delinquent."
    )
    credit_history_years: float | None = Field(default=None, ge=0, le=100)
    open_accounts: int | None = Field(default=None, ge=0, le=1000)
    recent_inquiries_6m: int | None = Field(default=None, ge=0, le=1000)
    loan_amount: float | None = Field(default=None, gt=0, le=100_000_000)
    term_months: int | None = Field(default=None, ge=1, le=600)
    purpose: Category | None = None
    home_ownership: Category | None = Field(default=None, description="rent, mortgage, own")
    attributes: dict[AttributeName, AttributeValue] = Field(
        default_factory=dict,
        max_length=500,
        description="Features of models trained on your own columns, by column name.",
    )


class CreditReason(BaseModel):
    """One principal reason for an adverse decision, from the model version's catalog.

    ``contribution`` is how much the feature pushed towards a decline: points lost against
    the feature's best bin for a scorecard, the TreeSHAP log-odds contribution for LightGBM.
    """

    code: str
    text: str
    feature: str
    value: float | str | None
    contribution: float


class CreditScoreOut(BaseModel):
    """PD, points score, risk band, decision and, for a decline, up to four reason codes."""

    applicant_id: str
    probability_of_default: float = Field(ge=0, le=1)
    score: int
    risk_band: str
    decision: CreditDecision
    reasons: list[CreditReason] = Field(max_length=4)
    reason_catalog_version: str
    model_kind: Literal["scorecard", "lightgbm"]
    model_version: str
