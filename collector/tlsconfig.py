"""The `tls` blocks of clients (exporters) and servers (receivers), with the collector's configtls keys.

The config classes only hold settings; the functions load them when a component starts: a file that
cannot be loaded is then a ConfigError naming its key path.
"""

from __future__ import annotations

import ssl
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from collector.errors import ConfigError, Problem

if TYPE_CHECKING:
    import grpc

__all__ = [
    "PemFiles",
    "TlsClientConfig",
    "TlsServerConfig",
    "client_ssl_context",
    "grpc_server_credentials",
    "read_pem_files",
    "server_ssl_context",
]

TlsVersion = Literal["1.0", "1.1", "1.2", "1.3"]
_TLS_ORDER: dict[str, int] = {"1.0": 0, "1.1": 1, "1.2": 2, "1.3": 3}


@dataclass
class TlsClientConfig:
    """How a client secures its connection: the CA to trust, an optional client certificate, checks."""

    insecure: bool = False
    """gRPC only: plaintext instead of TLS (an `https://` endpoint still forces TLS)."""
    ca_file: str = ""
    """PEM file of the CAs that sign the server's certificate; empty: the system's CAs."""
    cert_file: str = ""
    """PEM certificate presented to the server (mutual TLS); needs `key_file`."""
    key_file: str = ""
    """PEM private key of `cert_file`."""
    insecure_skip_verify: bool = False
    """Accept any server certificate (TLS without authentication)."""
    server_name_override: str = ""
    """The name sent as SNI and checked against the server's certificate instead of the endpoint's host."""

    def validate(self) -> None:
        """Raise ConfigError naming every key whose value is unusable."""
        if bool(self.cert_file) != bool(self.key_file):
            missing = "key_file" if self.cert_file else "cert_file"
            raise ConfigError(
                [Problem(missing, "for auth via TLS, provide both certificate and key, or neither")]
            )


@dataclass
class TlsServerConfig:
    """A server's TLS (the collector's configtls keys): its certificate, and client CAs for mTLS."""

    cert_file: str = ""
    key_file: str = ""
    client_ca_file: str = ""
    """When set, clients must present a certificate signed by one of these CAs (mutual TLS)."""
    min_version: TlsVersion = "1.2"
    max_version: TlsVersion | None = None

    def validate(self) -> None:
        """Raise ConfigError naming every key whose value is unusable."""
        problems = [
            Problem(key, "is required when tls is configured")
            for key in ("cert_file", "key_file")
            if not getattr(self, key)
        ]
        if self.max_version is not None and _TLS_ORDER[self.max_version] < _TLS_ORDER[self.min_version]:
            problems.append(
                Problem("max_version", f"{self.max_version!r} is below min_version {self.min_version!r}")
            )
        if problems:
            raise ConfigError(problems)


@dataclass(frozen=True)
class PemFiles:
    """The contents of the PEM files a `TlsClientConfig` names (None where no file is named)."""

    ca: bytes | None
    cert: bytes | None
    key: bytes | None


def _read(path: str, key: str, file: str) -> bytes | None:
    if not file:
        return None
    try:
        with open(file, "rb") as f:
            return f.read()
    except OSError as err:
        raise ConfigError([Problem(f"{path}::{key}", f"cannot read {file!r}: {err.strerror}")]) from None


def read_pem_files(config: TlsClientConfig, path: str) -> PemFiles:
    """Read the named files; ConfigError naming the key of one that cannot be read.

    `path` is the key path of the `tls` section (`exporters::otlp::tls`), for errors.
    """
    return PemFiles(
        ca=_read(path, "ca_file", config.ca_file),
        cert=_read(path, "cert_file", config.cert_file),
        key=_read(path, "key_file", config.key_file),
    )


def client_ssl_context(config: TlsClientConfig, path: str) -> ssl.SSLContext:
    """An SSLContext verifying servers as `config` says; ConfigError naming the key of a bad file."""
    files = read_pem_files(config, path)
    if files.ca is not None:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)  # only the configured CAs, as the collector
        try:
            context.load_verify_locations(cadata=files.ca.decode("ascii", "replace"))
        except ssl.SSLError as err:
            problem = Problem(
                f"{path}::ca_file", f"{config.ca_file!r} holds no usable PEM certificate: {err}"
            )
            raise ConfigError([problem]) from None
    else:
        context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH)
        if context.cert_store_stats()["x509_ca"] == 0:
            _load_certifi(context)
    if config.cert_file:
        try:
            context.load_cert_chain(config.cert_file, config.key_file)
        except (OSError, ssl.SSLError) as err:
            message = (
                f"cannot load the certificate {config.cert_file!r} with the key {config.key_file!r}: {err}"
            )
            raise ConfigError([Problem(f"{path}::cert_file", message)]) from None
    if config.insecure_skip_verify:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context


def _load_certifi(context: ssl.SSLContext) -> None:
    # Slim containers have no system CA store; certifi (an httpx dependency) fills in when present.
    try:
        import certifi
    except ImportError:
        return
    context.load_verify_locations(cafile=certifi.where())


_VERSIONS: dict[str, ssl.TLSVersion] = {
    "1.0": ssl.TLSVersion.TLSv1,
    "1.1": ssl.TLSVersion.TLSv1_1,
    "1.2": ssl.TLSVersion.TLSv1_2,
    "1.3": ssl.TLSVersion.TLSv1_3,
}


def server_ssl_context(config: TlsServerConfig, path: str) -> ssl.SSLContext:
    """A server context with the certificate, requiring client certificates when `client_ca_file` is set.

    `path` is the key path of the `tls` section, for errors.
    """
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = _VERSIONS[config.min_version]
    if config.max_version is not None:
        context.maximum_version = _VERSIONS[config.max_version]
    try:
        context.load_cert_chain(config.cert_file, config.key_file)
    except (OSError, ssl.SSLError) as err:
        raise ConfigError(
            [
                Problem(
                    f"{path}::cert_file",
                    f"cannot load the certificate {config.cert_file!r} with the key "
                    f"{config.key_file!r}: {err}",
                )
            ]
        ) from None
    if config.client_ca_file:
        try:
            context.load_verify_locations(cafile=config.client_ca_file)
        except (OSError, ssl.SSLError) as err:
            raise ConfigError(
                [Problem(f"{path}::client_ca_file", f"cannot load {config.client_ca_file!r}: {err}")]
            ) from None
        context.verify_mode = ssl.CERT_REQUIRED
    context.set_alpn_protocols(["http/1.1"])
    return context


def grpc_server_credentials(config: TlsServerConfig, path: str) -> grpc.ServerCredentials:
    """gRPC server credentials; mutual TLS (client certificate required) when `client_ca_file` is set.

    grpcio negotiates TLS 1.2 or 1.3 whatever `min_version`/`max_version` say.
    """
    import grpc

    server_ssl_context(config, path)  # validates the files, with the same errors as HTTP
    key = _read(path, "key_file", config.key_file)
    cert = _read(path, "cert_file", config.cert_file)
    client_ca = _read(path, "client_ca_file", config.client_ca_file)
    return grpc.ssl_server_credentials(
        [(key, cert)], root_certificates=client_ca, require_client_auth=client_ca is not None
    )
