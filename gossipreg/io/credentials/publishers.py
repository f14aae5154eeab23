"""Card publishers this node trusts, and its verdict on a signed agent card.

An A2A card may carry ``signatures``: detached JWS over the card's JCS canonical form (each with
a ``kid`` in its protected header; several, for rotation). The operator gives this node the
publishers' public keys as a JWKS file or a directory of them (``--publisher-keys``; the data
directory's ``publishers/``); a card is ``"true"`` when one of its signatures verifies with
the key its ``kid`` names, ``"false"`` otherwise (unknown key, altered card, a disallowed
algorithm, not canonicalisable). The check is a2a-sdk's own verifier
(``a2a.utils.signing.create_signature_verifier``, the ``signing`` extra: PyJWT), over the card
parsed into the SDK's ``AgentCard`` (so a card signed by the SDK's signer round-trips; a card
signed over fields the SDK's model does not hold does not verify). Algorithms are the
asymmetric ones AI Catalog allows (never ``none`` or HMAC). Verdicts are cached per card text;
a failure's reason is logged once per card. Verification is local: each node judges with its
own keys, so two nodes may show one card differently.
"""

from __future__ import annotations

import hashlib
import importlib
import json
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

from gossipreg.core.errors import ConfigError

__all__ = ["ALGORITHMS", "PublisherKeys"]

log = logging.getLogger("gossipreg.io.credentials.publishers")

ALGORITHMS = ["ES256", "ES384", "EdDSA", "PS256", "PS384", "RS256"]
_CACHE = 4096


def _signing() -> tuple[Any, Any, Any, Callable[..., Any]]:
    try:
        from a2a.types import AgentCard
        from a2a.utils import signing
        from jwt import PyJWKSet

        json_format = importlib.import_module("google.protobuf.json_format")
    except ImportError as e:
        raise ConfigError("verifying agent cards needs a2a-sdk's signing extra: "
                          f"pip install 'gossipreg[cards]' ({e})") from None
    return AgentCard, signing, PyJWKSet, json_format.ParseDict


class PublisherKeys:
    """The publisher keys of one node, from a JWKS file or a directory of ``*.json`` JWKS
    files; callable as the core's card judge (card JSON text -> "true" / "false")."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        card_type, self._signing, jwk_set, self._parse = _signing()
        self._card_type = card_type
        files = sorted(self.path.glob("*.json")) if self.path.is_dir() else [self.path]
        self.keys: dict[str, Any] = {}
        for f in files:
            try:
                data = json.loads(f.read_text())
                keys = jwk_set.from_dict(data).keys
            except (OSError, ValueError, TypeError) as e:
                raise ConfigError(f"cannot read publisher keys {f}: {e}") from None
            except Exception as e:  # PyJWT's errors for a set it cannot use
                raise ConfigError(f"publisher keys {f}: {e}") from None
            for k in keys:
                if not k.key_id:
                    raise ConfigError(f"publisher keys {f}: every key needs a kid (the card's "
                                      "signature names its key by kid)")
                self.keys[k.key_id] = k
        self._verify = self._signing.create_signature_verifier(self._key, ALGORITHMS)
        self._verdicts: dict[bytes, str] = {}
        self.logged: set[bytes] = set()

    def _key(self, kid: str | None, jku: str | None) -> Any:
        key = self.keys.get(kid or "")
        if key is None:
            from jwt.exceptions import PyJWTError

            raise PyJWTError(f"no publisher key {kid!r}")
        return key

    def __call__(self, card_json: str) -> str:
        h = hashlib.blake2b(card_json.encode(), digest_size=16).digest()
        out = self._verdicts.get(h)
        if out is None:
            why = self._why_not(card_json)
            out = "true" if why is None else "false"
            if why is not None and h not in self.logged:
                self.logged.add(h)
                name = json.loads(card_json).get("name", "?")
                log.warning("agent card %r: its signature does not verify here (%s); shown "
                            "with card_verified false", name, why)
            if len(self._verdicts) >= _CACHE:
                del self._verdicts[next(iter(self._verdicts))]
            self._verdicts[h] = out
        return out

    def _why_not(self, card_json: str) -> str | None:
        try:
            card = self._parse(json.loads(card_json), self._card_type(),
                               ignore_unknown_fields=True)
            self._verify(card)
        except self._signing.SignatureVerificationError as e:
            return str(e) or type(e).__name__
        except Exception as e:  # a card the SDK's model cannot hold
            return f"{type(e).__name__}: {e}"
        return None
