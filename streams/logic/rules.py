"""The decision rules a team tunes: tiers, ICP fit, surges, windows, weights, stages,
currencies, intent relevance and personas, with their validation.

Everything a team may tune lives in `Rules`, so a candidate rule set is a file that replay
and backtest can load beside the live one (streams/config.py reads the file). Frozen
models: one rule set is shared by every account's decisions and never changes under them.
"""

import re
from typing import Annotated, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, model_validator

from schemas.inputs import Action, DealType

__all__ = [
    "DEFAULT_JOURNEY",
    "DEFAULT_PERSONAS",
    "DEFAULT_TIERS",
    "DEFAULT_WEIGHTS",
    "IMPLICIT_CLUSTER",
    "UNAWARE",
    "Currencies",
    "FrozenModel",
    "Icp",
    "IntentRules",
    "JourneyRule",
    "Limits",
    "Outcomes",
    "PersonaRule",
    "Rules",
    "SurgeRules",
    "TierRule",
]

Signal = Literal["intent", "engagement"]
Persona = Literal["decision_maker", "champion", "influencer", "user"]
PositiveDays = Annotated[int, Field(ge=1, le=365)]


class FrozenModel(BaseModel):
    """A settings or rules model: unknown keys refused (a typo is an error, not a default),
    and frozen."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class TierRule(FrozenModel):
    """One row of the first-match tier table; `signals` must hold per `match`."""

    tier: Annotated[int, Field(ge=1, le=3)]
    name: str
    min_fit: Annotated[float, Field(ge=0, le=100)] = 70
    min_acv: Annotated[float, Field(ge=0)] = 0
    signals: list[Signal] = []
    match: Literal["all", "any"] = "all"
    intent_clusters: list[str] = Field(
        default=[],
        description="clusters whose topics count as this rule's recent intent (empty: any "
        "topic that counts)",
    )
    require_personas: list[Persona] = Field(
        default=[],
        description="personas that must each have an engaged contact in the engagement window",
    )
    min_personas: Annotated[int, Field(ge=0, le=4)] = Field(
        default=0, description="distinct personas (unknown not counted) engaged in the window"
    )

    @property
    def needs_personas(self) -> bool:
        return bool(self.require_personas) or self.min_personas > 0


CurrencyCode = Annotated[str, Field(pattern=r"^[A-Z]{3}$")]


class Currencies(FrozenModel):
    """Deals in several currencies, summed in one. A deal's amount is converted to `base`
    when its event is applied, at the rate configured then (units of `base` per unit of
    the deal's currency): pipeline, won revenue and tier ACV thresholds all read it in
    `base`. With no rates, amounts are summed as given (one currency assumed)."""

    base: CurrencyCode = "USD"
    rates: dict[CurrencyCode, Annotated[float, Field(gt=0, allow_inf_nan=False)]] = {}


class Revenue(FrozenModel):
    """How won and lost deals read as retention and expansion (docs/kpis.md)."""

    renewal_term_days: Annotated[int, Field(ge=1, le=3650)] = Field(
        default=365, description="a customer with no deal won for this long has churned"
    )
    max_lifetime_years: Annotated[float, Field(gt=0, le=100, allow_inf_nan=False)] = Field(
        default=10.0, description="expected customer lifetime when no customer churned"
    )
    upsell_deal_types: list[DealType] = Field(
        default=[DealType.EXPANSION],
        description="won deals of these types are upsells, or cross-sells when their "
        "product line is new to the account",
    )
    cross_sell_deal_types: list[DealType] = Field(
        default=[], description="won deals of these types are always cross-sells"
    )

    @model_validator(mode="after")
    def _disjoint(self) -> Self:
        both = sorted(set(self.upsell_deal_types) & set(self.cross_sell_deal_types))
        if both:
            raise ValueError(f"deal types {both} are both upsell and cross-sell types")
        return self


class AdConversions(FrozenModel):
    """Which engagement counts as a conversion of paid media: one of `actions`, carrying
    the `campaign_id` that brought the person (a tagged landing page) when asked."""

    actions: list[Action] = [Action.FORM_SUBMIT, Action.CONTENT_DOWNLOAD]
    campaign_required: bool = True


class Attribution(FrozenModel):
    """How campaigns are credited with opportunities (docs/kpis.md#campaigns)."""

    influence_days: Annotated[int, Field(ge=1, le=730)] = Field(
        default=90,
        description="an opportunity is influenced by a campaign its account engaged with "
        "in this many days ending on the day it was created",
    )


class Limits(FrozenModel):
    """How much of an unbounded kind one account's state holds: a state record must stay
    under the largest record the broker takes, whatever one account is sent
    (docs/rules.md#limits)."""

    intent_topics: Annotated[int, Field(ge=1, le=1000)] = Field(
        default=100, description="intent topics held per account"
    )
    intent_providers: Annotated[int, Field(ge=1, le=50)] = Field(
        default=4, description="intent providers held per account and topic"
    )
    opportunities: Annotated[int, Field(ge=1, le=2000)] = Field(
        default=200, description="opportunities held per account"
    )
    campaigns: Annotated[int, Field(ge=1, le=2000)] = Field(
        default=200, description="campaigns whose touches and spend are held per account"
    )
    alert_outcomes: Annotated[int, Field(ge=1, le=2000)] = Field(
        default=200, description="alerts whose outcomes are held (and counted) per account"
    )


class Outcomes(FrozenModel):
    """What is measured after each surge alert (docs/kpis.md, Alerts): a seller's response
    against the SLA, and an opportunity within the horizon; and the share of accounts held
    out, told of no surge, to measure what the alerts add."""

    response_sla_minutes: Annotated[int, Field(ge=1, le=43_200)] = Field(
        default=240, description="a response within this many minutes meets the SLA"
    )
    opportunity_days: Annotated[int, Field(ge=1, le=365)] = Field(
        default=30,
        description="the horizon: an opportunity created this many days after an alert "
        "counts for it, and its outcome is published then",
    )
    holdout: Annotated[float, Field(ge=0, le=0.5, allow_inf_nan=False)] = Field(
        default=0,
        description="the share of accounts whose surges are held out, drawn anew each "
        "holdout_days by a keyed hash of the account: stable across restarts and replays",
    )
    holdout_days: Annotated[int, Field(ge=7, le=3650)] = Field(
        default=90, description="how long an account stays in (or out of) the holdout"
    )
    holdout_key: Annotated[str, Field(min_length=1, max_length=200)] = Field(
        default="abm-holdout",
        description="the key of that hash: another key draws another holdout",
    )


class Icp(FrozenModel):
    """Ideal customer profile, used when a profile carries no fit_score.

    Fit is the sum of the weights of the criteria an account meets (0-100). An empty
    criterion list counts as met, so a team can use only the criteria it has data for.
    """

    industries: list[str] = ["software", "fintech", "saas", "healthcare", "manufacturing"]
    countries: list[str] = ["US", "CA", "GB", "DE", "FR", "NL"]
    min_employees: int = 200
    min_annual_revenue: float = 5_000_000
    required_tech: list[str] = []
    weight_industry: float = 30
    weight_country: float = 20
    weight_employees: float = 20
    weight_revenue: float = 20
    weight_tech: float = 10

    @model_validator(mode="after")
    def _weights_sum_to_100(self) -> Self:
        total = (
            self.weight_industry
            + self.weight_country
            + self.weight_employees
            + self.weight_revenue
            + self.weight_tech
        )
        if abs(total - 100) > 1e-9:
            raise ValueError(f"icp weights must sum to 100, got {total:g}")
        return self


ClusterName = Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,63}$")]
Topic = Annotated[str, Field(min_length=1, max_length=200)]
IMPLICIT_CLUSTER = ""
"""The cluster of every topic listed in none (when such topics count): with no catalogue,
every topic is in it, and intent surges as one kind, as it always has."""


class IntentRules(FrozenModel):
    """Which intent counts, and how much: providers report thousands of topics and a
    seller cares about a few.

    The index the hot path reads is streams/logic/signals/catalogue.py.

    `clusters` names groups of provider topics (matched case-insensitively and trimmed,
    and with a catalogue two spellings of one topic are one topic); each cluster
    surges on its own (its own episode: hysteresis and cool-down), once
    `min_surging_topics` of its topics are above the enter threshold. A topic in no
    cluster falls in the implicit cluster, or with `only_listed` counts for nothing: it is
    kept in state (a later catalogue may list it) but never counts as recent intent and
    never surges. A provider's scores are multiplied by its weight in `providers` (capped
    at 100); a provider not listed weighs 1.0, or with `only_known_providers` 0.
    Provider names match exactly; intent stored before providers were kept is under the
    provider "" (weigh it with `"" = w`).
    """

    clusters: dict[ClusterName, list[Topic]] = {}
    providers: dict[str, Annotated[float, Field(ge=0, le=10, allow_inf_nan=False)]] = {}
    only_listed: bool = False
    only_known_providers: bool = False
    min_surging_topics: Annotated[int, Field(ge=1, le=100)] = 1

    @model_validator(mode="after")
    def _coherent(self) -> Self:
        if self.only_listed and not self.clusters:
            raise ValueError("only_listed needs clusters: with none, no topic would count")
        if self.only_known_providers and not self.providers:
            raise ValueError("only_known_providers needs providers: with none, nothing counts")
        for name, topics in self.clusters.items():
            if not topics:
                raise ValueError(f"clusters.{name}: list at least one topic")
            distinct = {t.strip().lower() for t in topics}
            if len(distinct) < self.min_surging_topics:
                raise ValueError(
                    f"clusters.{name} has {len(distinct)} distinct topics: it could never "
                    f"surge with min_surging_topics = {self.min_surging_topics}"
                )
        return self


Keyword = Annotated[str, Field(min_length=1, max_length=100)]


class PersonaRule(FrozenModel):
    """One row of the first-match persona table (docs/rules.md, Personas).

    A contact matches when its title holds one of `titles` (whole words or phrases,
    case-insensitive: "cto" does not match "director"), or matches one of
    `title_patterns` (regular expressions, case-insensitive, searched anywhere), or its
    seniority is one of `seniorities`; and, if `departments` is not empty, its department
    is one of them. A rule with no titles, patterns or seniorities matches on department
    alone (or everyone on the roster, with no departments either).
    """

    persona: Persona
    titles: list[Keyword] = []
    title_patterns: list[Annotated[str, Field(min_length=1, max_length=500)]] = []
    seniorities: list[Keyword] = []
    departments: list[Keyword] = []

    @model_validator(mode="after")
    def _patterns_compile(self) -> Self:
        for pattern in self.title_patterns:
            try:
                re.compile(pattern)
            except re.error as exc:
                raise ValueError(f"title_patterns: {pattern!r} is not a regex: {exc}") from None
        return self


DEFAULT_PERSONAS = [
    PersonaRule(
        persona="decision_maker",
        titles=[
            *("chief", "ceo", "cfo", "cmo", "cro", "cto", "cio", "coo", "president"),
            *("vp", "svp", "evp", "vice president", "head of", "founder", "managing director"),
        ],
        seniorities=["c_level", "vp", "owner", "founder"],
    ),
    PersonaRule(persona="champion", titles=["director"], seniorities=["director"]),
    PersonaRule(
        persona="influencer",
        titles=["manager", "lead", "principal", "architect", "analyst", "consultant"],
        seniorities=["manager", "senior"],
    ),
    PersonaRule(persona="user"),
]
"""Seniority decides, as B2B buying-group models do: executives sign, directors sponsor,
managers and specialists shape the choice, everyone else on the roster uses it."""


class SurgeRules(FrozenModel):
    """Surge detection against each account's own baseline (docs/rules.md, Surges).

    A week is the 7 days ending today; the baseline is the mean of the 4 weeks before it.
    Separate enter and exit thresholds (hysteresis) keep an account hovering near a
    threshold from alerting over and over; the cool-down spaces alerts of one kind.
    """

    intent_enter_score: Annotated[float, Field(gt=0, le=100)] = 60
    intent_exit_score: Annotated[float, Field(ge=0, le=100)] = 50
    intent_enter_ratio: Annotated[float, Field(gt=1)] = 1.5
    intent_exit_ratio: Annotated[float, Field(ge=1)] = 1.2
    intent_min_score: Annotated[float, Field(ge=0, le=100)] = 30
    engagement_enter_ratio: Annotated[float, Field(gt=1)] = 2.0
    engagement_exit_ratio: Annotated[float, Field(ge=1)] = 1.5
    engagement_min_points: Annotated[float, Field(gt=0)] = 10
    engagement_exit_min_points: Annotated[float, Field(ge=0)] = 5
    baseline_weeks: Annotated[int, Field(ge=1, le=12)] = 4
    cooldown_days: Annotated[float, Field(ge=0)] = 14
    alert_tiers: list[Annotated[int, Field(ge=0, le=3)]] = [0, 1, 2, 3]

    @model_validator(mode="after")
    def _hysteresis(self) -> Self:
        pairs = [
            ("intent_exit_score", "intent_enter_score"),
            ("intent_exit_ratio", "intent_enter_ratio"),
            ("engagement_exit_ratio", "engagement_enter_ratio"),
            ("engagement_exit_min_points", "engagement_min_points"),
        ]
        for low, high in pairs:
            if getattr(self, low) > getattr(self, high):
                raise ValueError(f"{low} must not exceed {high} (exit below enter)")
        return self


DEFAULT_WEIGHTS: dict[Action, float] = {
    Action.PAGE_VIEW: 1,
    Action.EMAIL_DELIVERED: 0,
    Action.EMAIL_OPEN: 1,
    Action.EMAIL_CLICK: 3,
    Action.AD_IMPRESSION: 0,
    Action.AD_CLICK: 2,
    Action.FORM_SUBMIT: 5,
    Action.CONTENT_DOWNLOAD: 4,
    Action.SOCIAL_LIKE: 1,
    Action.SOCIAL_SHARE: 2,
    Action.SOCIAL_COMMENT: 2,
    Action.EVENT_REGISTERED: 3,
    Action.EVENT_ATTENDED: 5,
    Action.DIRECT_MAIL_SENT: 0,
    Action.DIRECT_MAIL_RESPONSE: 4,
    Action.MEETING: 8,
}

DEFAULT_TIERS = [
    TierRule(
        tier=1,
        name="just-right",
        min_fit=70,
        min_acv=50_000,
        signals=["intent", "engagement"],
        match="all",
    ),
    TierRule(tier=2, name="too-big", min_fit=70, signals=["intent", "engagement"], match="any"),
    TierRule(tier=3, name="too-small", min_fit=70),
]


class JourneyRule(FrozenModel):
    """One row of the first-match journey table (docs/rules.md, Journey stages): the
    account is at `stage` when every condition set here holds; none set always holds."""

    stage: Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]{0,39}$")]
    won_deal: bool = Field(
        default=False, description="a won deal, and no renewal lost since the last win"
    )
    open_opportunity: bool = False
    recent_intent: bool = Field(
        default=False, description="a topic at or above intent_min_score in the intent window"
    )
    engaged: bool = Field(
        default=False, description="engagement worth points in the journey window"
    )
    min_points: Annotated[float, Field(ge=0)] = Field(
        default=0, description="engagement points in the journey window"
    )
    min_contacts: Annotated[int, Field(ge=0)] = Field(
        default=0, description="distinct engaged contacts in the journey window"
    )
    touched: bool = Field(
        default=False,
        description="any engagement (worth points or not, e.g. an ad impression) or intent "
        "in the touch window",
    )

    @property
    def reads_window(self) -> bool:
        return self.engaged or self.min_points > 0 or self.min_contacts > 0


UNAWARE = "unaware"
"""The stage of an account no journey rule matches: the bottom of the funnel."""

DEFAULT_JOURNEY = [
    JourneyRule(stage="customer", won_deal=True),
    JourneyRule(stage="opportunity", open_opportunity=True),
    JourneyRule(stage="mqa", min_points=25, min_contacts=3, recent_intent=True),
    JourneyRule(stage="engaged", engaged=True),
    JourneyRule(stage="aware", touched=True),
]
"""Demandbase's journey (Aware > Engaged > MQA > Opportunity > Customer), most advanced
first: an account is where its strongest evidence puts it."""


class Rules(FrozenModel):
    """Decision rules: tiers, windows, weights, ICP, surges, stages (docs/rules.md); the
    defaults are the documented ones."""

    tiers: list[TierRule] = DEFAULT_TIERS
    intent_window_days: PositiveDays = 14
    intent_min_score: Annotated[float, Field(ge=0, le=100)] = 60
    engagement_window_days: PositiveDays = 14
    engagement_min_points: Annotated[float, Field(gt=0)] = 10
    engagement_min_contacts: Annotated[int, Field(ge=1)] = 2
    weights: dict[Action, Annotated[float, Field(ge=0, le=1000)]] = DEFAULT_WEIGHTS
    icp: Icp = Icp()
    surge: SurgeRules = SurgeRules()
    intent: IntentRules = IntentRules()
    stages: list[str] = [
        "prospecting",
        "qualification",
        "proposal",
        "negotiation",
        "closed_won",
        "closed_lost",
    ]
    retention_days: PositiveDays = Field(
        default=35, description="how far back late events are still applied (>= every window)"
    )
    max_future_minutes: Annotated[int, Field(ge=0)] = 24 * 60
    max_contacts_per_day: Annotated[int, Field(ge=1, le=10_000)] = 500
    currencies: Currencies = Currencies()
    personas: list[PersonaRule] = DEFAULT_PERSONAS
    journey: list[JourneyRule] = DEFAULT_JOURNEY
    journey_window_days: PositiveDays = Field(
        default=30, description="the window of journey rules' engaged, min_points, min_contacts"
    )
    journey_touch_days: Annotated[int, Field(ge=1, le=3650)] = Field(
        default=90, description="the window of journey rules' touched"
    )
    revenue: Revenue = Revenue()
    ad_conversions: AdConversions = AdConversions()
    attribution: Attribution = Attribution()
    limits: Limits = Limits()
    outcomes: Outcomes = Outcomes()

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        if not self.tiers:
            raise ValueError("tiers: at least one rule is needed")
        longest = max(
            self.intent_window_days,
            self.engagement_window_days,
            7 * (self.surge.baseline_weeks + 1),
        )
        if self.retention_days < longest:
            raise ValueError(
                f"retention_days ({self.retention_days}) must cover the longest window "
                f"({longest} days)"
            )
        if self.journey_window_days > self.retention_days:
            raise ValueError(
                f"journey_window_days ({self.journey_window_days}) must not exceed "
                f"retention_days ({self.retention_days}): older engagement is not kept"
            )
        stages = [rule.stage for rule in self.journey]
        if len(set(stages)) != len(stages) or UNAWARE in stages:
            raise ValueError(f"journey: stages must not repeat, nor be {UNAWARE!r}: {stages}")
        missing = {"closed_won", "closed_lost"} - set(self.stages)
        if missing:
            raise ValueError(f"stages must include {sorted(missing)}")
        if len(set(self.stages)) != len(self.stages):
            raise ValueError("stages must not repeat")
        for rule in self.tiers:
            unknown = sorted(set(rule.intent_clusters) - set(self.intent.clusters))
            if unknown:
                raise ValueError(
                    f"tier rule {rule.name!r}: intent_clusters {unknown} are not in "
                    f"intent.clusters {sorted(self.intent.clusters)}"
                )
        return self
