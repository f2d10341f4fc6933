"""Where an alert goes: `[[routes]]` in the rules file, each a match and a destination.

Every route whose match holds gets the alert (owners, tiers, kinds and clusters; an
empty list matches anything). Matching is pure, so a backtest can tell which routes
would have heard of which alerts; delivery is the webhook sink's (streams/sinks).
Secrets never sit in the file: a route names the environment variable holding its key.
"""

from typing import Annotated, Literal

from pydantic import AnyHttpUrl, Field

from streams.logic.rules import FrozenModel

__all__ = ["DEFAULT_ROUTE", "Route", "RouteKind", "default_route", "matching", "tier_up"]

RouteKind = Literal["intent", "engagement", "tier_up"]
"""What a route hears of: intent and engagement surge alerts, and an account entering a
better tier (its tier change)."""

DEFAULT_ROUTE = "default"
"""The route made from ABM_WEBHOOK__URL: target accounts' surge alerts (tiers 1-3)."""


class Route(FrozenModel):
    name: Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,63}$")]
    owners: list[str] = Field(default=[], description="account owners (profile `owner`)")
    tiers: list[Annotated[int, Field(ge=0, le=3)]] = Field(default=[])
    kinds: list[RouteKind] = Field(default=[])
    clusters: list[str] = Field(
        default=[], description="intent clusters; an alert of another kind passes this"
    )
    url: AnyHttpUrl
    format: Literal["json", "slack"] = "json"
    secret_env: Annotated[
        str, Field(pattern=r"^(ABM_ROUTE_[A-Z0-9_]{1,64}|ABM_WEBHOOK__SECRET)$")
    ] = Field(
        description="the environment variable that holds this route's HMAC key, named "
        "ABM_ROUTE_...: a rules file can name no other (it could have an HMAC of, say, "
        "ABM_REDIS_PASSWORD sent to a URL of its choice)"
    )

    def hears(
        self, kind: str, owner: str | None, tier: int, cluster: str | None, reissue: bool = False
    ) -> bool:
        """Whether this route gets an output; a `reissue` (an alert raised again once its
        account's owner is known) only where the owner is what makes the route match: a
        route matching without one heard the first alert."""
        if reissue and self.matches(kind, None, tier, cluster):
            return False
        return self.matches(kind, owner, tier, cluster)

    def matches(self, kind: str, owner: str | None, tier: int, cluster: str | None) -> bool:
        if self.kinds and kind not in self.kinds:
            return False
        if self.owners and owner not in self.owners:
            return False
        if self.tiers and tier not in self.tiers:
            return False
        return not (self.clusters and kind == "intent" and cluster not in self.clusters)


def default_route(url: str) -> Route:
    """The route ABM_WEBHOOK__URL makes: surge alerts of target accounts (tiers 1-3), as a
    Slack message carrying the whole alert, signed with ABM_WEBHOOK__SECRET."""
    return Route(
        name=DEFAULT_ROUTE,
        tiers=[1, 2, 3],
        kinds=["intent", "engagement"],
        url=url,  # type: ignore[arg-type]
        format="slack",
        secret_env="ABM_WEBHOOK__SECRET",
    )


def matching(
    routes: list[Route],
    kind: str,
    owner: str | None,
    tier: int,
    cluster: str | None,
    reissue: bool = False,
    holdout: bool = False,
) -> list[Route]:
    """Every route that gets an alert of `kind` about an account of `owner` in `tier`;
    none for a held-out alert (`[rules.outcomes] holdout`: told to no seller)."""
    if holdout:
        return []
    return [r for r in routes if r.hears(kind, owner, tier, cluster, reissue)]


def tier_up(previous: int, tier: int) -> bool:
    """An account entering a better tier: into tiers 1-3 from untiered, or to a lower
    number (tier 1 is the best)."""
    return tier != 0 and (previous == 0 or tier < previous)
