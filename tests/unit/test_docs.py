"""The reference parts of docs/ say what the code says (streams/docs.py)."""

import pytest

from streams import docs


def test_the_docs_are_current():
    problems = docs.check()
    assert not problems, "\n".join(problems)


def test_a_field_left_out_of_a_topic_table_or_a_key_of_the_rules_is_named():
    topics = (docs.DOCS / "topics.md").read_text()
    without = topics.replace("| `duration_s` |", "| duration |", 1)
    assert docs.field_problems(without) == [
        "docs/topics.md, abm.engagement.v1: fields not in its table: ['duration_s']"
    ]
    rules = (docs.DOCS / "rules.md").read_text()
    renamed = rules.replace("| `min_surging_topics` |", "| `min_topics` |", 1)
    assert docs.rules_problems(renamed) == [
        "docs/rules.md, [rules.intent]: keys not described: ['min_surging_topics']",
        "docs/rules.md, [rules.intent]: described but not in the model: ['min_topics']",
    ]


def test_a_generated_part_is_written_afresh_and_an_unknown_one_refused():
    stale = "before\n<!-- generated: topics -->\nold table\n<!-- end: topics -->\nafter\n"
    fresh = docs.generated(stale)
    assert fresh.startswith("before\n<!-- generated: topics -->\n| topic |")
    assert "old table" not in fresh
    assert "`abm.erasure.v1`" in fresh
    assert fresh.endswith("<!-- end: topics -->\nafter\n")
    with pytest.raises(ValueError, match="no generator named 'nothing'"):
        docs.generated("<!-- generated: nothing -->\n<!-- end: nothing -->")


def test_every_setting_has_a_row_and_a_meaning():
    table = docs.settings_tables()
    for variable in ("ABM_KAFKA_SECURITY__SASL_MECHANISM", "ABM_TOPICS__ERASURE", "ABM_CRASH_AT"):
        assert f"| `{variable}` |" in table
    assert "| `ABM_RULES`" not in table  # from the rules file, not the environment
