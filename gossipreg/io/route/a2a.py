"""The A2A side of a send, through the official ``a2a-sdk`` client (the ``a2a`` extra).

Rules:
- The client is made from the agent's card as registered: A2A 1.0 cards as they are, 0.3 cards
  through the SDK's compatibility layer (``parse_agent_card``); the SDK takes the card's first
  interface whose binding it speaks (JSONRPC, HTTP+JSON), in card order. An agent without an
  A2A card (a kaizen card with a URL) gets a card of its one endpoint.
- A message is a plain text, an a2a-sdk ``Message``, or its JSON (A2A 1.0 field names; 0.3's
  ``kind: text`` parts and ``user``/``agent`` roles are read too); at most
  :data:`MESSAGE_MAX` bytes. Every attempt of one send carries the same ``messageId``.
- An attempt's failure is classified from the exception chain: ``unreachable`` (no
  connection: never delivered, always safe to try the next agent), ``rejected`` (4xx: not
  processed), ``server_error`` (5xx) and ``timeout`` (maybe processed), ``agent_error`` (the
  agent answered with an A2A error: final).
"""

from __future__ import annotations

import copy
import importlib
import uuid
from collections.abc import AsyncGenerator, Mapping
from typing import TYPE_CHECKING, Any

from gossipreg.core.errors import GossipregError, InvalidArgumentError
from gossipreg.core.types import AgentRecord, Endpoint

if TYPE_CHECKING:
    import httpx
    from a2a.types.a2a_pb2 import AgentCard, Message, StreamResponse

__all__ = ["MESSAGE_MAX", "A2AMissingError", "build_message", "classify", "client_card",
           "message_text", "response_json", "response_text", "sdk", "stream_agent"]

MESSAGE_MAX = 64 * 1024
UNREACHABLE, REJECTED, SERVER_ERROR, TIMEOUT, AGENT_ERROR = (
    "unreachable", "rejected", "server_error", "timeout", "agent_error")
_ROLES = {"user": "ROLE_USER", "agent": "ROLE_AGENT"}


class A2AMissingError(GossipregError):
    """The a2a-sdk is not installed (``pip install 'gossipreg[a2a]'``)."""

    code = "unavailable"


def sdk(module: str) -> Any:
    """An a2a-sdk module (or one it brings), or A2AMissingError saying how to install it."""
    try:
        return importlib.import_module(module)
    except ImportError:
        raise A2AMissingError(
            "sending needs the a2a-sdk: pip install 'gossipreg[a2a]'") from None


def _json_message(d: Mapping[str, Any]) -> Message:
    """A Message from its JSON (1.0 names; 0.3's roles and ``kind`` parts converted)."""
    pb = sdk("a2a.types.a2a_pb2")
    json_format = sdk("google.protobuf.json_format")
    data = dict(d)
    data.pop("kind", None)
    role = data.get("role")
    if isinstance(role, str) and role in _ROLES:
        data["role"] = _ROLES[role]
    parts = data.get("parts")
    if isinstance(parts, list):
        data["parts"] = [{k: v for k, v in p.items() if k != "kind"} if isinstance(p, dict)
                         else p for p in parts]
    try:
        msg: Message = json_format.ParseDict(data, pb.Message())
    except (json_format.ParseError, ValueError, TypeError) as e:
        raise InvalidArgumentError(f"message is not an A2A Message: {str(e)[:200]}") from None
    return msg


def build_message(message: object, message_id: str | None = None) -> Message:
    """The A2A Message a send carries (see the module rules); raises InvalidArgumentError for
    an empty, malformed or oversized message."""
    pb = sdk("a2a.types.a2a_pb2")
    if isinstance(message, str):
        if not message.strip():
            raise InvalidArgumentError("message must not be empty")
        if len(message.encode()) > MESSAGE_MAX:
            raise InvalidArgumentError(f"message is larger than {MESSAGE_MAX} bytes")
        msg = pb.Message(role=pb.Role.ROLE_USER, parts=[pb.Part(text=message)])
    elif isinstance(message, pb.Message):
        msg = copy.deepcopy(message)
    elif isinstance(message, Mapping):
        msg = _json_message(message)
    else:
        raise InvalidArgumentError(
            f"message must be a text, an A2A Message or its JSON, not {type(message).__name__}")
    if msg.ByteSize() > MESSAGE_MAX:
        raise InvalidArgumentError(f"message is larger than {MESSAGE_MAX} bytes")
    if not msg.parts:
        raise InvalidArgumentError("message must have at least one part")
    if msg.role == pb.Role.ROLE_UNSPECIFIED:
        msg.role = pb.Role.ROLE_USER
    if message_id is not None or not msg.message_id:
        msg.message_id = message_id or str(uuid.uuid4())
    out: Message = msg
    return out


def message_text(msg: Message) -> str:
    """The text parts of a message, joined by newlines."""
    return "\n".join(p.text for p in msg.parts if p.text)


def client_card(record: AgentRecord, endpoint: Endpoint) -> AgentCard:
    """The a2a-sdk card to build a client from (see the module rules)."""
    card = record.card
    if card is not None and ("supportedInterfaces" in card or "url" in card) and isinstance(
            card.get("capabilities"), dict):
        resolver = sdk("a2a.client.card_resolver")
        parsed: AgentCard = resolver.parse_agent_card(copy.deepcopy(card))
        return parsed
    pb = sdk("a2a.types.a2a_pb2")
    own: AgentCard = pb.AgentCard(
        name=record.name, description=record.description, version="",
        supported_interfaces=[pb.AgentInterface(
            url=endpoint.url, protocol_binding=endpoint.binding.upper(),
            protocol_version=endpoint.version or "1.0")])
    return own


async def stream_agent(http: httpx.AsyncClient, card: AgentCard, msg: Message,
                       stream: bool) -> AsyncGenerator[StreamResponse, None]:
    """The agent's answers to ``msg`` (one without streaming; events as they come with it,
    when the card says the agent streams)."""
    client_mod = sdk("a2a.client")
    pb = sdk("a2a.types.a2a_pb2")
    config = client_mod.ClientConfig(httpx_client=http, streaming=stream,
                                     supported_protocol_bindings=["JSONRPC", "HTTP+JSON"])
    try:
        client = client_mod.ClientFactory(config).create(card)
    except ValueError as e:  # no interface the client speaks: as good as unreachable
        raise ConnectionError(f"no usable interface: {e}") from None
    async for ev in client.send_message(pb.SendMessageRequest(message=msg)):
        yield ev


def classify(exc: BaseException) -> tuple[str, str]:
    """``(outcome, detail)`` of a failed attempt (see the module rules)."""
    chain: list[BaseException] = []
    x: BaseException | None = exc
    while x is not None and len(chain) < 8:
        chain.append(x)
        x = x.__cause__ or x.__context__
    names = {type(c).__name__ for c in chain}
    detail = str(chain[-1] if chain else exc)[:200] or type(exc).__name__
    if names & {"ConnectError", "ConnectTimeout", "ConnectionRefusedError",
                "ConnectionResetError", "RemoteProtocolError", "gaierror", "UnsupportedProtocol",
                "ConnectionError"}:
        return UNREACHABLE, detail
    if isinstance(exc, TimeoutError) or names & {"ReadTimeout", "WriteTimeout", "PoolTimeout",
                                                 "A2AClientTimeoutError", "TimeoutError"}:
        return TIMEOUT, "no answer before the deadline"
    for c in chain:
        status = getattr(getattr(c, "response", None), "status_code", None)
        if isinstance(status, int):
            return (SERVER_ERROR if status >= 500 else REJECTED), f"HTTP {status}"
    return AGENT_ERROR, str(exc)[:200] or type(exc).__name__


def response_json(ev: StreamResponse) -> dict[str, Any]:
    json_format = sdk("google.protobuf.json_format")
    out: dict[str, Any] = json_format.MessageToDict(ev)
    return out


def response_text(ev: StreamResponse) -> str:
    helpers = sdk("a2a.helpers.proto_helpers")
    text: str = helpers.get_stream_response_text(ev)
    return text
