"""From fraud probability to approve / review / decline, at the least expected cost.

A threshold on probability alone ignores money: a 30% chance of fraud on 2,000 EUR is worth a
review, on 3 EUR it is not. The policy compares three expected costs per transaction:
approving loses ``p * (amount + chargeback fee)``, reviewing costs an analyst's time, declining a
good customer costs margin and goodwill ``(1 - p) * (margin * amount + friction)``. Thresholds
(``review_at``, ``decline_at``) bound the probabilities where review and decline are allowed,
and are chosen on the validation slice to minimise the realised cost with at most
``review_capacity_per_day`` reviews a day. The policy is versioned with the model (policy.json).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from nexafi_ai.usecases.fraud.schemas import Decision

__all__ = ["CostModel", "DecisionPolicy", "fit_policy"]

POLICY_FILE = "policy.json"


@dataclass(frozen=True, slots=True)
class CostModel:
    """What each outcome costs, in the transaction currency."""

    chargeback_fee: float = 15.0
    review_cost: float = 5.0
    false_decline_margin: float = 0.02
    false_decline_friction: float = 10.0
    review_capacity_per_day: int = 100


@dataclass(frozen=True, slots=True)
class DecisionPolicy:
    """Thresholds plus the cost model; ``decide`` is pure and microsecond-cheap."""

    review_at: float
    decline_at: float
    costs: CostModel = field(default_factory=CostModel)

    def decide(self, proba: float, amount: float) -> Decision:
        """approve / review / decline for one transaction.

        >>> policy = DecisionPolicy(review_at=0.2, decline_at=0.8)
        >>> policy.decide(0.05, 500.0), policy.decide(0.5, 500.0), policy.decide(0.95, 500.0)
        ('approve', 'review', 'decline')
        >>> policy.decide(0.25, 2.0)  # expected loss 0.25 * (2 + 15 fee) < a 5 EUR review
        'approve'
        """
        c = self.costs
        loss_if_approved = proba * (amount + c.chargeback_fee)
        if proba >= self.decline_at:
            loss_if_declined = (1.0 - proba) * (
                c.false_decline_margin * amount + c.false_decline_friction
            )
            if loss_if_declined < loss_if_approved:
                return "decline"
        if proba >= self.review_at and c.review_cost < loss_if_approved:
            return "review"
        return "approve"

    def decide_many(self, proba: np.ndarray, amount: np.ndarray) -> np.ndarray:
        """Vectorised :meth:`decide` for batch scoring and threshold search."""
        c = self.costs
        loss_approve = proba * (amount + c.chargeback_fee)
        loss_decline = (1.0 - proba) * (c.false_decline_margin * amount + c.false_decline_friction)
        decline = (proba >= self.decline_at) & (loss_decline < loss_approve)
        review = ~decline & (proba >= self.review_at) & (c.review_cost < loss_approve)
        out = np.full(proba.shape, "approve", dtype=object)
        out[review] = "review"
        out[decline] = "decline"
        return out

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, doc: dict[str, Any]) -> DecisionPolicy:
        return cls(
            review_at=float(doc["review_at"]),
            decline_at=float(doc["decline_at"]),
            costs=CostModel(**doc.get("costs", {})),
        )

    def save(self, directory: Path) -> None:
        (directory / POLICY_FILE).write_text(json.dumps(self.to_json(), indent=2))

    @classmethod
    def load(cls, directory: Path) -> DecisionPolicy:
        return cls.from_json(json.loads((directory / POLICY_FILE).read_text()))


def realised_cost(
    decisions: np.ndarray, y: np.ndarray, amount: np.ndarray, costs: CostModel
) -> float:
    """What the decisions would have cost on labelled data (reviews catch the fraud)."""
    fraud = y == 1
    approve, review, decline = decisions == "approve", decisions == "review", decisions == "decline"
    missed = (amount + costs.chargeback_fee)[approve & fraud].sum()
    reviews = costs.review_cost * review.sum()
    declined_good = (costs.false_decline_margin * amount + costs.false_decline_friction)[
        decline & ~fraud
    ].sum()
    return float(missed + reviews + declined_good)


def fit_policy(
    proba: np.ndarray,
    y: np.ndarray,
    amount: np.ndarray,
    day: np.ndarray,
    costs: CostModel | None = None,
) -> tuple[DecisionPolicy, dict[str, float]]:
    """Grid-search thresholds minimising realised cost within the daily review capacity."""
    costs = costs or CostModel()
    grid = np.unique(
        np.concatenate(
            [np.quantile(proba, np.linspace(0.90, 0.9999, 40)), np.linspace(0.05, 0.95, 19)]
        )
    )
    day_index = np.unique(day, return_inverse=True)[1]
    days = int(day_index.max(initial=0)) + 1
    best: tuple[float, DecisionPolicy] | None = None
    for review_at in grid:
        for decline_at in grid[grid >= review_at]:
            policy = DecisionPolicy(float(review_at), float(decline_at), costs)
            decisions = policy.decide_many(proba, amount)
            per_day = np.bincount(day_index[decisions == "review"], minlength=days)
            if per_day.max(initial=0) > costs.review_capacity_per_day:
                continue
            cost = realised_cost(decisions, y, amount, costs)
            if best is None or cost < best[0]:
                best = (cost, policy)
    if best is None:  # even the strictest grid point overflows capacity: decline-only policy
        policy = DecisionPolicy(1.01, float(np.quantile(proba, 0.999)), costs)
        best = (realised_cost(policy.decide_many(proba, amount), y, amount, costs), policy)
    cost, policy = best
    baseline = realised_cost(np.full(len(y), "approve", dtype=object), y, amount, costs)
    return policy, {"policy_cost": cost, "approve_all_cost": baseline}
