"""One configuration model for ``gossipreg node``: every setting from a TOML file, the
environment or a flag, in that order of precedence (a flag beats ``GOSSIPREG_…``, which beats
the file, which beats the profile's defaults).

Settings are the node options below plus every :class:`NodeConfig` knob. The names are the
same everywhere: ``probe_interval`` in the file, ``GOSSIPREG_PROBE_INTERVAL`` in the
environment, ``--probe-interval`` on the command line. Values from the environment and flags
are text; they are validated by the same :class:`NodeConfig` (or the same address check) as
Python values, so every source reports the same message, followed by where the value came from.
``join`` takes a list in the file and a comma-separated list in the environment (repeat
``--join`` on the command line). ``heartbeat_timeout = "off"`` (or ``none``) turns it off, as
``NodeConfig(heartbeat_timeout="off")`` does. ``data_dir`` (``--data-dir``,
``GOSSIPREG_DATA_DIR``) is where the node keeps its agents across restarts.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from gossipreg.core.config import NodeConfig
from gossipreg.core.errors import ConfigError, InvalidArgumentError
from gossipreg.io.validate import check_address, check_seeds

__all__ = ["ENV_PREFIX", "KNOBS", "LOG_LEVELS", "NODE_OPTIONS", "Settings", "env_name",
           "resolve_settings"]

ENV_PREFIX = "GOSSIPREG_"
PROFILES = {"local": NodeConfig.local, "lan": NodeConfig.lan, "wan": NodeConfig.wan}
KNOBS = tuple(NodeConfig.model_fields)
_PATHS = ("key_file", "token_file", "tls_cert", "tls_key", "tls_ca", "data_dir", "identity_file",
          "publisher_keys")

# name -> (default, help). Defaults apply after every source was read.
NODE_OPTIONS: dict[str, tuple[Any, str]] = {
    "name": (None, "node name, unique in the mesh (required)"),
    "bind": ("127.0.0.1:7946", "HOST:PORT to listen on; 0.0.0.0:PORT or [::]:PORT listens on "
                               "every interface; port 0 picks a free one"),
    "advertise": (None, "HOST:PORT peers should dial (default: the bind address, or when "
                        "bound everywhere the local address of the route to the first seed)"),
    "join": ([], "seed HOST:PORT, repeatable; a DNS name may have several addresses, "
                 "resolved again at each attempt"),
    "profile": ("lan", "timing preset: local, lan or wan (knobs below override it)"),
    "key_file": (None, "file of base64 keys, one per line, the first signs; reloaded on "
                       "SIGHUP and POST /v1/admin/reload-keys"),
    "token": (None, "bearer token the HTTP API requires (visible in ps: prefer token_file "
                    "or GOSSIPREG_TOKEN)"),
    "token_file": (None, "file holding the bearer token"),
    "join_timeout": (None, "exit with status 1 if no seed answered within this many seconds "
                           "(default: keep retrying)"),
    "log_level": ("warning", "debug, info, warning or error (info: one line per member "
                             "joined, suspected, failed, left or refuted)"),
    "metrics_open": (None, "serve /metrics without the token (true/false; default: false)"),
    "tls_cert": (None, "PEM certificate of this node's HTTPS server (with tls_key)"),
    "tls_key": (None, "PEM private key of tls_cert"),
    "tls_ca": (None, "PEM CA bundle: peers must present a certificate it signed (mutual "
                     "TLS), and servers are verified against it"),
    "identity_file": (None, "this node's Ed25519 identity key (PKCS#8 PEM, created 0600 at "
                            "the first start; its pins are kept beside it), with which it signs "
                            "what it writes; default: identity.key in the data directory (or "
                            "the default one of its cluster and name). With tls_ca it is also "
                            "the TLS key, and tls_cert the CA's certificate of it naming the "
                            "node (gossipreg://CLUSTER/NAME)"),
    "publisher_keys": (None, "JWKS file, or directory of them, of the agent-card publishers "
                             "this node trusts: a card whose A2A signature verifies with one "
                             "shows card_verified true (needs gossipreg[cards])"),
    "paths": ("all", "gossip paths offered beside HTTP POST, used with peers that offer them "
                     "too: all (UDP datagrams and WebSocket links), links (no datagrams, as "
                     "where UDP is filtered) or http; with TLS there are no datagrams"),
}
PATHS = ("all", "links", "http")


def env_name(setting: str) -> str:
    return ENV_PREFIX + setting.upper()


@dataclass(frozen=True)
class Settings:
    """Everything ``gossipreg node`` runs with, validated."""

    name: str
    bind: str
    advertise: str | None
    join: list[str]
    profile: str
    config: NodeConfig
    key_file: str | None
    token: str | None
    join_timeout: float | None
    log_level: str
    tls_cert: str | None
    tls_key: str | None
    tls_ca: str | None
    identity_file: str | None = None
    publisher_keys: str | None = None
    metrics_open: bool = False
    paths: str = "all"  # see NODE_OPTIONS


LOG_LEVELS = ("debug", "info", "warning", "error")
_TRUE, _FALSE = ("true", "yes", "on", "1"), ("false", "no", "off", "0")


def _read_file(path: str) -> dict[str, Any]:
    import tomllib  # only for a node given a file: ~0.1 MB (its regexes) of every other's RSS

    try:
        with open(path, "rb") as f:
            data = tomllib.load(f)
    except OSError as e:
        raise ConfigError(f"cannot read config file {path}: {e.strerror or e}") from None
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"config file {path} is not valid TOML: {e}") from None
    unknown = sorted(set(data) - set(NODE_OPTIONS) - set(KNOBS))
    if unknown:
        raise ConfigError(f"config file {path}: unknown settings {unknown}")
    # Files named in the file are found beside it, whatever the working directory.
    here = os.path.dirname(os.path.abspath(path))
    for key in _PATHS:
        value = data.get(key)
        if isinstance(value, str) and value and not os.path.isabs(value):
            data[key] = os.path.join(here, value)
    return data


def _from_env(environ: Mapping[str, str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key in (*NODE_OPTIONS, *KNOBS):
        value = environ.get(env_name(key))
        if value is None:
            continue
        out[key] = [s for s in value.replace(" ", ",").split(",") if s] if key == "join" \
            else value
    return out


def _read_secret(path: str, what: str) -> str:
    try:
        with open(path, encoding="utf-8") as f:
            value = f.read().strip()
    except OSError as e:
        raise ConfigError(f"cannot read {what} {path}: {e.strerror or e}") from None
    if not value:
        raise ConfigError(f"{what} {path} is empty")
    return value


def resolve_settings(flags: Mapping[str, Any], environ: Mapping[str, str] | None = None,
                     config_file: str | None = None) -> Settings:
    """Merge profile defaults < ``config_file`` (or ``GOSSIPREG_CONFIG``) < ``environ`` <
    ``flags`` (``None`` = not given) and validate. Raises ConfigError naming the source."""
    env = os.environ if environ is None else environ
    path = config_file or env.get(env_name("config"))
    layers = [("config file " + path, _read_file(path)) if path else ("", {}),
              ("the environment", _from_env(env)),
              ("the command line", {k: v for k, v in flags.items() if v not in (None, [])})]
    merged: dict[str, Any] = {}
    source: dict[str, str] = {}
    for where, layer in layers:
        for k, v in layer.items():
            merged[k] = v
            source[k] = where

    def origin(key: str) -> str:
        where = source.get(key)
        if where == "the environment":
            return f" (from {env_name(key)})"
        return f" (from {where})" if where else ""

    def opt(key: str) -> Any:
        return merged.get(key, NODE_OPTIONS[key][0])

    profile = str(opt("profile"))
    if profile not in PROFILES:
        raise ConfigError(f"profile must be one of {sorted(PROFILES)}, not {profile!r}"
                          f"{origin('profile')}")
    knobs = {k: merged[k] for k in KNOBS if k in merged}
    try:
        config = PROFILES[profile](**knobs)
    except ConfigError as e:
        froms = sorted({origin(k).strip() for k in knobs if k in str(e)} - {""})
        raise ConfigError(f"{e}{' ' + ', '.join(froms) if froms else ''}") from None
    name = opt("name")
    if not name:
        raise ConfigError("a node name is required: --name, GOSSIPREG_NAME or name in the "
                          "config file")
    def address(key: str) -> str:
        try:
            return check_address(opt(key), key)
        except InvalidArgumentError as e:
            raise ConfigError(f"{e}{origin(key)}") from None

    bind = address("bind")
    advertise = None if opt("advertise") is None else address("advertise")
    try:
        join = check_seeds(opt("join"))
    except InvalidArgumentError as e:
        raise ConfigError(f"{e}{origin('join')}") from None
    token = opt("token")
    if token is None and opt("token_file") is not None:
        token = _read_secret(str(opt("token_file")), "token file")
    timeout = opt("join_timeout")
    try:
        join_timeout = None if timeout is None else float(timeout)
        if join_timeout is not None and not join_timeout > 0:
            raise ValueError
    except ValueError:
        raise ConfigError(f"join_timeout must be a positive number of seconds, not {timeout!r}"
                          f"{origin('join_timeout')}") from None
    level = str(opt("log_level")).lower()
    if level not in LOG_LEVELS:
        raise ConfigError(f"log_level must be one of {', '.join(LOG_LEVELS)}, not "
                          f"{opt('log_level')!r}{origin('log_level')}")
    flag = opt("metrics_open")
    metrics_open = flag if isinstance(flag, bool) else str(flag or "false").lower()
    if metrics_open not in (True, False, *_TRUE, *_FALSE):
        raise ConfigError(f"metrics_open must be true or false, not {flag!r}"
                          f"{origin('metrics_open')}")
    paths = str(opt("paths")).lower()
    if paths not in PATHS:
        raise ConfigError(f"paths must be one of {', '.join(PATHS)}, not {opt('paths')!r}"
                          f"{origin('paths')}")
    return Settings(
        name=str(name), bind=bind, advertise=advertise, join=join, profile=profile, paths=paths,
        config=config, key_file=opt("key_file"), token=token, join_timeout=join_timeout,
        log_level=level, tls_cert=opt("tls_cert"), tls_key=opt("tls_key"),
        tls_ca=opt("tls_ca"), identity_file=opt("identity_file"),
        publisher_keys=opt("publisher_keys"), metrics_open=metrics_open in (True, *_TRUE))
