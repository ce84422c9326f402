"""Keys, tokens and an `auth` extension built from YAML, shared by the auth tests."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import textwrap
import time
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from collector.auth.config import AuthConfig
from collector.auth.extension import AuthExtension
from collector.auth.factory import FACTORY
from collector.component import ComponentId, Kind, ServiceStatus, Settings
from collector.config import load
from collector.confmap import load_yaml
from collector.registry import default_registry
from collector.telemetry import MetricsRegistry

SECRET = "s3cret-s3cret-s3cret-s3cret-s3cret!"  # 35 bytes: long enough for HS256
RSA_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
OTHER_RSA_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
REGISTRY = default_registry(entry_points_too=False)


def public_pem(key: rsa.RSAPrivateKey = RSA_KEY) -> str:
    """The PEM of `key`'s public half."""
    return key.public_key().public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo).decode()


def hs256(claims: dict[str, Any], secret: str = SECRET) -> str:
    """An HS256 JWT of `claims` (with `exp` an hour ahead unless given)."""
    return jwt.encode({"exp": int(time.time()) + 3600, **claims}, secret, algorithm="HS256")


def rs256(claims: dict[str, Any], key: rsa.RSAPrivateKey = RSA_KEY, kid: str | None = None) -> str:
    """An RS256 JWT of `claims` signed with `key` (with `exp` an hour ahead unless given)."""
    headers = {"kid": kid} if kid else None
    return jwt.encode({"exp": int(time.time()) + 3600, **claims}, key, algorithm="RS256", headers=headers)


def forged(header: dict[str, Any], claims: dict[str, Any], hmac_key: bytes) -> str:
    """A JWT put together by hand (PyJWT refuses to sign some of the attacks we test)."""

    def part(data: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()

    signing_input = f"{part(header)}.{part(claims)}"
    signature = hmac.new(hmac_key, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{base64.urlsafe_b64encode(signature).rstrip(b'=').decode()}"


def bearer(token: str) -> dict[str, str]:
    return {"authorization": f"Bearer {token}"}


def yaml_config(auth_body: str) -> str:
    """A whole collector config whose `auth` extension has `auth_body` (YAML, unindented)."""
    return (
        "extensions:\n  auth:\n"
        + textwrap.indent(textwrap.dedent(auth_body), "    ")
        + "\nreceivers: {nop: }\nexporters: {nop: }\n"
        + "service:\n  extensions: [auth]\n  pipelines: {traces: {receivers: [nop], exporters: [nop]}}\n"
    )


def load_auth_config(auth_body: str) -> AuthConfig:
    """The `auth` extension's config from YAML, checked as the collector checks it."""
    config = load(load_yaml(yaml_config(auth_body), "test.yaml"), REGISTRY)
    found = config.component(Kind.EXTENSION, ComponentId("auth")).config
    assert isinstance(found, AuthConfig)
    return found


def settings() -> Settings:
    return Settings(ComponentId("auth"), Kind.EXTENSION, MetricsRegistry(), logging.getLogger("auth"))


def make_auth(auth_body: str) -> AuthExtension:
    """An `auth` extension (not started) made by its factory from YAML."""
    made = FACTORY.create(settings(), load_auth_config(auth_body))
    assert isinstance(made, AuthExtension)
    return made


class FakeHost:
    """The extension asks nothing of its host."""

    status = ServiceStatus.RUNNING

    def extension(self, id: ComponentId) -> object:
        raise KeyError(id)

    def extensions(self) -> dict[ComponentId, object]:
        return {}
