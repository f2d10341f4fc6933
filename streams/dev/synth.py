"""A synthetic but plausible ABM world: accounts, their buying signals, deals. The demo
runs it; the tests' generated history and the benchmark's workload draw their engagement
mix, topics and stages from the same tables, so all three speak of one world.

Accounts get firmographics (most fit the default ICP, some do not), an expected deal size
and an interest level that sets how much their people engage, with a weekly rhythm
(weekends are quiet). Interested accounts research topics at an intent provider, open
opportunities that move through the stages and close won or lost (expansions in a product
line), and campaigns spend every week and tag the touches they bring. A fifth of the
accounts bought a year before; their renewals fall due during the history, and most renew,
some lose the renewal, some let the date pass. A few accounts ramp up in the last days of
history, and `live` keeps ramping new ones, so there are surges to alert on. Each
account's CRM roster names most of its contacts with a title (the buying committee).
Sellers answer the surge alerts they are told of (`follow_up`), and an answered account
opens an opportunity more often: the alerts pay, by as much as `Sales` says.

One pattern is planted for `abm tune` to find (`Segment`): US accounts (about a quarter
of them) with an annual revenue of at least 25M (about half of those), on a day after
their decision maker engaged, open an opportunity with a chance of 6% whatever their
interest: some 4.5 times the 1.34% a day of the accounts that open any elsewhere.
Nothing else in the world ties firmographics or the buying committee to opportunities.
"Engaged" is what the engine counts under the default rules: an event worth points (not
an email delivered or an ad shown) by a contact on the account's roster whose title the
default persona rules call a decision maker, in the 14 days (the engagement window) up
to the day before. The opportunities the pattern adds are drawn apart, so the rest of
the world is the same with or without it (`segment=None`). Deterministic for a seed."""

import math
import random
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from schemas.common import to_ms
from schemas.outputs import SurgeAlert
from streams.logic.rules import DEFAULT_WEIGHTS, Rules
from streams.logic.signals.committee import classify

__all__ = [
    "ACTIONS",
    "DAILY",
    "OWNERS",
    "STAGES",
    "TITLES",
    "TOPICS",
    "FollowUp",
    "Row",
    "Sales",
    "Segment",
    "World",
    "draw_action",
]

Row = tuple[str, dict[str, Any]]
"""(input kind, payload), as `abm produce` and the demo send them."""

DAY = 86_400_000
HOUR = 3_600_000
PREFIXES = ["North", "Blue", "Iron", "Bright", "Silver", "Red", "Summit", "Harbor", "Atlas"]
SUFFIXES = ["wind", "field", "stone", "point", "bridge", "works", "labs", "gate", "line"]
FORMS = ["Inc", "Corp", "Group", "Systems", "Technologies", "Holdings"]
INDUSTRIES = ["software", "fintech", "saas", "healthcare", "manufacturing", "retail", "energy"]
COUNTRIES = ["US", "US", "US", "GB", "DE", "CA", "FR", "NL", "BR", "IN", "JP"]
TOPICS = ["crm", "data platform", "marketing automation", "erp", "security", "analytics"]
PROVIDERS = ["bombora", "g2", "6sense"]
OWNERS = ["alice@example.com", "bob@example.com", "carol@example.com", "dave@example.com"]
TITLES = [  # (title, seniority, share of contacts)
    ("Chief Marketing Officer", "c_level", 1),
    ("VP Sales", "vp", 2),
    ("VP Marketing", "vp", 1),
    ("Head of Revenue Operations", "director", 1),
    ("Director of Demand Generation", "director", 3),
    ("Marketing Operations Manager", "manager", 4),
    ("Sales Manager", "manager", 3),
    ("Data Analyst", "senior", 3),
    ("Solutions Architect", "senior", 2),
    ("Account Executive", "entry", 4),
    ("Sales Development Representative", "entry", 4),
    ("Marketing Coordinator", "entry", 3),
]
_TITLE_SHARES = [share for _, _, share in TITLES]
ACTIONS = [  # (action, channel, share of engagement events, typical seconds on site)
    ("page_view", "web", 40, 60),
    ("email_delivered", "email", 18, 0),
    ("email_open", "email", 10, 0),
    ("email_click", "email", 4, 0),
    ("ad_impression", "ads", 14, 0),
    ("ad_click", "ads", 2, 30),
    ("social_like", "social", 3, 0),
    ("social_share", "social", 1, 0),
    ("content_download", "web", 3, 240),
    ("form_submit", "web", 1, 90),
    ("event_attended", "event", 1, 0),
    ("direct_mail_sent", "direct_mail", 1, 0),
    ("meeting", "sales", 1, 0),
]
_SHARES = [share for _, _, share, _ in ACTIONS]
LEVELS = [(0.0, 35), (0.2, 35), (0.8, 22), (2.0, 8)]
"""(engagement events per weekday, share of accounts): most accounts are quiet."""
CAMPAIGNS = [("abm-tier1", 30_000), ("abm-tier2", 15_000), ("brand", 10_000)]
"""Weekly spend per campaign."""
CAMPAIGN_OF_CHANNEL = {
    "ads": ["abm-tier1", "abm-tier2"],
    "email": ["abm-tier1", "brand"],
    "social": ["brand"],
    "event": ["abm-tier2"],
}
"""Which campaigns a touch on a channel may carry (web forms and downloads: a landing page
one of them brought the person to)."""
PRODUCT_LINES = ["core", "analytics", "security"]
PROSPECTS = ["initrode.com", "hooli.com", "vandelay.com", "pied-piper.com", "umbrella-corp.com"]
"""Companies whose people visit the website but that are no accounts (yet)."""
FREE_MAIL = ["gmail.com", "outlook.com", "yahoo.com"]
WEBSITE_PAGES = ["/", "/pricing", "/product", "/customers", "/blog/abm-playbook", "/docs"]
WEBSITE_EVENTS = ["Content Downloaded", "Form Submitted", "Webinar Registered"]
CUSTOMERS = 0.2
"""Share of accounts that bought before the history starts, whose renewals fall due in it."""
LOST_BEFORE = 0.4
"""Share of the other accounts that turned a deal down in the year before."""
STAGES = ["prospecting", "qualification", "proposal", "negotiation"]
"""The open stages, in order; deals close `closed_won` or `closed_lost`."""
ACTIVITIES = [("email", 4), ("call", 3), ("social", 1), ("meeting", 1)]
"""How a rep reaches out (the sales activity's `type`), and how often."""
NEW = ("new", "core")
"""A prospect's first deal: its type and product line."""
DECISION_MAKERS = frozenset(
    title
    for title, seniority, _ in TITLES
    if classify(title, None, seniority, Rules()) == "decision_maker"
)
"""The titles the default persona rules call decision makers."""
COUNTED = frozenset(action for action, points in DEFAULT_WEIGHTS.items() if points > 0)
"""The actions worth points under the default weights: only those count a contact as
engaged."""
WINDOW_DAYS = Rules().engagement_window_days
"""The default engagement window, where tier rules' personas are read."""
DAILY = 0.012
"""An account's chance a day of opening an opportunity of its own accord, per unit of its
interest (`LEVELS`); only accounts of 0.8 and up open any (1.34% a day on average)."""


@dataclass(frozen=True)
class FollowUp:
    """How an alert's owner answers it: how often, and after how long (minutes drawn
    log-normally around a median, so a few answers come long after the rest)."""

    share: float
    median_minutes: float
    spread: float


@dataclass(frozen=True)
class Sales:
    """What sellers do after a surge alert. Told of it (delivered), most answer within
    hours, a sixth of those past a 4-hour SLA, some never; not told (held out), a few
    reach the account anyway, days later, in their own rhythm. An answered account opens
    an opportunity in the next weeks more often than it would have: so delivered alerts
    lead to opportunities more often than held-out ones only because they are answered,
    which is what a holdout measures. An A/A world answers both groups alike."""

    told: FollowUp = FollowUp(share=0.8, median_minutes=90, spread=1.0)
    untold: FollowUp = FollowUp(share=0.12, median_minutes=7 * 1440, spread=0.6)
    opportunity: float = 0.5
    """Chance an answer opens an opportunity within three weeks, on top of those the
    account opens anyway; one at a time: not again within a month of the last."""


@dataclass(frozen=True)
class Segment:
    """The pattern planted for `abm tune`: accounts of `country` with an annual revenue of
    at least `min_revenue`, on a day after their decision maker engaged (in the engagement
    window as the engine reads it at the end of the day before, so that tier-1 day is
    followed by the opportunity), open an opportunity of their own accord with a chance
    of `factor` times DAILY (6% a day), whatever their interest: some 4.5 times the 1.34%
    a day of the accounts that open any elsewhere. What the pattern adds to the chance the
    account has anyway (up to `factor` times DAILY: 2.4% for the most interested) is drawn
    from a generator of its own, as opportunities numbered apart (`{account}-p{n}`)."""

    country: str = "US"
    min_revenue: float = 25_000_000
    """About the median of the accounts' revenue (e^17, ~24M): half of them are above."""
    factor: float = 5.0

    def holds(self, account: "Account", day_start: int) -> bool:
        """Whether the pattern holds for `account` on the day starting at `day_start`:
        in the segment, its decision maker engaged in the window ending the day before."""
        last = account.decision_maker_day
        return account.in_segment and last is not None and 0 < day_start - last <= WINDOW_DAYS * DAY


def draw_action(rng: random.Random) -> tuple[str, str, int]:
    """One engagement action of the world's mix: (action, channel, typical seconds on
    site, 0 where there is no visit)."""
    action, channel, _, seconds = rng.choices(ACTIONS, _SHARES)[0]
    return action, channel, seconds


@dataclass
class Account:
    account_id: str
    acv: float
    level: float
    contacts: list[str]
    topics: list[str]
    opportunities: int = 0
    ramp_from: int | None = None
    """Event time a surge ramp began: engagement x5 from several contacts, hot intent."""
    renewal_at: int | None = None
    """An existing customer's renewal date (its first deal was won a year before)."""
    expand_at: int | None = None
    """When an existing customer opens an expansion (a product line of its own or new)."""
    domain: str = ""
    """Where its people's addresses are (its profile's `domain`, less the `www.`)."""
    owner: str = ""
    """Its profile's owner: the rep who answers its alerts."""
    answered: int = 0
    """Opportunities opened after a seller's answer (counted apart from the others, so
    the account's other deals are the same with or without answers)."""
    answered_at: int | None = None
    """When the last of them opened."""
    in_segment: bool = False
    """Its firmographics are the planted segment's (`Segment`)."""
    decision_makers: frozenset[str] = frozenset()
    """Its roster's contacts the default persona rules call decision makers."""
    decision_maker_day: int | None = None
    """The start of the last day one of them engaged (an action worth points)."""
    planted: int = 0
    """Opportunities opened because the planted pattern held (counted apart, as `answered`)."""


@dataclass
class World:
    seed: int = 7
    accounts: int = 2000
    days: int = 60
    end: int = 0
    """Epoch ms the history ends at (now, for the demo)."""
    sales: Sales = field(default_factory=Sales)
    segment: Segment | None = field(default_factory=Segment)
    """The planted pattern (None: none)."""
    rng: random.Random = field(init=False)
    book: list[Account] = field(init=False, default_factory=list)
    pending: list[Row] = field(init=False, default_factory=list)
    """Later stage events of open opportunities, sent on their own day."""
    _n: int = field(init=False, default=0)

    def __post_init__(self) -> None:
        self.rng = random.Random(self.seed)
        self.tags = random.Random(self.seed * 31 + 7)
        """Campaigns, product lines and renewals draw from their own generator: the rest
        of the world (engagement, intent, new deals) is the same with or without them."""
        self.answers = random.Random(self.seed * 65_537 + 11)
        """Sellers' answers to alerts draw from theirs: the same for the same alerts."""
        self.planted = random.Random(self.seed * 92_821 + 5)
        """The planted segment's extra opportunities draw from theirs (`Segment`)."""
        self.by_id: dict[str, Account] = {}
        self.roster: list[list[dict[str, str]]] = []
        """Each account's roster contacts (`_roster`), in the book's order."""
        self.start = (self.end // DAY - self.days) * DAY

    def _id(self, prefix: str) -> str:
        self._n += 1
        return f"{prefix}-{self.seed}-{self._n}"

    def profiles(self) -> list[Row]:
        """One profile per account (firmographics; the rules compute fit), created here."""
        rows = []
        levels, shares = zip(*LEVELS, strict=True)
        for n in range(self.accounts):
            rng = self.rng
            account_id = f"acct-{n:05d}"
            name = f"{rng.choice(PREFIXES)}{rng.choice(SUFFIXES)} {rng.choice(FORMS)}"
            acv = round(rng.lognormvariate(10.8, 0.8), -2)
            (level,) = rng.choices(levels, shares)
            domain = f"{name.split()[0].lower()}{n}.com"
            owner = OWNERS[n % len(OWNERS)]
            account = Account(
                account_id,
                acv,
                level,
                [f"{account_id}-c{k}" for k in range(rng.randint(2, 9))],
                rng.sample(TOPICS, 2),
                domain=domain,
                owner=owner,
            )
            self.book.append(account)
            self.by_id[account_id] = account
            industry, country = rng.choice(INDUSTRIES), rng.choice(COUNTRIES)
            employees = int(rng.lognormvariate(6.5, 1.3))
            revenue = round(rng.lognormvariate(17, 1.5), -3)
            segment = self.segment
            account.in_segment = (
                segment is not None
                and country == segment.country
                and revenue >= segment.min_revenue
            )
            rows.append(
                (
                    "accounts",
                    {
                        "account_id": account_id,
                        "name": f"{name} {n}",
                        "domain": f"www.{domain}",
                        "industry": industry,
                        "country": country,
                        "employees": employees,
                        "annual_revenue": revenue,
                        "expected_acv": acv,
                        "owner": owner,
                    },
                )
            )
        for account in self.rng.sample(self.book, max(1, self.accounts // 100)):
            account.ramp_from = self.end - self.rng.randint(1, 4) * DAY
        for account in self.book:
            if self.tags.random() < CUSTOMERS:  # due in the history's span, a month on
                account.renewal_at = self.start + (30 + self.tags.randrange(self.days)) * DAY
                if self.tags.random() < 0.3:
                    account.expand_at = self.start + self.tags.randrange(self.days) * DAY
        self.roster = self._roster()
        return rows

    def rosters(self) -> list[Row]:
        """Each account's roster: most of its contacts with a title (the CRM does not know
        everyone who engages)."""
        return [
            (
                "contacts",
                {"account_id": account.account_id, "contacts": contacts, "updated_at": self.start},
            )
            for account, contacts in zip(self.book, self.roster, strict=True)
        ]

    def _roster(self) -> list[list[dict[str, str]]]:
        """Each account's roster contacts, drawn (when the profiles are) from a generator
        of its own, so the rest of the world is the same with or without rosters; and
        which of them are decision makers (`Account.decision_makers`)."""
        rng = random.Random(self.seed * 7919 + 1)
        rosters = []
        for account in self.book:
            contacts = []
            for contact in account.contacts:
                if rng.random() < 0.85:
                    title, seniority, _ = rng.choices(TITLES, _TITLE_SHARES)[0]
                    contacts.append({"contact_id": contact, "title": title, "seniority": seniority})
            account.decision_makers = frozenset(
                c["contact_id"] for c in contacts if c["title"] in DECISION_MAKERS
            )
            rosters.append(contacts)
        return rosters

    def history(self) -> Iterator[Row]:
        """Every day's events up to `end`, day after day (event-time order, as a live feed
        brings them)."""
        for day in range(self.days + 1):
            yield from sorted(self._day(self.start + day * DAY), key=lambda r: r[1]["occurred_at"])

    def _day(self, day_start: int) -> list[Row]:
        rng, rows = self.rng, []
        weekend = datetime.fromtimestamp(day_start / 1000, UTC).weekday() >= 5
        if datetime.fromtimestamp(day_start / 1000, UTC).weekday() == 0:
            rows += self._spend(day_start)
        if day_start == self.start:
            rows += self._customers_before()
        rows += self._customer_deals(day_start)
        segment = self.segment
        for account in self.book:
            # The planted pattern's chance today, read before today's engagement: the
            # window as it stood at the end of yesterday.
            chance = 0.0
            if segment is not None and segment.holds(account, day_start):
                chance = segment.factor * DAILY
            ramping = account.ramp_from is not None and day_start + DAY > account.ramp_from
            rate = account.level * (0.3 if weekend else 1.0) * (5 if ramping else 1)
            for _ in range(_poisson(rng, rate)):
                rows.append(self._engagement(account, day_start + rng.randrange(DAY)))
            if account.level >= 0.8 and rng.random() < 0.12:
                score = rng.randint(25, 62) + (25 if ramping else 0)
                rows.append(self._intent(account, day_start + rng.randrange(DAY), min(score, 99)))
            elif ramping and rng.random() < 0.5:
                rows.append(self._intent(account, day_start + rng.randrange(DAY), 80))
            own = DAILY * account.level if account.level >= 0.8 else 0.0
            if account.level >= 0.8 and rng.random() < own:
                self.pending += self._opportunity(account, day_start + rng.randrange(DAY))
            if chance > own and self.planted.random() < chance - own:
                self.pending += self._planted(account, day_start + self.planted.randrange(DAY))
        due = day_start + DAY
        rows += [r for r in self.pending if r[1]["occurred_at"] < due]
        self.pending = [r for r in self.pending if r[1]["occurred_at"] >= due]
        return [r for r in rows if r[1]["occurred_at"] < self.end]

    def live(self, now: int, events: int, ramp: bool) -> list[Row]:
        """`events` engagement events from the last minute across the book (busier accounts
        more often) and, if `ramp`, an account that starts surging now."""
        rng = self.rng
        cold = [a for a in self.book if a.ramp_from is None and a.level > 0]
        rows: list[Row] = []
        if ramp and cold:
            surging = rng.choice(cold)
            surging.ramp_from = now
            contacts = surging.contacts[:4]
            rows += [self._engagement(surging, now, contacts[k % len(contacts)]) for k in range(14)]
            rows.append(self._intent(surging, now, rng.randint(72, 95)))
        weights = [a.level for a in self.book]
        if any(weights):
            for account in rng.choices(self.book, weights, k=events):
                rows.append(self._engagement(account, now - rng.randrange(60_000)))
        return rows

    def _engagement(self, account: Account, at: int, contact: str | None = None) -> Row:
        rng = self.rng
        action, channel, seconds = draw_action(rng)
        payload: dict[str, Any] = {
            "event_id": self._id("e"),
            "account_id": account.account_id,
            "contact_id": contact or rng.choice(account.contacts),
            "channel": channel,
            "action": action,
            "occurred_at": at,
        }
        if seconds:
            payload["duration_s"] = rng.randint(seconds // 2, seconds * 2)
        if action in COUNTED and payload["contact_id"] in account.decision_makers:
            account.decision_maker_day = at - at % DAY
        campaigns = CAMPAIGN_OF_CHANNEL.get(channel)
        if action in ("form_submit", "content_download"):
            campaigns = CAMPAIGN_OF_CHANNEL["ads"] if self.tags.random() < 0.5 else None
        if campaigns and self.tags.random() < 0.8:
            payload["campaign_id"] = self.tags.choice(campaigns)
        return ("engagement", payload)

    def _intent(self, account: Account, at: int, score: int) -> Row:
        return (
            "intent",
            {
                "event_id": self._id("i"),
                "account_id": account.account_id,
                "provider": self.rng.choice(PROVIDERS),
                "topic": self.rng.choice(account.topics),
                "score": score,
                "occurred_at": at,
            },
        )

    def _opportunity(self, account: Account, at: int) -> list[Row]:
        """An opportunity the account opens of its own accord: its first is new business,
        a later one an expansion or a renewal."""
        rng = self.rng
        account.opportunities += 1
        opp = f"{account.account_id}-o{account.opportunities}"
        amount = _amount(account, rng)
        deal_type = "new" if account.opportunities == 1 else rng.choice(["expansion", "renewal"])
        line = self.tags.choice(PRODUCT_LINES) if deal_type == "expansion" else "core"
        return self._stages(account, opp, at, amount, deal_type, line, rng)

    def _planted(self, account: Account, at: int) -> list[Row]:
        """An opportunity the planted pattern adds (`Segment`): new business for a
        prospect, an expansion for a customer; drawn, and its events numbered, apart from
        the rest of the world."""
        rng = self.planted
        account.planted += 1
        opp = f"{account.account_id}-p{account.planted}"
        customer = account.renewal_at is not None
        deal_type, line = ("expansion", rng.choice(PRODUCT_LINES)) if customer else NEW
        amount = _amount(account, rng)
        return self._stages(account, opp, at, amount, deal_type, line, rng, own_ids=True)

    def _stages(
        self,
        account: Account,
        opp: str,
        at: int,
        amount: float,
        deal_type: str,
        line: str,
        rng: random.Random,
        own_ids: bool = False,
    ) -> list[Row]:
        """An opportunity's stage events: it advances every week or two, then closes (won
        more often for bigger interest) unless it is still open at the end of history.
        With `own_ids`, the events' ids are the opportunity's and stage's, taking no
        number from the world's events."""
        rows = []
        for stage in STAGES[: rng.randint(1, len(STAGES))]:
            event_id = f"{opp}-{stage}" if own_ids else None
            rows.append(self._stage(account, opp, stage, at, amount, deal_type, line, event_id))
            at += rng.randint(5, 15) * DAY
        if rng.random() < 0.8:
            won = rng.random() < 0.35 + 0.1 * account.level
            outcome = "closed_won" if won else "closed_lost"
            event_id = f"{opp}-{outcome}" if own_ids else None
            rows.append(self._stage(account, opp, outcome, at, amount, deal_type, line, event_id))
        return rows

    def follow_up(self, alert: SurgeAlert) -> list[Row]:
        """The owner's answer to a surge alert as `sales` has it (told of it or held
        out), and the opportunity it may open with that one's later stage events; none
        for a reissue (its episode was answered already). Every row dated after the
        alert, some perhaps after the end of history."""
        if alert.reissue_of is not None:
            return []
        rng, account = self.answers, self.by_id[alert.account_id]
        how = self.sales.untold if alert.holdout else self.sales.told
        if rng.random() >= how.share:
            return []
        minutes = rng.lognormvariate(math.log(how.median_minutes), how.spread)
        at = to_ms(alert.detected_at) + 1 + int(minutes * 60_000)
        (kind,) = rng.choices([k for k, _ in ACTIVITIES], [w for _, w in ACTIVITIES])
        activity = {
            "event_id": self._id("a"),
            "account_id": account.account_id,
            "rep_id": alert.owner or account.owner,
            "type": kind,
            "occurred_at": at,
        }
        rows: list[Row] = [("sales_activities", activity)]
        last = account.answered_at
        if rng.random() < self.sales.opportunity and (last is None or at - last >= 30 * DAY):
            opened = at + rng.randrange(DAY, 21 * DAY)
            account.answered += 1
            account.answered_at = opened
            opp = f"{account.account_id}-a{account.answered}"
            customer = account.renewal_at is not None  # buys more; a prospect buys first
            deal_type, line = ("expansion", rng.choice(PRODUCT_LINES)) if customer else NEW
            rows += self._stages(account, opp, opened, _amount(account, rng), deal_type, line, rng)
        return rows

    def _customers_before(self) -> list[Row]:
        """The first deal of each existing customer, won a year before its renewal date,
        and deals some other accounts lost in the year before the history (sent at its
        start: a CRM backfill)."""
        rows = []
        for account in self.book:
            if account.renewal_at is None:
                if self.tags.random() < LOST_BEFORE:
                    opp = f"{account.account_id}-o0"
                    lost_at = self.start - self.tags.randint(30, 330) * DAY
                    amount = round(account.acv, -2)
                    rows.append(
                        self._stage(account, opp, "closed_lost", lost_at, amount, "new", "core")
                    )
                continue
            won_at = account.renewal_at - 365 * DAY
            opp = f"{account.account_id}-o0"
            amount = round(account.acv, -2)
            for stage, at in (("negotiation", won_at - 20 * DAY), ("closed_won", won_at)):
                rows.append(self._stage(account, opp, stage, at, amount, "new", "core"))
        return rows

    def _customer_deals(self, day_start: int) -> list[Row]:
        """Existing customers' deals that open today: expansions on their day, and
        renewals a month before the renewal date, for most of them, closing by it (won
        mostly, lost sometimes). The others let the date pass (they churn then)."""
        rows: list[Row] = []
        for account in self.book:
            if account.expand_at == day_start:
                rows += self._expansion(account, day_start + HOUR)
            due = account.renewal_at
            if due is None or not day_start <= due - 30 * DAY < day_start + DAY:
                continue
            if self.tags.random() < 0.15:
                continue
            opp = f"{account.account_id}-r1"
            amount = round(account.acv * self.tags.uniform(0.9, 1.2), -2)
            opened = due - 30 * DAY
            rows.append(self._stage(account, opp, "negotiation", opened, amount, "renewal", "core"))
            outcome = "closed_won" if self.tags.random() < 0.75 else "closed_lost"
            closed = due - self.tags.randint(1, 20) * DAY
            self.pending.append(
                self._stage(account, opp, outcome, closed, amount, "renewal", "core")
            )
        return rows

    def _expansion(self, account: Account, at: int) -> list[Row]:
        """An existing customer buys more: of what it has (an upsell) or a new product
        line (a cross-sell), closing within a few weeks, won mostly."""
        opp = f"{account.account_id}-x1"
        line = self.tags.choice(PRODUCT_LINES)
        amount = round(account.acv * self.tags.uniform(0.2, 0.6), -2)
        outcome = "closed_won" if self.tags.random() < 0.7 else "closed_lost"
        closed = at + self.tags.randint(7, 25) * DAY
        self.pending.append(self._stage(account, opp, outcome, closed, amount, "expansion", line))
        return [self._stage(account, opp, "proposal", at, amount, "expansion", line)]

    def _stage(
        self,
        account: Account,
        opp: str,
        stage: str,
        at: int,
        amount: float,
        deal_type: str,
        line: str,
        event_id: str | None = None,
    ) -> Row:
        return (
            "deals",
            {
                "event_id": event_id or self._id("d"),
                "account_id": account.account_id,
                "opportunity_id": opp,
                "stage": stage,
                "amount": amount,
                "deal_type": deal_type,
                "product_line": line,
                "occurred_at": at,
            },
        )

    def _spend(self, day_start: int) -> list[Row]:
        """A week of spend for each campaign, and a few account-targeted ads."""
        rows: list[Row] = [
            (
                "spend",
                {
                    "event_id": self._id("s"),
                    "campaign_id": campaign,
                    "amount": amount,
                    "occurred_at": day_start + HOUR,
                },
            )
            for campaign, amount in CAMPAIGNS
        ]
        for account in self.rng.sample(self.book, min(20, len(self.book))):
            rows.append(
                (
                    "spend",
                    {
                        "event_id": self._id("s"),
                        "campaign_id": "abm-1to1",
                        "account_id": account.account_id,
                        "amount": 400,
                        "occurred_at": day_start + 2 * HOUR,
                    },
                )
            )
        return rows

    def website(self, visitors: int = 300, days: int = 3) -> list[Row]:
        """Segment calls from the company's website over the last `days`, as analytics.js
        sends them: each visitor browses anonymously, most then identify themselves with a
        form (their work address, or a free-mail one), some download content. Two thirds
        work at the accounts (the busier, the likelier), the rest at prospects that are no
        accounts yet. From a generator of its own: the rest of the world is unchanged."""
        rng = random.Random(self.seed * 104_729 + 3)
        weights = [a.level for a in self.book]
        rows: list[Row] = []
        for n in range(visitors):
            anonymous = f"anon-{self.seed}-{n}"
            at = self.end - rng.randrange(days * DAY)
            user = f"user-{self.seed}-{n}"
            if rng.random() < 2 / 3 and any(weights):
                (account,) = rng.choices(self.book, weights)
                domain = account.domain
                if rng.random() < 0.3:  # signs in to the product: its user id is the CRM's
                    user = rng.choice(account.contacts)
            else:
                domain = rng.choice(PROSPECTS)
            if rng.random() < 0.15:
                domain = rng.choice(FREE_MAIL)
            for k in range(rng.randint(1, 4)):
                rows.append(self._call("page", anonymous, at + k * 60_000, rng, len(rows)))
            if rng.random() < 0.7:
                traits = {"email": f"visitor{n}@{domain}"}
                identify = self._call("identify", anonymous, at + 5 * 60_000, rng, len(rows))
                identify[1].update(userId=user, traits=traits)
                rows.append(identify)
                if rng.random() < 0.5:
                    track = self._call("track", anonymous, at + 6 * 60_000, rng, len(rows))
                    track[1].update(event=rng.choice(WEBSITE_EVENTS), userId=identify[1]["userId"])
                    rows.append(track)
        return [r for r in rows if r[1]["timestamp"] < self.end]

    def _call(self, kind: str, anonymous: str, at: int, rng: random.Random, n: int) -> Row:
        call: dict[str, Any] = {
            "type": kind,
            "messageId": f"web-{self.seed}-{n}",
            "anonymousId": anonymous,
            "timestamp": at,
        }
        if kind == "page":
            call["properties"] = {
                "path": rng.choice(WEBSITE_PAGES),
                "duration": rng.randint(5, 240),
            }
        return ("segment", call)


def _amount(account: Account, rng: random.Random) -> float:
    """A new opportunity's amount: around the account's expected deal size."""
    return round(account.acv * rng.uniform(0.6, 1.4), -2)


def _poisson(rng: random.Random, mean: float) -> int:
    """Events in a day at `mean` per day (Knuth's method: means here are small)."""
    if mean <= 0:
        return 0
    limit, k, product = math.exp(-mean), 0, rng.random()
    while product > limit:
        k += 1
        product *= rng.random()
    return k
