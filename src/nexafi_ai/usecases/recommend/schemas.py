"""What a fintech app sends to get product recommendations for one customer, and what it gets.

A request names a known customer (``user_id``), or describes a new one (``profile``), or both:
a known customer with a profile is scored on the profile sent (it overrides the stored one for
the content model and the eligibility rules). Every answer item carries a reason code from a
fixed list and a sentence a customer can read. Ids and free text never carry a card number.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator
from pydantic_core import InitErrorDetails, PydanticCustomError

from nexafi_ai.usecases.fields import NoPan, Token

__all__ = [
    "REASON_CODES",
    "ReasonCode",
    "RecommendRequest",
    "RecommendationsOut",
    "RecommendedItem",
    "RiskAppetite",
    "Strategy",
    "UserProfile",
]

ReasonCode = Literal["CO_HOLDERS", "GOAL_MATCH", "SIMILAR_USERS", "PROFILE_MATCH", "POPULAR"]
REASON_CODES: tuple[ReasonCode, ...] = (
    "CO_HOLDERS",
    "GOAL_MATCH",
    "SIMILAR_USERS",
    "PROFILE_MATCH",
    "POPULAR",
)
Strategy = Literal["hybrid", "cold_start", "popular"]
RiskAppetite = Literal["low", "medium", "high"]

Name = Annotated[str, Field(min_length=1, max_length=128, pattern=r"^[^\x00-\x1f]+$")]
Share = Annotated[float, Field(ge=0, le=1)]
AttributeValue = float | Annotated[str, Field(max_length=128), NoPan] | None


class UserProfile(BaseModel):
    """A customer's profile: enough to recommend to someone with no history yet.

    ``age`` and ``income`` are required because the eligibility rules need them; a field left
    out only switches off the rule that reads it (an unknown risk appetite limits nothing).
    ``attributes`` carries the columns of a model trained on your own user table, by name.
    """

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False, str_strip_whitespace=True)

    age: int = Field(ge=18, le=120)
    income: float = Field(ge=0, le=100_000_000, description="Annual income.")
    savings_rate: float | None = Field(default=None, ge=0, le=1)
    risk_appetite: RiskAppetite | None = None
    goal: Annotated[str, Field(max_length=64), NoPan] | None = Field(
        default=None, description="retirement, emergency_fund, home, travel, education, wealth"
    )
    spending: dict[Name, Share] = Field(
        default_factory=dict,
        max_length=50,
        description='Spending shares by category, e.g. {"travel": 0.2, "groceries": 0.3}.',
    )
    attributes: dict[Name, AttributeValue] = Field(
        default_factory=dict,
        max_length=500,
        description="Profile columns of models trained on your own user table, by column name.",
    )


class RecommendRequest(BaseModel):
    """Recommendations for a known customer (``user_id``) and/or a described one (``profile``)."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False, str_strip_whitespace=True)

    user_id: Token | None = Field(default=None, description="Your customer id or token.")
    profile: UserProfile | None = None
    k: int = Field(default=10, ge=1, le=50, description="How many products at most.")
    exclude: list[Token] = Field(
        default_factory=list, max_length=200, description="Product ids not to show."
    )

    @model_validator(mode="after")
    def _who(self) -> RecommendRequest:
        if self.user_id is None and self.profile is None:
            # A ValidationError (not a ValueError) so the 422 names the field, not the body.
            raise ValidationError.from_exception_data(
                type(self).__name__,
                [
                    InitErrorDetails(
                        type=PydanticCustomError(
                            "missing_user", "give a user_id, a profile, or both"
                        ),
                        loc=("user_id",),
                        input=None,
                    )
                ],
            )
        return self


class RecommendedItem(BaseModel):
    """One recommended product, best first, with why it was chosen."""

    product_id: str
    name: str | None
    category: str | None
    score: float
    rank: int
    reason_code: ReasonCode
    reason: str


class RecommendationsOut(BaseModel):
    """Up to ``k`` products the customer is eligible for and does not hold, best first.

    ``strategy`` says how they were chosen: ``hybrid`` (history and profile), ``cold_start``
    (profile only: a customer with no history) or ``popular`` (no profile model available).
    """

    user_id: str | None
    strategy: Strategy
    k: int
    items: list[RecommendedItem]
    model_version: str
