"""redact: which keys hold credentials, and what is left visible."""

import pytest

from collector.confmap import REDACTED, Plain, load_yaml, redact


@pytest.mark.parametrize(
    "key",
    [
        "password",
        "Password",
        "passwd",
        "db_password",
        "tls_passphrase",
        "token",
        "bearer_token",
        "access-token",
        "secret",
        "client_secret",
        "clientSecret",
        "credentials",
        "authorization",
        "api_key",
        "apikey",
        "apiKey",
        "APIKey",
        "private-key",
        "key_pem",
        "secret_key",
    ],
)
def test_credential_keys_are_redacted(key: str) -> None:
    assert redact({key: "hunter2"}) == {key: REDACTED}


@pytest.mark.parametrize(
    "key",
    [
        "key",
        "key_file",
        "cert_file",
        "ca_file",
        "password_file",
        "token_path",
        "keepalive",
        "monkey",
        "keys",
        "keys_to_keep",
        "max_tokens",
        "endpoint",
        "username",
        "authenticator",
    ],
)
def test_ordinary_and_path_keys_are_kept(key: str) -> None:
    assert redact({key: "visible"}) == {key: "visible"}


def test_credential_header_values_are_redacted_case_insensitively() -> None:
    tree = {
        "exporters": {
            "otlphttp": {
                "endpoint": "https://example.com",
                "headers": {
                    "Authorization": "Bearer abc",
                    "x-api-key": "abc",
                    "X-Auth-Token": "abc",
                    "Cookie": "session=abc",
                    "X-Scope-OrgID": "tenant-1",
                },
            }
        }
    }
    assert redact(tree) == {
        "exporters": {
            "otlphttp": {
                "endpoint": "https://example.com",
                "headers": {
                    "Authorization": REDACTED,
                    "x-api-key": REDACTED,
                    "X-Auth-Token": REDACTED,
                    "Cookie": REDACTED,
                    "X-Scope-OrgID": "tenant-1",
                },
            }
        }
    }


def test_auth_and_cookie_count_only_inside_headers() -> None:
    assert redact({"auth": {"authenticator": "basicauth"}, "cookie": "c"}) == {
        "auth": {"authenticator": "basicauth"},
        "cookie": "c",
    }


def test_every_scalar_kind_is_redacted_and_null_stays_null() -> None:
    tree = load_yaml("a_token: 123\nb_token: true\nc_token: ''\nd_token: ~\ne_token:\n", "c.yaml")
    assert redact(tree) == {
        "a_token": REDACTED,
        "b_token": REDACTED,
        "c_token": REDACTED,
        "d_token": Plain("~"),
        "e_token": Plain(""),
    }
    assert redact({"token": None}) == {"token": None}


def test_list_under_a_credential_key_is_redacted_item_by_item() -> None:
    assert redact({"tokens_list": ["a"], "api_key": ["a", "b"], "secrets": ["a", None]}) == {
        "tokens_list": ["a"],
        "api_key": [REDACTED, REDACTED],
        "secrets": [REDACTED, None],
    }


def test_map_under_a_credential_key_is_walked_with_the_same_rules() -> None:
    tree = {"credentials": {"client_id": "id", "client_secret": "s", "key_file": "/k.pem"}}
    assert redact(tree) == {
        "credentials": {"client_id": "id", "client_secret": REDACTED, "key_file": "/k.pem"}
    }


def test_redaction_reaches_into_lists_of_maps_and_does_not_change_the_input() -> None:
    tree = {
        "processors": {"attributes": {"actions": [{"key": "db.password", "value": "x", "password": "p"}]}}
    }
    assert redact(tree) == {
        "processors": {
            "attributes": {"actions": [{"key": "db.password", "value": "x", "password": REDACTED}]}
        }
    }
    assert tree["processors"]["attributes"]["actions"][0]["password"] == "p"


def test_non_container_input_is_returned_as_is() -> None:
    assert redact("password") == "password"
    assert redact([{"token": "t"}]) == [{"token": REDACTED}]
