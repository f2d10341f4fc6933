"""The tuned rules file reads back as the rules it was written from, whatever they are,
with a note on every changed key."""

import tomllib

from hypothesis import given, settings
from hypothesis import strategies as st

from streams.config import load_rules
from streams.logic.rules import Rules
from streams.tune.rules_file import rules_toml
from tests.tune_tools import rule_sets

KEYS = ["intent_min_score", "icp.countries", "tiers.a.min_fit", "tiers.b.signals"]


@settings(max_examples=100, deadline=None)
@given(rule_sets, st.lists(st.sampled_from(KEYS), unique=True))
def test_the_file_reads_back_as_the_rules(tmp_path_factory, rules, keys):
    changes = [{"key": key, "was": 1, "evidence": f"because {key}"} for key in keys]
    text = rules_toml(rules, changes, ["tuned by abm tune", "on a history"])
    path = tmp_path_factory.mktemp("rules") / "tuned.toml"
    path.write_text(text)
    assert load_rules(path) == rules
    assert text.startswith("# tuned by abm tune\n# on a history\n")
    names = {rule.name for rule in rules.tiers}
    for key in keys:
        if not key.startswith("tiers.") or key.split(".")[1] in names:
            assert "# was 1\n" in text
            assert f"# because {key}\n" in text, key
    tomllib.loads(text)  # plain TOML, not only what tomlkit reads


def test_the_defaults_write_nothing_but_the_table():
    text = rules_toml(Rules(), [], [])
    assert tomllib.loads(text) == {"rules": {}}
