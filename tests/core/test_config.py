import pytest

import config
from config import ConfigError, load_config


def test_defaults_then_environment_then_overrides():
    values = load_config({"LOG_LEVEL": "DEBUG"}, environ={"HELPER_PORT": "31000", "DEV_SIGN_IN": "false",
                                                          "HELPER_ALLOWED_ORIGINS": "https://a.example, https://b.example"})
    assert values["HELPER_PORT"] == 31000
    assert values["DEV_SIGN_IN"] is False
    assert values["HELPER_ALLOWED_ORIGINS"] == ["https://a.example", "https://b.example"]
    assert values["LOG_LEVEL"] == "DEBUG"
    assert values["REDIS_URL"] == "redis://127.0.0.1:6379/0"


def test_development_turns_on_dev_sign_in():
    assert load_config(environ={})["DEV_SIGN_IN"] is True


def test_bad_typed_value_is_refused_with_its_name():
    with pytest.raises(ConfigError, match="HELPER_PORT must be an integer"):
        load_config(environ={"HELPER_PORT": "abc"})


def test_production_names_every_missing_secret():
    with pytest.raises(ConfigError) as refused:
        load_config(environ={"APP_ENV": "production"})
    problems = " ".join(refused.value.problems)
    for key in ["SECRET_KEY", "WECHAT_APP_SECRET", "WECHAT_AES_KEY", "DATA_ENCRYPTION_KEY", "TICKET_SIGNING_KEY"]:
        assert f"{key} is required in production" in problems


def production_env(**extra):
    env = {key: "x" * 32 for key in config.REQUIRED_IN_PRODUCTION}
    env.update(APP_ENV="production", DATABASE_URL="postgresql://db/ca", REDIS_URL="redis://r:6379/0",
               PUBLIC_BASE_URL="https://ca.example.cn", CA_CRL_URL="http://crl.ca.example.cn/issuing.crl",
               CA_ROOT_CRL_URL="http://crl.ca.example.cn/root.crl", CA_ISSUER_URL="http://crl.ca.example.cn/issuing.cer",
               CA_OCSP_URL="http://ocsp.ca.example.cn/")
    env.update(extra)
    return env


def test_production_with_every_secret_starts():
    values = load_config(environ=production_env())
    assert values["DEV_SIGN_IN"] is False


def test_production_refuses_development_switches_and_wildcard_origins():
    with pytest.raises(ConfigError) as refused:
        load_config(environ=production_env(DEV_SIGN_IN="true", HELPER_ALLOWED_ORIGINS="*"))
    problems = " ".join(refused.value.problems)
    assert "DEV_SIGN_IN is a development-only switch" in problems
    assert "HELPER_ALLOWED_ORIGINS" in problems


def test_production_refuses_the_development_default_secret():
    with pytest.raises(ConfigError, match="SECRET_KEY is required"):
        load_config(environ=production_env(SECRET_KEY=config.DEFAULTS["SECRET_KEY"][0]))


def test_env_example_documents_every_key():
    text = (config.ROOT / ".env.example").read_text(encoding="utf-8")
    assert text == config.render_env_example()
    for key in config.DEFAULTS:
        assert f"\n{key}=" in text


def test_production_refuses_plain_http_to_wechat_and_customers():
    with pytest.raises(ConfigError) as refused:
        load_config(environ=production_env(WECHAT_API_BASE="http://127.0.0.1:5101/",
                                           PUBLIC_BASE_URL="http://ca.example.cn"))
    assert "WECHAT_API_BASE must be an https URL in production" in refused.value.problems
    assert "PUBLIC_BASE_URL must be an https URL in production" in refused.value.problems


def test_notice_templates_must_name_a_kind():
    with pytest.raises(ConfigError) as refused:
        load_config(environ={"WECHAT_NOTICE_TEMPLATES": "binding_success=TPL1,TPL2"})
    assert refused.value.problems == ["WECHAT_NOTICE_TEMPLATES: 'TPL2' is not kind=template_id"]


def test_production_wants_plain_http_public_addresses_for_revocation_data():
    with pytest.raises(config.ConfigError) as refused:
        load_config(environ=production_env(CA_CRL_URL="https://ca.example.cn/ca/crl",
                                           CA_OCSP_URL="http://127.0.0.1:5000/ca/ocsp"))
    assert "CA_CRL_URL must be an http (not https) URL in production" in refused.value.problems
    assert "CA_OCSP_URL must be the CA's public address in production, not 127.0.0.1" in refused.value.problems
    assert not any(p.startswith(("CA_ROOT_CRL_URL", "CA_ISSUER_URL")) for p in refused.value.problems)
