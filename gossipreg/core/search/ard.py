"""ARD (Agentic Resource Discovery, ards-project/ard-spec v0.9) documents from a node's view.

Rules:
- Identifier: ``urn:air:<publisher>:<namespace>:<name>`` (a string of another form is no
  identifier at all: a caller's error, not an unknown agent). ``<publisher>`` is the host of the
  card's ``provider.url`` when that is a domain name, else ``agent.localhost`` (the spec's
  placeholder for local catalogs). An agent id made only of ``[A-Za-z0-9._-]`` is the name as it
  is, under namespace ``agent``; any other id goes under namespace ``agent-x``, each character
  outside ``[A-Za-z0-9.-]`` (``_`` included) written as ``_`` + two lower-case hex digits per
  UTF-8 byte. The namespace says which, so the encoding is reversible; the publisher is not
  needed to find the agent back (it is checked against the record).
- Entries: ``type`` ``application/a2a-agent-card+json``, ``url`` the node's card route,
  ``representativeQueries`` the first 2–5 of the skills' examples, then skill descriptions
  (left out when fewer than two exist), ``updatedAt`` the registration time (a record changes
  only by being registered again), ``metadata`` the runtime, status, owner node and agent id,
  and the agent's own ``endpoints`` (``url`` stays the card's, as ARD defines it).
- Filters (ARD's query model): keys are dot paths, values a string or a list of strings; OR
  within a key, AND across keys; case-insensitive equality; a path whose value is a list matches
  when any element does. Keys: :data:`FILTER_KEYS`; any other key is an InvalidArgumentError.
  Without a ``status`` key only ACTIVE agents match (kaizen's default).
- Pure: the I/O layer passes the base URLs in; nothing here reads a clock or a socket.
"""

from __future__ import annotations

import base64
import re
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from typing import Any
from urllib.parse import quote, urlsplit

from gossipreg.core.errors import InvalidArgumentError
from gossipreg.core.types import AgentRecord, AgentView

__all__ = [
    "A2A_TYPE",
    "DEFAULT_PUBLISHER",
    "FILTER_KEYS",
    "REGISTRY_TYPE",
    "compile_filter",
    "decode_page_token",
    "encode_page_token",
    "entry",
    "facets",
    "field_values",
    "is_identifier",
    "iso_utc",
    "manifest",
    "parse_urn",
    "publisher_of",
    "urn_of",
]

A2A_TYPE = "application/a2a-agent-card+json"
REGISTRY_TYPE = "application/ai-registry+json"
DEFAULT_PUBLISHER = "agent.localhost"
_PLAIN = re.compile(r"[A-Za-z0-9._-]+")
_KEEP = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-")
_LABEL = r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?"
_DOMAIN = re.compile(rf"(?:{_LABEL}\.)+[a-z](?:[a-z0-9-]{{0,61}}[a-z0-9])?")
_URN = re.compile(r"urn:air:([a-z0-9.-]+):(agent|agent-x):([A-Za-z0-9._-]+)")
_HEX = re.compile(r"_([0-9a-f]{2})")


# ------------------------------------------------------------------ identifiers
def _encode_name(agent_id: str) -> tuple[str, str]:
    if _PLAIN.fullmatch(agent_id):
        return "agent", agent_id
    out = []
    for ch in agent_id:
        if ch in _KEEP:
            out.append(ch)
        else:
            out.extend(f"_{b:02x}" for b in ch.encode())
    return "agent-x", "".join(out)


def _decode_name(namespace: str, name: str) -> str | None:
    if namespace == "agent":
        return name
    if "_" in _HEX.sub("", name):
        return None  # a "_" that does not start an escape is not ours
    try:
        out = bytes(_unhex(name)).decode()
    except UnicodeDecodeError:
        return None
    return out if _encode_name(out) == ("agent-x", name) else None  # canonical forms only


def _unhex(name: str) -> Iterable[int]:
    i = 0
    while i < len(name):
        if name[i] == "_":
            yield int(name[i + 1:i + 3], 16)
            i += 3
        else:
            yield ord(name[i])
            i += 1


def publisher_of(r: AgentRecord) -> str:
    """The URN publisher: the provider URL's host when it is a domain name."""
    if r.provider is not None and r.provider.url:
        try:
            host = (urlsplit(r.provider.url).hostname or "").lower()
        except ValueError:
            host = ""
        if _DOMAIN.fullmatch(host) and len(host) <= 253:
            return host
    return DEFAULT_PUBLISHER


def urn_of(r: AgentRecord) -> str:
    """The agent's stable ARD identifier (the same on every node)."""
    namespace, name = _encode_name(r.agent_id)
    return f"urn:air:{publisher_of(r)}:{namespace}:{name}"


_ARD_ID = re.compile(r"urn:air:[a-z0-9][a-z0-9.-]*:[a-z0-9][a-z0-9-]*:[A-Za-z0-9._~%-]+")


def is_identifier(identifier: str) -> bool:
    """Whether ``identifier`` has the form of an ARD identifier,
    ``urn:air:<publisher>:<namespace>:<name>`` (whoever issued it)."""
    return _ARD_ID.fullmatch(identifier) is not None


def parse_urn(identifier: str) -> str | None:
    """The agent id an identifier names, or None when it is not one of ours."""
    m = _URN.fullmatch(identifier)
    if m is None:
        return None
    return _decode_name(m.group(2), m.group(3))


# ---------------------------------------------------------------------- entries
def iso_utc(ts: float) -> str:
    """``YYYY-MM-DDTHH:MM:SSZ`` of Unix seconds, computed (the core reads no clock and imports
    no datetime): days to civil date as in Hinnant's ``civil_from_days``."""
    secs = int(ts)
    days, rem = divmod(secs, 86400)
    z = days + 719468
    era = z // 146097
    doe = z - era * 146097
    yoe = (doe - doe // 1460 + doe // 36524 - doe // 146096) // 365
    doy = doe - (365 * yoe + yoe // 4 - yoe // 100)
    mp = (5 * doy + 2) // 153
    d = doy - (153 * mp + 2) // 5 + 1
    m = mp + 3 if mp < 10 else mp - 9
    y = yoe + era * 400 + (m <= 2)
    return f"{y:04d}-{m:02d}-{d:02d}T{rem // 3600:02d}:{rem % 3600 // 60:02d}:{rem % 60:02d}Z"


def _queries(r: AgentRecord) -> list[str]:
    qs = list(dict.fromkeys(
        [e for s in r.skills for e in s.examples if e]
        + [s.description for s in r.skills if s.description]))
    return qs[:5] if len(qs) >= 2 else []


def entry(v: AgentView, card_base: str) -> dict[str, Any]:
    """The catalog entry of an agent; ``card_base`` is the absolute URL prefix of the node's
    card route (``http://host:port/v1/agents/``)."""
    r = v.record
    e: dict[str, Any] = {
        "identifier": urn_of(r), "displayName": r.name, "type": A2A_TYPE,
        "url": f"{card_base}{quote(r.agent_id, safe='')}/card",
    }
    if r.description:
        e["description"] = r.description
    if r.tags:
        e["tags"] = list(r.tags)
    if r.capabilities:
        e["capabilities"] = list(r.capabilities)
    qs = _queries(r)
    if qs:
        e["representativeQueries"] = qs
    if r.version:
        e["version"] = r.version
    e["updatedAt"] = iso_utc(r.registered_at)
    e["metadata"] = {"agentId": r.agent_id, "runtime": r.runtime_id,
                     "status": v.status._value_, "node": v.node_id}
    if r.endpoints:
        e["metadata"]["endpoints"] = [{"url": x.url, "protocolBinding": x.binding,
                                       "protocolVersion": x.version} for x in r.endpoints]
    return e


def manifest(entries: list[dict[str, Any]], host_name: str,
             registry_url: str) -> dict[str, Any]:
    """The ``/.well-known/ard.json`` document: this node's agents, then the registry API."""
    registry = {
        "identifier": f"urn:air:{DEFAULT_PUBLISHER}:registry:{_encode_name(host_name)[1]}",
        "displayName": f"gossipreg registry on {host_name}", "type": REGISTRY_TYPE,
        "url": registry_url,
        "description": "ARD registry API of this gossipreg node (POST /search, GET /agents, "
                       "GET /agents/{identifier}, POST /explore), answered from its replica.",
    }
    return {"specVersion": "1.0", "host": {"displayName": f"gossipreg node {host_name}"},
            "entries": [*entries, registry]}


# ---------------------------------------------------------------------- filters
def _skill_field(attr: str) -> Callable[[AgentView], tuple[str, ...]]:
    def get(v: AgentView) -> tuple[str, ...]:
        out: list[str] = []
        for s in v.record.skills:
            x = getattr(s, attr)
            out.extend(x if isinstance(x, tuple) else (x,))
        return tuple(out)
    return get


_FIELDS: dict[str, Callable[[AgentView], tuple[str, ...]]] = {
    "identifier": lambda v: (urn_of(v.record),),
    "displayName": lambda v: (v.record.name,),
    "type": lambda v: (A2A_TYPE,),
    "description": lambda v: (v.record.description,),
    "tags": lambda v: v.record.tags,
    "capabilities": lambda v: v.record.capabilities,
    "version": lambda v: (v.record.version,),
    "publisher": lambda v: (publisher_of(v.record),),
    "status": lambda v: (v.status._value_,),
    "runtime": lambda v: (v.record.runtime_id,),
    "node": lambda v: (v.node_id,),
    "metadata.agentId": lambda v: (v.record.agent_id,),
    "skills.id": _skill_field("id"),
    "skills.name": _skill_field("name"),
    "skills.tags": _skill_field("tags"),
    "endpoints.protocolBinding": lambda v: tuple(e.binding for e in v.record.endpoints),
    "endpoints.url": lambda v: tuple(e.url for e in v.record.endpoints),
    "provider.organization": lambda v: (v.record.provider.organization,)
    if v.record.provider else (),
}
_FIELDS["metadata.runtime"] = _FIELDS["runtime"]
_FIELDS["metadata.status"] = _FIELDS["status"]
_FIELDS["metadata.node"] = _FIELDS["node"]
FILTER_KEYS = tuple(sorted(_FIELDS))
_STATUS_KEYS = ("status", "metadata.status")


def _getter(path: object, what: str) -> Callable[[AgentView], tuple[str, ...]]:
    get = _FIELDS.get(path) if isinstance(path, str) else None
    if get is None:
        raise InvalidArgumentError(
            f"unsupported {what} field path {path!r}; supported: {', '.join(FILTER_KEYS)}")
    return get


def field_values(v: AgentView, path: str) -> tuple[str, ...]:
    """The values at a field path of an agent's entry (raises on an unsupported path)."""
    return _getter(path, "field")(v)


def compile_filter(spec: object) -> Callable[[AgentView], bool]:
    """A predicate for an ARD ``filter`` object (see the module rules); None = no filter
    beyond the default ``status: active``."""
    if spec is None:
        spec = {}
    if not isinstance(spec, Mapping):
        raise InvalidArgumentError("filter must be an object of field path -> values")
    clauses: list[tuple[Callable[[AgentView], tuple[str, ...]], frozenset[str]]] = []
    for key, raw in spec.items():
        get = _getter(key, "filter")
        vals = [raw] if isinstance(raw, str) else raw
        if not isinstance(vals, list) or not vals or not all(isinstance(x, str) for x in vals):
            raise InvalidArgumentError(
                f"filter {key!r} must be a string or a non-empty list of strings")
        clauses.append((get, frozenset(x.casefold() for x in vals)))
    if not any(k in spec for k in _STATUS_KEYS):
        clauses.append((_FIELDS["status"], frozenset(("active",))))

    def accept(v: AgentView) -> bool:
        return all(any(x.casefold() in wanted for x in get(v)) for get, wanted in clauses)
    return accept


# ----------------------------------------------------------------------- facets
def facets(views: Iterable[AgentView], requests: object) -> dict[str, Any]:
    """ARD Explore facets (``resultType.facets``) over the matched agents."""
    if not isinstance(requests, list) or not requests:
        raise InvalidArgumentError("resultType.facets must be a non-empty list")
    specs = []
    for i, f in enumerate(requests):
        if not isinstance(f, dict) or set(f) - {"field", "limit", "minCount"}:
            raise InvalidArgumentError(
                f"resultType.facets[{i}] must be an object with field, limit, minCount")
        limit, min_count = f.get("limit", 20), f.get("minCount", 1)
        if type(limit) is not int or not 0 < limit <= 1000:
            raise InvalidArgumentError(f"resultType.facets[{i}].limit must be in 1..1000")
        if type(min_count) is not int or min_count < 0:
            raise InvalidArgumentError(f"resultType.facets[{i}].minCount must be >= 0")
        field = f.get("field")
        specs.append((str(field), _getter(field, "facet"), limit, min_count))
    counters: list[Counter[str]] = [Counter() for _ in specs]
    for v in views:
        for (_, get, _, _), c in zip(specs, counters, strict=True):
            c.update(set(get(v)))
    out: dict[str, Any] = {}
    for (field, _, limit, min_count), c in zip(specs, counters, strict=True):
        ranked = sorted((kv for kv in c.items() if kv[1] >= min_count),
                        key=lambda kv: (-kv[1], kv[0]))
        res: dict[str, Any] = {"buckets": [{"value": k, "count": n} for k, n in ranked[:limit]]}
        if len(ranked) > limit:
            res["otherCount"] = sum(n for _, n in ranked[limit:])
        out[field] = res
    return out


# -------------------------------------------------------------------- paging
def encode_page_token(offset: int) -> str:
    return base64.urlsafe_b64encode(f"o:{offset}".encode()).decode().rstrip("=")


def decode_page_token(token: object) -> int:
    """The offset a page token stands for; raises InvalidArgumentError for a bad token."""
    if token is None:
        return 0
    if isinstance(token, str) and len(token) <= 64:
        try:
            text = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode()
        except (ValueError, UnicodeDecodeError):
            text = ""
        if text.startswith("o:") and text[2:].isdigit():
            return int(text[2:])
    raise InvalidArgumentError("pageToken is not a token this registry gave out")
