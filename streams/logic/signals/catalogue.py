"""The topic catalogue of a rule set (`rules.intent`) as the hot path reads it.

Each `IntentRules` gets one plain index, built once and found by identity (cache.py's
ByIdentity says why), and every event's checks (does this topic count, in which
clusters, under which key, at what weight) are plain dictionary lookups.
"""

from streams.logic.rules import IMPLICIT_CLUSTER, IntentRules
from streams.logic.state.cache import ByIdentity

__all__ = ["Catalogue", "catalogue"]

_IMPLICIT = (IMPLICIT_CLUSTER,)
_NONE: tuple[str, ...] = ()


class Catalogue:
    """Which topics count and where, how much each provider's word weighs, and the surges
    (kind, cluster, episode key) an account can be in."""

    __slots__ = (
        "channel_keys",
        "channels",
        "min_topics",
        "named",
        "only_known",
        "only_listed",
        "plain",
        "providers",
        "topic_clusters",
    )

    def __init__(self, intent: IntentRules) -> None:
        by_topic: dict[str, list[str]] = {}
        for name, topics in intent.clusters.items():
            for topic in topics:
                names = by_topic.setdefault(topic.strip().lower(), [])
                if name not in names:
                    names.append(name)
        self.topic_clusters: dict[str, tuple[str, ...]] = {
            t: tuple(names) for t, names in by_topic.items()
        }
        self.named = bool(intent.clusters)
        self.only_listed = intent.only_listed
        self.only_known = intent.only_known_providers
        self.providers: dict[str, float] = dict(intent.providers)
        self.plain = not self.named and not self.providers and not self.only_known
        """No catalogue and no weights: every topic counts as its provider scored it."""
        self.min_topics = intent.min_surging_topics
        clusters = list(intent.clusters)
        if not self.only_listed:
            clusters.insert(0, IMPLICIT_CLUSTER)
        channels = [
            ("intent", c, "intent" if c == IMPLICIT_CLUSTER else f"intent:{c}") for c in clusters
        ]
        channels.append(("engagement", IMPLICIT_CLUSTER, "engagement"))
        self.channels: list[tuple[str, str, str]] = channels
        """(kind, cluster, episode key): intent per cluster (the implicit one first, keyed
        `intent` as before catalogues existed, so alert ids stay the same), engagement."""
        self.channel_keys: set[str] = {key for _, _, key in channels}

    def key(self, topic: str) -> str:
        """The name a topic counts under: with a catalogue, trimmed and lower-case (two
        spellings of one topic are one topic); without, as the provider spelt it."""
        return topic.strip().lower() if self.named else topic

    def clusters_of(self, topic: str) -> tuple[str, ...]:
        """The clusters a topic counts in: its named ones; the implicit one if it is in
        none; none at all (it counts for nothing) if it is in none and `only_listed`."""
        if not self.named:
            return _IMPLICIT
        found = self.topic_clusters.get(topic.strip().lower(), _NONE)
        if not found and not self.only_listed:
            return _IMPLICIT
        return found

    def weight(self, provider: str) -> float:
        return self.providers.get(provider, 0.0 if self.only_known else 1.0)

    def weighted(self, provider: str, score: float) -> float:
        """A provider's score as it counts: times its weight, capped at 100."""
        w = self.weight(provider)
        return score if w == 1.0 else min(100.0, score * w)


_BUILT: ByIdentity[IntentRules, Catalogue] = ByIdentity(Catalogue)


def catalogue(intent: IntentRules) -> Catalogue:
    """The index of `intent`, built at its first use (found by identity: rules are frozen)."""
    return _BUILT.get(intent)
