"""Config: env vars and a TOML rules file; bad settings fail with a precise message."""

from pathlib import Path

import pytest

from streams.config import ConfigError, load_rules, load_settings
from streams.logic.rules import Rules


def test_env_overrides(monkeypatch):
    monkeypatch.setenv("ABM_PARTITIONS", "8")
    monkeypatch.setenv("ABM_TOPICS__ENGAGEMENT", "custom.engagement")
    settings = load_settings()
    assert settings.partitions == 8
    assert settings.topics.engagement == "custom.engagement"


def test_rules_file_replaces_defaults(tmp_path, monkeypatch):
    path = tmp_path / "rules.toml"
    path.write_text("""
[rules]
intent_min_score = 75
[[rules.tiers]]
tier = 1
name = "big"
min_acv = 100000
[rules.weights]
meeting = 20
""")
    monkeypatch.setenv("ABM_CONFIG_FILE", str(path))
    rules = load_settings().rules
    assert rules.intent_min_score == 75
    assert [(t.tier, t.name, t.min_acv) for t in rules.tiers] == [(1, "big", 100_000)]
    assert rules.weights["meeting"] == 20


@pytest.mark.parametrize(
    ("toml", "message"),
    [
        ("[rules]\nintent_min_score = 120", "intent_min_score"),
        ("[rules]\nretention_days = 7", "retention_days (7) must cover the longest window"),
        ("[rules]\nstages = ['a', 'b']", "closed_lost"),
        ("[rules.weights]\nteleport = 3", "weights.teleport"),
        ("[rules]\ntypo_key = 1", "typo_key"),
        ("[rules.icp]\nweight_tech = 50", "icp weights must sum to 100"),
        ("[rules\n", "not valid TOML"),
        ("[rules.currencies]\nbase = 'usd'", "currencies.base"),
        ("[rules.currencies]\nrates = { EUR = 0 }", "currencies.rates.EUR"),
        ("[rules.currencies]\nrates = { euro = 1.1 }", "currencies.rates.euro"),
    ],
)
def test_bad_rules_name_the_file_and_key(tmp_path, monkeypatch, toml, message):
    path = tmp_path / "bad.toml"
    path.write_text(toml)
    monkeypatch.setenv("ABM_CONFIG_FILE", str(path))
    with pytest.raises(ConfigError) as caught:
        load_settings()
    assert str(path) in str(caught.value)
    assert message in str(caught.value)


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("ABM_PARTITIONS", "zero", "partitions"),
        ("ABM_WEB_PORT", "70000", "web_port"),
        ("ABM_CLOCK", "sundial", "clock"),
        ("ABM_HEARTBEAT_INTERVAL_S", "30", "at most a third of session_timeout_s"),
    ],
)
def test_bad_env_names_the_setting(monkeypatch, name, value, message):
    monkeypatch.setenv(name, value)
    with pytest.raises(ConfigError) as caught:
        load_settings()
    assert message in str(caught.value)


def test_missing_rules_file(monkeypatch, tmp_path):
    monkeypatch.setenv("ABM_CONFIG_FILE", str(tmp_path / "nope.toml"))
    with pytest.raises(ConfigError, match="cannot read rules file"):
        load_settings()


def test_example_rules_file_documents_the_defaults(monkeypatch):
    example = Path(__file__).parents[2] / "examples" / "abm.toml"
    assert load_rules(example) == Rules()


@pytest.mark.parametrize(
    "path", sorted((Path(__file__).parents[2] / "examples").glob("*.toml")), ids=lambda p: p.name
)
def test_every_example_rules_file_loads(path):
    assert isinstance(load_rules(path), Rules)


@pytest.mark.parametrize(
    ("toml", "message"),
    [
        ("[rules.intent]\nonly_listed = true\n", "only_listed needs clusters"),
        ("[rules.intent]\nonly_known_providers = true\n", "only_known_providers needs providers"),
        ('[rules.intent.clusters]\n"Bad Name" = ["crm"]\n', "intent.clusters.Bad Name"),
        ("[rules.intent.clusters]\nabm = []\n", "clusters.abm: list at least one topic"),
        ("[rules.intent.providers]\nbombora = -1\n", "intent.providers.bombora"),
        (
            '[[rules.tiers]]\ntier = 1\nname = "x"\nintent_clusters = ["abm"]\n',
            "tier rule 'x': intent_clusters ['abm'] are not in intent.clusters []",
        ),
    ],
)
def test_a_bad_intent_catalogue_is_refused_with_the_key_named(tmp_path, toml, message):
    path = tmp_path / "rules.toml"
    path.write_text(toml)
    with pytest.raises(ConfigError, match="invalid rules") as refused:
        load_rules(path)
    assert message in str(refused.value)


def test_a_cluster_too_small_for_min_surging_topics_is_refused(tmp_path):
    path = tmp_path / "rules.toml"
    path.write_text(
        '[rules.intent]\nmin_surging_topics = 3\n[rules.intent.clusters]\nabm = ["a", "A ", "b"]\n'
    )
    with pytest.raises(ConfigError, match=r"clusters\.abm has 2 distinct topics"):
        load_rules(path)


def test_a_file_of_routes_alone_keeps_the_rules_it_is_given(tmp_path):
    path = tmp_path / "routes.toml"
    path.write_text(
        '[[routes]]\nname = "r"\nurl = "https://r.example"\nsecret_env = "ABM_ROUTE_K"\n'
    )
    live = Rules(intent_min_score=70)
    assert load_rules(path, live) is live
    assert load_rules(path) == Rules()
