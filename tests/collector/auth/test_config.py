"""The `auth` extension's config: defaults, the brief's full example, and every mistake with its path."""

from __future__ import annotations

import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest

from collector.auth.config import AuthConfig
from collector.component import Kind
from collector.config import load
from collector.confmap import load_yaml
from collector.errors import ConfigError
from tests.collector.auth import REGISTRY, SECRET, load_auth_config, public_pem, yaml_config

ROOT = Path(__file__).resolve().parents[3]


def problems(auth_body: str) -> list[str]:
    with pytest.raises(ConfigError) as info:
        load(load_yaml(yaml_config(auth_body), "test.yaml"), REGISTRY)
    return [str(p) for p in info.value.problems]


def test_the_extension_is_registered_as_auth() -> None:
    factory = REGISTRY.get(Kind.EXTENSION, "auth")
    assert factory is not None
    assert factory.config_type is AuthConfig


def test_defaults_fill_what_the_yaml_leaves_out() -> None:
    config = load_auth_config("tokens: [{token: abc}]\n")
    assert config.tenant_attribute == "tenant.id"
    assert config.tenant_header == "X-Scope-OrgID"
    assert config.jwt is None and config.rate_limit is None
    token = config.tokens[0]
    assert (token.token, token.subject, token.tenants, token.role) == ("abc", "", None, "viewer")


def test_the_full_example_loads(tmp_path: Path) -> None:
    key_file = tmp_path / "key.pem"
    key_file.write_text(public_pem())
    token_file = tmp_path / "token"
    token_file.write_text("from-a-file\n")
    config = load_auth_config(
        f"""
        tenant_attribute: org.id
        tenant_header: X-Tenant
        jwt:
          secret: {SECRET}
          public_key_file: {key_file}
          jwks_url: https://idp.example/.well-known/jwks.json
          issuer: https://idp.example
          audience: airis
          tenant_claim: org
          roles_claim: groups
          leeway: 1m
        tokens:
          - {{token: tok-a, subject: app-a, tenants: [acme], role: editor}}
          - {{token_file: {token_file}, role: Admin}}
        rate_limit:
          endpoint: redis://127.0.0.1:6379/1
          requests_per_second: 2.5
          burst: 10
          on_error: deny
          key_prefix: "x:"
        """
    )
    assert config.tenant_attribute == "org.id"
    assert config.jwt is not None
    assert config.jwt.jwks_refresh == timedelta(minutes=5)
    assert config.jwt.leeway == timedelta(minutes=1)
    assert (config.jwt.tenant_claim, config.jwt.roles_claim) == ("org", "groups")
    assert [t.tenants for t in config.tokens] == [["acme"], None]
    assert config.rate_limit is not None
    assert (config.rate_limit.requests_per_second, config.rate_limit.burst) == (2.5, 10)
    assert (config.rate_limit.on_error, config.rate_limit.key_prefix) == ("deny", "x:")
    assert config.rate_limit.timeout == timedelta(seconds=1)


def test_an_empty_section_asks_for_jwt_or_tokens() -> None:
    assert problems("{}\n") == ["extensions::auth: configure jwt, tokens or both"]
    assert problems("jwt:\n") == [
        "extensions::auth::jwt: set secret (HS256), public_key (RS256) or jwks_url, or their *_file forms"
    ]


def test_every_mistake_is_reported_at_once_with_its_key_path(tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.write_text("\n")
    found = problems(
        f"""
        tenant_attribute: ""
        tenant_header: "bad header"
        jwt:
          secret: short
          public_key: not a pem
          jwks_url: ftp://idp.example/keys
          jwks_refresh: 0s
          leeway: -1s
          roles_claim: ""
        tokens:
          - {{token: abc, role: superuser}}
          - {{token: abc, tenants: [""]}}
          - {{subject: nobody}}
          - {{token_file: {tmp_path}/missing}}
          - {{token: x, token_file: {empty}}}
          - {{token: "a b"}}
        rate_limit: {{endpoint: "http://redis:6379", requests_per_second: 0, burst: 0, on_error: maybe}}
        """
    )
    assert found == [
        "extensions::auth::rate_limit::on_error: 'maybe' is not one of allow, deny",
        "extensions::auth::tenant_attribute: must name a resource attribute",
        "extensions::auth::tenant_header: 'bad header' is not a header name",
        "extensions::auth::jwt::secret: must be at least 32 bytes (HS256 needs a 256-bit key)",
        "extensions::auth::jwt::public_key: is not a public key in PEM form (-----BEGIN PUBLIC KEY-----)",
        "extensions::auth::jwt::jwks_url: 'ftp://idp.example/keys' must be an http(s):// URL",
        "extensions::auth::jwt::jwks_refresh: 0s must be positive",
        "extensions::auth::jwt::leeway: -1s must not be negative",
        "extensions::auth::jwt::roles_claim: must name a claim",
        "extensions::auth::tokens::0::role: 'superuser' is not a role (viewer, editor, admin)",
        "extensions::auth::tokens::1::tenants::0: a tenant must not be empty",
        "extensions::auth::tokens::1::token: the same token as tokens::0",
        "extensions::auth::tokens::2::token: set token or token_file",
        f"extensions::auth::tokens::3::token_file: cannot read '{tmp_path}/missing': No such file or directory",
        "extensions::auth::tokens::4::token_file: at most one of token and token_file may be set",
        "extensions::auth::tokens::5::token: must not hold spaces",
        "extensions::auth::rate_limit::endpoint: 'http://redis:6379' must be redis://host:port/db, "
        "rediss:// or unix://",
        "extensions::auth::rate_limit::requests_per_second: 0 must be positive",
        "extensions::auth::rate_limit::burst: 0 must be at least 1",
    ]


def test_key_files_must_be_readable_keys(tmp_path: Path) -> None:
    (tmp_path / "empty").write_text("")
    (tmp_path / "secret").write_text(SECRET + "\n")
    found = problems(
        f"""
        jwt:
          secret: {SECRET}
          secret_file: {tmp_path}/secret
          public_key_file: {tmp_path}/empty
        tokens:
          - {{token: {SECRET}}}
        """
    )
    assert found == [
        "extensions::auth::jwt::secret_file: at most one of secret and secret_file may be set",
        f"extensions::auth::jwt::public_key_file: '{tmp_path}/empty' is empty",
    ]


def test_a_public_key_must_be_rsa_of_at_least_2048_bits(tmp_path: Path) -> None:
    from cryptography.hazmat.primitives.asymmetric import ec, rsa
    from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

    def pem(key: ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey) -> str:
        return key.public_key().public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo).decode()

    (tmp_path / "ec.pem").write_text(pem(ec.generate_private_key(ec.SECP256R1())))
    (tmp_path / "small.pem").write_text(pem(rsa.generate_private_key(65537, 1024)))
    assert problems(f"jwt: {{public_key_file: {tmp_path}/ec.pem}}\n") == [
        "extensions::auth::jwt::public_key_file: is not an RSA public key (RS256 needs one)"
    ]
    assert problems(f"jwt: {{public_key_file: {tmp_path}/small.pem}}\n") == [
        "extensions::auth::jwt::public_key_file: has 1024 bits; RS256 needs at least 2048"
    ]


def test_a_duplicate_token_is_found_through_its_file(tmp_path: Path) -> None:
    (tmp_path / "token").write_text("same-token\n")
    found = problems(f"tokens: [{{token: same-token}}, {{token_file: {tmp_path}/token}}]\n")
    assert found == ["extensions::auth::tokens::1::token_file: the same token as tokens::0"]


def test_redis_credentials_are_not_echoed_in_problems() -> None:
    found = problems("tokens: [{token: t}]\nrate_limit: {endpoint: 'redis://:hunter2@host:99999/0'}\n")
    assert found == ["extensions::auth::rate_limit::endpoint: 'redis://host:99999/0' has an invalid port"]


def test_the_factory_imports_no_heavy_library() -> None:
    code = (
        "import sys, collector.auth.factory\n"
        "print(sorted(m for m in ('jwt', 'cryptography', 'redis', 'httpx') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
