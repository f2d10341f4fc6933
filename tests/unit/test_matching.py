"""Account matching: registrable domains from the bundled Public Suffix List, free mail
never matching, and the order clues are tried in, against a plain model of it."""

from hypothesis import given
from hypothesis import strategies as st

from streams.logic.identity.domains import FREE_MAIL, email_domain, is_free_mail, registrable
from streams.logic.identity.match import (
    Clues,
    Matched,
    Method,
    Unmatched,
    Why,
    account_key,
    contact_key,
    domain_key,
    match,
)


def test_the_registrable_domain_is_one_label_below_the_public_suffix():
    assert registrable("www.acme.com") == "acme.com"
    assert registrable("mail.eu.acme.co.uk") == "acme.co.uk"
    assert registrable("https://shop.Acme.COM/pricing?x=1") == "acme.com"
    assert registrable("acme.github.io") == "acme.github.io"  # a private suffix: its own
    for none in ("", "localhost", "co.uk", "10.0.0.1", "com"):
        assert registrable(none) is None
    assert email_domain("Jo.Smith@sales.acme.co.uk") == "acme.co.uk"
    for not_an_address in ("jo", "@acme.com", "jo@", "jo@localhost"):
        assert email_domain(not_an_address) is None


labels = st.from_regex(r"[a-z][a-z0-9-]{0,14}[a-z0-9]", fullmatch=True)


@given(
    sub=st.lists(labels, max_size=3),
    # prefixed: some short names under com are suffixes themselves (x0.com is a private one)
    name=labels.map(lambda label: f"abmtest-{label}"),
    suffix=st.sampled_from(["com", "co.uk", "de", "com.au"]),
)
def test_any_host_under_a_domain_has_that_registrable_domain(sub, name, suffix):
    domain = f"{name}.{suffix}"
    assert registrable(".".join([*sub, domain])) == domain
    assert email_domain(f"someone@{'.'.join([*sub, domain])}") == domain


def test_free_mail_is_known():
    assert {"gmail.com", "outlook.com", "yahoo.co.uk", "hotmail.com"} <= FREE_MAIL
    assert is_free_mail("gmail.com")
    assert not is_free_mail("acme.com")


ACCOUNTS = ["acme", "globex", "initech"]
DOMAINS = [
    "acme.com",
    "globex.co.uk",
    "initech.io",
    "unknown.com",
    "other.org",
    "gmail.com",
    "outlook.com",
]


def model(clues: Clues, accounts, contacts, domains) -> Matched | Unmatched:
    """The order as the issue states it, written as a list of candidates."""
    found = []
    if clues.account_id is not None:
        found.append((clues.account_id, Method.ACCOUNT_ID))
    found += [(contacts[c], Method.CONTACT) for c in clues.contacts if c in contacts]
    if clues.group_id in accounts:
        found.append((clues.group_id, Method.GROUP))
    given = [
        (d, m)
        for d, m in (
            (clues.group_domain, Method.GROUP),
            (clues.email_domain, Method.DOMAIN),
            (clues.company_domain, Method.DOMAIN),
        )
        if d is not None
    ]
    found += [(domains[d], m) for d, m in given if d not in FREE_MAIL and d in domains]
    if found:
        return Matched(*found[0])
    business = [d for d, _ in given if d not in FREE_MAIL]
    if business:
        return Unmatched(Why.UNKNOWN_DOMAIN, business[0])
    return Unmatched(Why.FREE_MAIL if given else Why.NO_IDENTITY)


def maybe(values: list[str]):
    return st.none() | st.sampled_from(values)


clue_sets = st.builds(
    Clues,
    account_id=maybe([*ACCOUNTS, "new-account"]),
    contacts=st.lists(st.sampled_from(["c1", "c2", "c3"]), max_size=2).map(tuple),
    group_id=maybe([*ACCOUNTS, "not-an-account"]),
    group_domain=maybe(DOMAINS),
    email_domain=maybe(DOMAINS),
    company_domain=maybe(DOMAINS),
)


@given(
    clues=clue_sets,
    contacts=st.dictionaries(st.sampled_from(["c1", "c2", "c3"]), st.sampled_from(ACCOUNTS)),
    domains=st.dictionaries(
        st.sampled_from([d for d in DOMAINS if d not in ("unknown.com", "other.org")]),
        st.sampled_from(ACCOUNTS),
    ),
)
def test_the_first_clue_that_names_an_account_wins(clues, contacts, domains):
    directory = {account_key(a): a for a in ACCOUNTS}
    directory |= {contact_key(c): a for c, a in contacts.items()}
    directory |= {domain_key(d): a for d, a in domains.items()}
    got = match(clues, directory.get)
    assert got == model(clues, set(ACCOUNTS), contacts, domains)
    if isinstance(got, Unmatched) and got.domain is not None:
        assert not is_free_mail(got.domain)  # only a business domain is ever reported
