"""The `auth` key of a surface's config: which `auth` extension checks its callers, or `none`."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

from collector.auth.principal import Authenticator
from collector.component import ComponentId, Host
from collector.errors import ConfigError, Problem

NONE = "none"


@dataclass
class AuthSetting:
    """`auth: {authenticator: <extension id>}` (the collector's configauth shape); `none` turns it off."""

    authenticator: str = ""
    """The id of the `auth` extension checking callers, or `none` for no authentication at all."""

    @property
    def disabled(self) -> bool:
        return self.authenticator.strip().lower() == NONE

    def problems(self, required: bool = True) -> list[Problem]:
        """Mistakes under `authenticator` (an empty one is a mistake when `required`)."""
        name = self.authenticator.strip()
        if not name:
            if not required:
                return []
            return [
                Problem(
                    "authenticator",
                    "name an `auth` extension (e.g. `auth`), or `none` to turn authentication off",
                )
            ]
        if self.disabled:
            return []
        try:
            ComponentId.parse(name)
        except ValueError as err:
            return [Problem("authenticator", str(err))]
        return []

    def validate(self) -> None:
        if problems := self.problems(required=False):
            raise ConfigError(problems)

    def dependency(self) -> list[ComponentId]:
        """The extension to start first (none when off or unset)."""
        name = self.authenticator.strip()
        return [] if not name or self.disabled else [ComponentId.parse(name)]

    def resolve(self, host: Host, key: str) -> Authenticator | None:
        """The started authenticator (None when off or unset); ConfigError naming `key` if it is missing."""
        name = self.authenticator.strip()
        if not name or self.disabled:
            return None
        component_id = ComponentId.parse(name)
        found = host.extensions().get(component_id)
        if found is None or not hasattr(found, "authenticate"):
            raise ConfigError(
                [Problem(f"{key}::authenticator", f"{name!r} is not a started `auth` extension")]
            )
        return found  # type: ignore[return-value]


def is_loopback(host: str) -> bool:
    """Whether `host` (of an endpoint) is reachable only from this machine."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def auth_off_warning(host: str, port: int) -> str:
    """What a surface without authentication logs at start, listening on `host`:`port`."""
    where = f"[{host}]:{port}" if ":" in host else f"{host or '0.0.0.0'}:{port}"
    message = f"authentication is off (auth::authenticator: none), listening on {where}"
    if is_loopback(host):
        return message
    return (
        f"{message}: anyone who can reach it can read all data; "
        "set auth::authenticator to an `auth` extension"
    )


__all__ = ["NONE", "AuthSetting", "auth_off_warning", "is_loopback"]
