"""Credentials masked for printing a config, in the spirit of the collector's `configopaque` fields.

The rule: a key name is split into lowercase words at `_`, `-`, `.`, spaces and camelCase humps
(`apiKey` -> api, key). Its value is redacted when one word is password, passwd, passphrase, secret,
secrets, token, credential, credentials, authorization or apikey, or when `key` is one word of several
(api_key, private-key, key_pem, apiKey). Exceptions: a name whose last word is `file` or `path` holds a
path, not a secret (key_file, cert_file, password_file stay visible); the bare name `key` stays visible,
because in collector configs it names an attribute (`actions: [{key: http.url, ...}]`); `keepalive`,
`monkey`, `keys` and `max_tokens` are other words. Inside a `headers` map the words `auth` and `cookie`
count too (X-Auth-Token, Cookie); all names compare case-insensitively. A redacted null stays null (it
shows the setting is absent); any other scalar becomes "[REDACTED]", list items one by one, and a map
under a sensitive key is walked with these same rules.
"""

from __future__ import annotations

import re

from collector.confmap.yamlload import Plain

REDACTED = "[REDACTED]"
_SECRET_WORDS = frozenset(
    {
        "password",
        "passwd",
        "passphrase",
        "secret",
        "secrets",
        "token",
        "credential",
        "credentials",
        "authorization",
        "apikey",
    }
)
_HEADER_SECRET_WORDS = frozenset({"auth", "cookie"})
_PATH_WORDS = frozenset({"file", "path"})
_CAMEL_HUMP = re.compile(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])")
_SEPARATORS = re.compile(r"[^A-Za-z0-9]+")


def key_words(name: str) -> list[str]:
    """The lowercase words of a key name: `X-API-Key` -> x, api, key; `clientSecret` -> client, secret."""
    return [word.lower() for word in _SEPARATORS.split(_CAMEL_HUMP.sub("_", name)) if word]


def is_sensitive_key(name: str, *, header: bool = False) -> bool:
    """Whether the value under key `name` is a credential (see the module docstring for the rule)."""
    words = key_words(name)
    if not words or words[-1] in _PATH_WORDS:
        return False
    secret_words = _SECRET_WORDS | _HEADER_SECRET_WORDS if header else _SECRET_WORDS
    if any(word in secret_words for word in words):
        return True
    return "key" in words and len(words) > 1


def redact(tree: object) -> object:
    """A copy of `tree` with credential values replaced by "[REDACTED]"; the input is not changed."""
    if isinstance(tree, dict):
        return _redact_map(tree, header=False)
    if isinstance(tree, list):
        return [redact(item) for item in tree]
    return tree


def _redact_map(tree: dict[str, object], *, header: bool) -> dict[str, object]:
    result: dict[str, object] = {}
    for key, value in tree.items():
        if is_sensitive_key(key, header=header):
            result[key] = _mask(value)
        elif isinstance(value, dict) and key.lower() == "headers":
            result[key] = _redact_map(value, header=True)
        else:
            result[key] = redact(value)
    return result


def _mask(value: object) -> object:
    if isinstance(value, dict):
        return _redact_map(value, header=False)
    if isinstance(value, list):
        return [_mask(item) for item in value]
    if value is None or (isinstance(value, Plain) and value.value is None):
        return value
    return REDACTED
