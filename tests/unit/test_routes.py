"""Routing: `[[routes]]` in the rules file (refused precisely when wrong), which route an
output matches, and each route's sink posting its own format, signed with its own key."""

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from schemas.outputs import SurgeAlert, TierChange, TierInputs
from streams.config import (
    ConfigError,
    Settings,
    Webhook,
    load_routes,
    load_rules,
    load_settings,
    route_keys,
)
from streams.logic.inputs.apply import apply_event
from streams.logic.routes import Route, default_route, matching, tier_up
from streams.logic.rules import Rules
from streams.sinks.notify import render
from streams.sinks.webhook import WebhookSink
from tests.factories import DAY, T0, WALL, coords, intent, profile, replay
from tests.unit.test_webhook import KEY, Letters, deliver_all, make_alert, receiver

ROUTE = """
[[routes]]
name = "alice"
owners = ["alice"]
url = "https://hooks.example/abm"
secret_env = "ABM_ROUTE_TEST_ALICE_KEY"
"""


def write(tmp_path, text: str):
    path = tmp_path / "rules.toml"
    path.write_text(text)
    return path


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ('colour = "red"\n', "routes.0.colour: Extra inputs are not permitted"),
        ('format = "xml"\n', "routes.0.format: Input should be 'json' or 'slack'"),
        ('kinds = ["surge"]\n', "routes.0.kinds.0: Input should be 'intent', 'engagement'"),
        ("tiers = [4]\n", "routes.0.tiers.0: Input should be less than or equal to 3"),
    ],
)
def test_a_route_with_an_unknown_or_bad_field_is_refused_with_the_field_named(
    tmp_path, extra, message
):
    with pytest.raises(ConfigError, match="invalid routes") as refused:
        load_routes(write(tmp_path, ROUTE + extra))
    assert message in str(refused.value)


def test_a_bad_url_is_refused(tmp_path):
    text = ROUTE.replace("https://hooks.example/abm", "hooks.example/abm")
    with pytest.raises(ConfigError, match=r"routes\.0\.url"):
        load_routes(write(tmp_path, text))


def test_route_names_are_unique(tmp_path):
    with pytest.raises(ConfigError, match=r"repeated: \['alice'\]"):
        load_routes(write(tmp_path, ROUTE + ROUTE))


def test_a_missing_secret_variable_stops_the_start_naming_the_route(tmp_path, monkeypatch):
    monkeypatch.delenv("ABM_ROUTE_TEST_ALICE_KEY", raising=False)
    settings = Settings(routes=load_routes(write(tmp_path, ROUTE)))
    with pytest.raises(ConfigError, match=r"routes\.alice\.secret_env: .*ABM_ROUTE_TEST_ALICE_KEY"):
        route_keys(settings)
    monkeypatch.setenv("ABM_ROUTE_TEST_ALICE_KEY", "s3cret")  # too short to sign with
    with pytest.raises(ConfigError, match=r"routes\.alice\.secret_env: .* at least 32 bytes"):
        route_keys(settings)
    monkeypatch.setenv("ABM_ROUTE_TEST_ALICE_KEY", "s3cret" * 6)
    ((route, key),) = route_keys(settings)
    assert (route.name, key) == ("alice", b"s3cret" * 6)


@pytest.mark.parametrize("name", ["ABM_REDIS_PASSWORD", "HOME", "abm_route_x", "ABM_ROUTE_"])
def test_a_route_can_name_only_a_route_key_variable(tmp_path, name):
    """A rules file naming ABM_REDIS_PASSWORD would have its HMAC sent to the route's URL."""
    with pytest.raises(ConfigError, match="secret_env"):
        load_routes(write(tmp_path, ROUTE.replace("ABM_ROUTE_TEST_ALICE_KEY", name)))


def test_a_webhook_secret_shorter_than_32_bytes_is_refused():
    with pytest.raises(ValueError, match="at least 32 bytes"):
        Webhook(url="https://hooks.example/default", secret="short")


def test_the_webhook_setting_adds_the_default_route_for_target_accounts(monkeypatch):
    monkeypatch.setenv("ABM_ROUTE_TEST_ALICE_KEY", "a" * 32)
    settings = Settings(
        routes=[
            Route(name="alice", url="https://a.example", secret_env="ABM_ROUTE_TEST_ALICE_KEY")
        ],
        webhook=Webhook(url="https://hooks.example/default", secret="d" * 32),
    )
    routes = {route.name: (route, key) for route, key in route_keys(settings)}
    default, key = routes["default"]
    assert key == b"d" * 32
    assert (default.tiers, default.kinds, default.format) == (
        [1, 2, 3],
        ["intent", "engagement"],
        "slack",
    )


def test_routes_and_rules_share_one_file(tmp_path):
    path = write(tmp_path, "[rules]\nintent_min_score = 70\n" + ROUTE)
    assert load_rules(path).intent_min_score == 70
    assert [r.name for r in load_routes(path)] == ["alice"]


kinds = st.sampled_from(["intent", "engagement", "tier_up"])
owners = st.sampled_from([None, "alice", "bob"])
tiers = st.integers(0, 3)
clusters = st.sampled_from([None, "abm", "crm"])


def route(**match) -> Route:
    return Route(name="r", url="https://r.example", secret_env="ABM_ROUTE_K", **match)


@given(kinds, owners, tiers, clusters)
def test_a_route_with_no_criteria_hears_everything(kind, owner, tier, cluster):
    assert route().matches(kind, owner, tier, cluster)


@given(
    kinds,
    owners,
    tiers,
    clusters,
    st.lists(owners.filter(bool), max_size=2),
    st.lists(tiers, max_size=2),
    st.lists(kinds, max_size=2),
    st.lists(clusters.filter(bool), max_size=2),
)
def test_a_route_hears_an_output_only_when_every_criterion_it_sets_holds(
    kind, owner, tier, cluster, want_owners, want_tiers, want_kinds, want_clusters
):
    r = route(owners=want_owners, tiers=want_tiers, kinds=want_kinds, clusters=want_clusters)
    heard = r.matches(kind, owner, tier, cluster)
    if want_owners and owner not in want_owners:
        assert not heard
    if want_tiers and tier not in want_tiers:
        assert not heard
    if want_kinds and kind not in want_kinds:
        assert not heard
    if want_clusters and kind == "intent" and cluster not in want_clusters:
        assert not heard
    # relaxing every criterion can only widen what a route hears
    assert heard <= route().matches(kind, owner, tier, cluster)
    assert matching([r, route()], kind, owner, tier, cluster)[-1].name == "r"


@given(tiers, tiers)
def test_tier_up_is_entering_a_better_tier(previous, tier):
    better = tier != 0 and (previous == 0 or tier < previous)
    assert tier_up(previous, tier) == better
    assert not (tier_up(previous, tier) and tier_up(tier, previous))


def change() -> TierChange:
    inputs = TierInputs(
        fit=85,
        acv=80_000,
        intent_max=90,
        intent_topics=["crm"],
        engagement_points=3,
        engaged_contacts=1,
        recent_intent=True,
        recent_engagement=False,
    )
    return TierChange(
        account_id="acme",
        previous_tier=3,
        tier=2,
        rule="too-big",
        inputs=inputs,
        changed_at=make_alert().detected_at,
        version=2,
    )


@pytest.mark.parametrize("item", [make_alert(), change()], ids=["alert", "tier_change"])
def test_a_json_route_posts_the_contract_and_a_slack_route_a_message(item):
    assert type(item).model_validate_json(render(item, "json")) == item
    slack = orjson.loads(render(item, "slack"))
    assert slack["text"]
    assert [b["type"] for b in slack["blocks"]] == ["section", "section"]
    assert (
        type(item).model_validate(slack["alert" if isinstance(item, SurgeAlert) else "change"])
        == item
    )


async def test_a_route_sink_posts_its_format_signed_with_its_key():
    async with receiver(lambda n: 200) as (url, bodies):
        json_route = Route(name="json-route", url=url, format="json", secret_env="ABM_ROUTE_K")
        sink = WebhookSink(Webhook(backoff_s=0.01, senders=1), Letters(), json_route, KEY.encode())
        assert sink.offer(make_alert())
        assert sink.offer(change())
        await deliver_all(sink)
    assert [
        SurgeAlert.model_validate_json(bodies[0]),
        TierChange.model_validate_json(bodies[1]),
    ] == [
        make_alert(),
        change(),
    ]
    assert sink.stats.delivered == 2


def test_the_default_route_is_what_the_webhook_always_posted():
    sink = WebhookSink(Webhook(url="https://hooks.example/x", secret="k" * 32), Letters())
    assert sink.route == default_route("https://hooks.example/x")


def test_a_route_naming_a_cluster_the_rules_lack_is_refused(tmp_path, monkeypatch):
    path = write(tmp_path, ROUTE + 'clusters = ["abm"]\n')
    monkeypatch.setenv("ABM_CONFIG_FILE", str(path))
    with pytest.raises(ConfigError, match=r"routes\.alice\.clusters: \['abm'\] are not in"):
        load_settings()
    path.write_text(
        '[rules.intent.clusters]\nabm = ["abm software"]\n' + ROUTE + 'clusters = ["abm"]\n'
    )
    assert [r.clusters for r in load_settings().routes] == [["abm"]]


SURGING = [intent(at=T0 + d * DAY, score=95.0, event_id=f"i{d}") for d in range(30)]


def test_an_alert_raised_before_the_owner_was_known_is_raised_again_for_the_owner():
    """A new account's first intent can be applied before its profile: its alert names
    no owner, so no owner route hears it; once the owner is known, the open surge's
    alert is raised again, naming the first, for the routes the owner makes match."""
    state, _, alerts = replay(SURGING)
    [first] = alerts
    assert first.owner is None
    effect = apply_event(state, profile(owner="alice"), coords("abm.accounts.v1"), Rules(), WALL)
    [again] = effect.alerts
    assert again.reissue_of == first.alert_id
    assert again.alert_id != first.alert_id
    assert (again.owner, again.kind, again.account_name) == ("alice", first.kind, "Acme")
    # a profile again, or a new owner, raises nothing more: the owner route heard it
    for owner in ("alice", "bob"):
        later = apply_event(state, profile(owner=owner), coords("abm.accounts.v1"), Rules(), WALL)
        assert not later.alerts


def test_an_alert_that_named_its_owner_is_not_raised_again():
    state, _, alerts = replay([profile(owner="alice"), *SURGING])
    assert alerts
    assert all(a.owner == "alice" for a in alerts)
    effect = apply_event(state, profile(owner="bob"), coords("abm.accounts.v1"), Rules(), WALL)
    assert not effect.alerts


def test_a_closed_surge_is_not_raised_again_when_the_owner_arrives():
    quiet = [intent(at=T0 + (30 + d) * DAY, score=1.0, event_id=f"q{d}") for d in range(30)]
    state, _, alerts = replay([*SURGING, *quiet], ticks=True)
    assert alerts
    assert not any(e.active for e in state.surges.values())
    effect = apply_event(state, profile(owner="alice"), coords("abm.accounts.v1"), Rules(), WALL)
    assert not effect.alerts


@given(
    owners=st.lists(st.sampled_from(["alice", "bob"]), max_size=2),
    tiers=st.lists(st.integers(0, 3), max_size=2),
    kind=st.sampled_from(["intent", "engagement"]),
    owner=st.sampled_from(["alice", "bob", "carol"]),
    tier=st.integers(0, 3),
)
def test_a_reissued_alert_reaches_exactly_the_routes_its_owner_makes_match(
    owners, tiers, kind, owner, tier
):
    r = route(owners=owners, tiers=tiers)
    heard = r.hears(kind, owner, tier, None, reissue=True)
    assert heard == (r.matches(kind, owner, tier, None) and not r.matches(kind, None, tier, None))
