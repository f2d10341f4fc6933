"""The buying committee: which persona each contact is, and who of them engaged.

Personas come from the rules (first match wins) and the account's roster; a contact
that engaged but is on no roster (yet) is `unknown`. Classification is done once per
roster and rule set and cached on the roster, never stored: new rules, or a roster that
arrives after its contacts engaged, re-classify at the next read.
"""

import re

from schemas.outputs import PERSONAS, CommitteeMember
from streams.logic.rules import PersonaRule, Rules
from streams.logic.state.cache import ByIdentity, Derived
from streams.logic.state.roster import Roster

__all__ = [
    "UNKNOWN",
    "Classified",
    "classify",
    "members",
    "persona_counts",
    "personas_of",
    "tiers_read_personas",
]

UNKNOWN = "unknown"
SENIORITY_ORDER: tuple[str, ...] = (
    *("c_level", "owner", "founder", "partner", "vp", "director", "manager", "senior"),
    *("entry", "intern"),
)
"""Within a persona, alerts list the more senior first; other seniorities come after."""
_PERSONA_RANK = {p: n for n, p in enumerate(PERSONAS)}
_SENIORITY_RANK = {s: n for n, s in enumerate(SENIORITY_ORDER)}


def _norm(value: str | None) -> str:
    """Seniorities and departments compare as lower-case words joined by '_': 'C-Level',
    'c level' and 'c_level' are one seniority."""
    return "_".join(re.split(r"[\s_-]+", value.strip().lower())) if value else ""


class _Matcher:
    """One persona rule, compiled."""

    __slots__ = ("any_of", "departments", "persona", "seniorities", "title")

    def __init__(self, rule: PersonaRule) -> None:
        self.persona = rule.persona
        parts = [r"\b" + re.escape(t.strip()) + r"\b" for t in rule.titles]
        parts += [f"(?:{p})" for p in rule.title_patterns]
        self.title = re.compile("|".join(parts), re.IGNORECASE) if parts else None
        self.seniorities = {_norm(s) for s in rule.seniorities}
        self.departments = {_norm(d) for d in rule.departments}
        self.any_of = self.title is not None or bool(self.seniorities)

    def matches(self, title: str | None, department: str, seniority: str) -> bool:
        if self.departments and department not in self.departments:
            return False
        if not self.any_of:
            return True
        if seniority and seniority in self.seniorities:
            return True
        return title is not None and self.title is not None and self.title.search(title) is not None


class _Table:
    """A rule set's persona table compiled, and whether any tier rule reads personas (so
    an evaluation under rules that do not looks up no roster)."""

    __slots__ = ("matchers", "tiers_read")

    def __init__(self, rules: Rules) -> None:
        self.matchers = [_Matcher(rule) for rule in rules.personas]
        self.tiers_read = any(rule.needs_personas for rule in rules.tiers)


_BUILT: ByIdentity[Rules, _Table] = ByIdentity(_Table)


def _table(rules: Rules) -> _Table:
    """Built at the rules' first use, found by identity (rules are frozen)."""
    return _BUILT.get(rules)


def tiers_read_personas(rules: Rules) -> bool:
    return _table(rules).tiers_read


def classify(title: str | None, department: str | None, seniority: str | None, rules: Rules) -> str:
    """The persona of the first rule a contact matches, else unknown."""
    dept, level = _norm(department), _norm(seniority)
    for matcher in _table(rules).matchers:
        if matcher.matches(title, dept, level):
            return matcher.persona
    return UNKNOWN


class Classified(Derived):
    """A roster's personas under one rule set."""

    __slots__ = ("personas", "rules")

    def __init__(self, roster: Roster, rules: Rules) -> None:
        self.rules = rules
        self.personas: dict[str, str] = {
            cid: classify(fields[0], fields[1], fields[2], rules)
            for cid, fields in roster.contacts.items()
        }


def personas_of(roster: Roster, rules: Rules) -> dict[str, str]:
    """contact_id -> persona for everyone on the roster (cached on it)."""
    cached = roster.classified
    if isinstance(cached, Classified) and cached.rules is rules:
        return cached.personas
    fresh = Classified(roster, rules)
    roster.classified = fresh
    return fresh.personas


def persona_counts(contacts: list[str], roster: Roster | None, rules: Rules) -> dict[str, int]:
    """Engaged `contacts` per persona (only personas with someone in them)."""
    known = personas_of(roster, rules) if roster is not None else {}
    counts: dict[str, int] = {}
    for contact in contacts:
        persona = known.get(contact, UNKNOWN)
        counts[persona] = counts.get(persona, 0) + 1
    return counts


def _rank(
    persona: str, seniority: str | None, title: str | None, contact: str
) -> tuple[int, int, str, str]:
    return (
        _PERSONA_RANK[persona],
        _SENIORITY_RANK.get(_norm(seniority), len(SENIORITY_ORDER)),
        title or "~",
        contact,
    )


def members(
    contacts: list[str], roster: Roster | None, rules: Rules, limit: int
) -> list[CommitteeMember]:
    """The first `limit` of `contacts` as sales reads them, most senior persona first."""
    known = personas_of(roster, rules) if roster is not None else {}
    fields = roster.contacts if roster is not None else {}
    ranked = []
    for contact in contacts:
        persona = known.get(contact, UNKNOWN)
        title, _, seniority = fields.get(contact, (None, None, None))
        member = CommitteeMember(
            contact_id=None if "@" in contact else contact,
            persona=persona,  # type: ignore[arg-type]
            title=title,
            seniority=seniority,
        )
        ranked.append((_rank(persona, seniority, title, contact), member))
    ranked.sort(key=lambda pair: pair[0])
    return [member for _, member in ranked[:limit]]
