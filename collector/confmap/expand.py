"""`${...}` references in config strings, expanded as the collector's confmap resolver does (see `expand`)."""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping
from pathlib import Path

from collector.confmap.yamlload import ConfmapError, Plain

ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.-]+")
_SCHEMES = ("env", "file")


def expand(
    value: str,
    env: Mapping[str, str],
    warn: Callable[[str], None],
    base_dir: str | os.PathLike[str],
) -> str | Plain:
    """Expand the `${...}` references in `value`; a value that is exactly one reference becomes a `Plain`.

    `${env:VAR}` and `${VAR}` read the environment; `${env:VAR:-default}` (and `${VAR:-default}`) use the
    default only when VAR is unset, as the collector does (a set but empty VAR stays empty). An unset VAR
    without a default expands to '' and calls `warn`. `${file:path}` is the file's text verbatim (a trailing
    newline is kept, as the collector keeps it), relative paths from `base_dir`. `$$` is a literal `$`, a bare
    `$VAR` stays as written, and expanded text is never expanded again. A value without references is
    returned unchanged (a `Plain` stays a `Plain`); one with references embedded in other text becomes a str.
    """
    if "$" not in value:
        return value
    pieces: list[str] = []
    changed = False
    pos = 0
    while (dollar := value.find("$", pos)) >= 0:
        pieces.append(value[pos:dollar])
        if value.startswith("$$", dollar):
            pieces.append("$")
            pos = dollar + 2
            changed = True
        elif value.startswith("${", dollar):
            close = value.find("}", dollar + 2)
            if close < 0:
                raise ConfmapError(f"unterminated '${{' in {value!r}")
            text, typed = _lookup(value[dollar : close + 1], env, warn, Path(base_dir))
            if dollar == 0 and close == len(value) - 1:
                return Plain(text) if typed else text
            pieces.append(text)
            pos = close + 1
            changed = True
        else:
            pieces.append("$")
            pos = dollar + 1
    pieces.append(value[pos:])
    return "".join(pieces) if changed else value


def _lookup(
    reference: str, env: Mapping[str, str], warn: Callable[[str], None], base_dir: Path
) -> tuple[str, bool]:
    """The text one `${...}` reference stands for, and whether YAML typing applies to it."""
    body = reference[2:-1]
    if not body:
        raise ConfmapError(f"empty reference {reference!r}")
    if "$" in body:
        raise ConfmapError(f"{reference!r} contains '$': references cannot be nested")
    scheme, colon, rest = body.partition(":")
    if not colon:
        return _lookup_env(body, None, reference, env, warn)
    if ENV_NAME.fullmatch(scheme) and rest.startswith("-") and scheme not in _SCHEMES:
        return _lookup_env(scheme, rest[1:], reference, env, warn)
    if scheme == "env":
        name, has_default, default = rest.partition(":-")
        return _lookup_env(name, default if has_default else None, reference, env, warn)
    if scheme == "file":
        return _read_file(rest, reference, base_dir), True
    if not _SCHEME.fullmatch(scheme):
        raise ConfmapError(
            f"invalid reference {reference!r}: expected ${{env:VAR}}, ${{VAR}} or ${{file:path}}"
        )
    raise ConfmapError(f"unsupported scheme {scheme!r} in {reference!r} (supported: {', '.join(_SCHEMES)})")


def _lookup_env(
    name: str, default: str | None, reference: str, env: Mapping[str, str], warn: Callable[[str], None]
) -> tuple[str, bool]:
    if not ENV_NAME.fullmatch(name):
        raise ConfmapError(f"invalid environment variable name {name!r} in {reference!r}")
    if name in env:
        return env[name], True
    if default is not None:
        # The collector hands an explicitly empty default over as the empty string, not as null.
        return default, default != ""
    warn(f"environment variable {name!r} is not set; {reference} expands to an empty value")
    return "", True


def _read_file(path_text: str, reference: str, base_dir: Path) -> str:
    if not path_text:
        raise ConfmapError(f"{reference!r} names no file")
    path = Path(path_text)
    if not path.is_absolute():
        path = base_dir / path
    try:
        return path.read_text(encoding="utf-8")
    except OSError as err:
        raise ConfmapError(f"cannot read {str(path)!r} for {reference}: {err.strerror or err}") from None
    except UnicodeDecodeError:
        raise ConfmapError(f"cannot read {str(path)!r} for {reference}: not UTF-8 text") from None
