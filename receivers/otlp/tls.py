"""Server TLS from the collector's configtls keys: an SSLContext for HTTP, credentials for gRPC.

Files are read at start; a file that cannot be loaded is a ConfigError naming its key.
"""

from __future__ import annotations

import ssl
from typing import TYPE_CHECKING

from collector.errors import ConfigError, Problem
from receivers.otlp.config import TlsServerConfig

if TYPE_CHECKING:
    import grpc

__all__ = ["grpc_server_credentials", "server_ssl_context"]

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


def _read(path: str, key: str, file: str) -> bytes:
    try:
        with open(file, "rb") as f:
            return f.read()
    except OSError as err:
        raise ConfigError([Problem(f"{path}::{key}", f"cannot read {file!r}: {err.strerror}")]) from None


def grpc_server_credentials(config: TlsServerConfig, path: str) -> grpc.ServerCredentials:
    """gRPC server credentials; mutual TLS (client certificate required) when `client_ca_file` is set.

    grpcio negotiates TLS 1.2 or 1.3 whatever `min_version`/`max_version` say.
    """
    import grpc

    server_ssl_context(config, path)  # validates the files, with the same errors as HTTP
    key = _read(path, "key_file", config.key_file)
    cert = _read(path, "cert_file", config.cert_file)
    client_ca = _read(path, "client_ca_file", config.client_ca_file) if config.client_ca_file else None
    return grpc.ssl_server_credentials(
        [(key, cert)], root_certificates=client_ca, require_client_auth=client_ca is not None
    )
