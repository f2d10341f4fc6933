"""Kafka SASL/TLS and Redis auth/TLS settings: validated, applied, and never printed (Redis
auth against a real server: e2e/test_security.py)."""

import ssl

import pytest

from streams.clients.kafka import client_options, faust_credentials
from streams.config import ConfigError, load_settings

SECRET = "correct-horse-battery-staple"


def test_sasl_needs_a_username_and_password(monkeypatch):
    monkeypatch.setenv("ABM_KAFKA_SECURITY__PROTOCOL", "SASL_SSL")
    with pytest.raises(ConfigError, match="SASL_SSL needs sasl_username and sasl_password"):
        load_settings()


def test_tls_files_must_exist(monkeypatch, tmp_path):
    monkeypatch.setenv("ABM_KAFKA_SECURITY__PROTOCOL", "SSL")
    monkeypatch.setenv("ABM_KAFKA_SECURITY__CA_FILE", str(tmp_path / "missing.pem"))
    with pytest.raises(ConfigError, match=r"kafka_security: .*ca_file .*missing.pem is not a file"):
        load_settings()


def test_sasl_ssl_reaches_every_client_and_the_secret_is_never_printed(monkeypatch):
    monkeypatch.setenv("ABM_KAFKA_SECURITY__PROTOCOL", "SASL_SSL")
    monkeypatch.setenv("ABM_KAFKA_SECURITY__SASL_MECHANISM", "SCRAM-SHA-512")
    monkeypatch.setenv("ABM_KAFKA_SECURITY__SASL_USERNAME", "abm")
    monkeypatch.setenv("ABM_KAFKA_SECURITY__SASL_PASSWORD", SECRET)
    monkeypatch.setenv("ABM_REDIS_PASSWORD", SECRET)
    settings = load_settings()
    options = client_options(settings)
    assert options["security_protocol"] == "SASL_SSL"
    assert options["sasl_mechanism"] == "SCRAM-SHA-512"
    assert options["sasl_plain_password"] == SECRET
    assert isinstance(options["ssl_context"], ssl.SSLContext)
    credentials = faust_credentials(settings)
    assert credentials.password == SECRET
    assert credentials.mechanism.value == "SCRAM-SHA-512"
    assert credentials.ssl_context is not None
    for shown in (repr(settings), str(settings), settings.model_dump_json(), repr(credentials)):
        assert SECRET not in shown


@pytest.mark.parametrize(
    "url",
    [
        f"redis://abm:{SECRET}@127.0.0.1:6379/0",
        f"redis://:{SECRET}@127.0.0.1:6379/0",
        f"redis://127.0.0.1:6379/0?password={SECRET}",
        f"rediss://127.0.0.1:6379/0?ssl_cert_reqs=required&PassWord={SECRET}",
        f"redis://127.0.0.1/0?username=abm&password={SECRET}",
    ],
)
def test_a_password_in_the_redis_url_is_refused_in_any_form_without_echoing_it(monkeypatch, url):
    monkeypatch.setenv("ABM_REDIS_URL", url)
    with pytest.raises(ConfigError, match="and ABM_REDIS_PASSWORD instead") as caught:
        load_settings()
    assert SECRET not in str(caught.value)
