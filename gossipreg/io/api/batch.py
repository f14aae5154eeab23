"""``POST /v1/agents:batch``: many agents owned by the receiving node in one call, for runtimes
that start with thousands.

Rules: at most ``BATCH_MAX_AGENTS`` agents and ``BATCH_BODY_LIMIT`` bytes of JSON per call (a
larger body is refused whole with 413, more agents with 400). Each item is checked as
``POST /v1/agents`` checks its body and registered on its own, all in one input of the node (one
clock read, one pump of events and packets): a refused item refuses nothing else. The answer is
200 with, per item in the order sent, ``status`` 201 and the agent, or the status, code and
message the single call would have answered (400, 409, 413).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Annotated, Any

from pydantic import Field, ValidationError

from gossipreg.core.directory.records import make_record
from gossipreg.core.errors import AgentExistsError, CardTooLargeError, InvalidArgumentError
from gossipreg.core.types import AgentRecord, AgentView
from gossipreg.io.api.errors import CODES
from gossipreg.io.api.models import BATCH_MAX_AGENTS, AgentIn, Says, _Body
from gossipreg.io.api.params import explain
from gossipreg.io.checks import Check, CheckRunner, heartbeat_contract, parse_check

if TYPE_CHECKING:
    from gossipreg.io.runner import NodeRunner

__all__ = ["AgentsBatchIn", "register_batch"]


class AgentsBatchIn(_Body):
    """``POST /v1/agents:batch``: at most 1,000 agents and 1 MiB of JSON per call, each as
    ``POST /v1/agents`` takes it (an ``AgentIn``). Each is checked and registered on its own:
    a refused item does not refuse the others."""

    agents: Annotated[
        list[dict[str, Any]],
        Field(min_length=1, max_length=BATCH_MAX_AGENTS,
              description="agents, each an AgentIn object"),
        Says(f"agents must be a list of 1 to {BATCH_MAX_AGENTS} agent objects")]


def _refused(status: int, message: str, agent_id: object, code: str | None = None
             ) -> dict[str, Any]:
    return {"status": status, "agent_id": agent_id if isinstance(agent_id, str) else None,
            "code": code or CODES[status], "error": message}


def register_batch(node: NodeRunner, checks: CheckRunner, body: AgentsBatchIn,
                   view_json: Callable[[AgentView], dict[str, Any]]) -> dict[str, Any]:
    """The answer to a batch (see the module rules); ``view_json`` renders an agent."""
    results: list[dict[str, Any] | None] = [None] * len(body.agents)
    records: list[AgentRecord] = []
    taken: list[tuple[int, Check | None]] = []
    for i, raw in enumerate(body.agents):
        try:
            item = AgentIn.model_validate(raw)
            check = (parse_check(item.check.model_dump(exclude_none=True))
                     if item.check is not None else None)
            records.append(make_record(
                item.agent_id, item.name, item.runtime_id or node.name, item.capabilities,
                description=item.description, tags=item.tags or [], card=item.card))
        except ValidationError as e:
            results[i] = _refused(400, explain(e, AgentIn), raw.get("agent_id"))
            continue
        except CardTooLargeError as e:
            results[i] = _refused(413, str(e), raw.get("agent_id"))
            continue
        except (InvalidArgumentError, ValueError) as e:
            results[i] = _refused(400, str(e), raw.get("agent_id"))
            continue
        taken.append((i, check))
    registered = 0
    for k, got in enumerate(node.register_many(records)):
        i, check = taken[k]
        if isinstance(got, Exception):
            code = "already_exists" if isinstance(got, AgentExistsError) else "refused"
            results[i] = _refused(409, str(got), records[k].agent_id, code)
            continue
        if check is not None:
            checks.add(got.agent_id, check)
        registered += 1
        results[i] = {"status": 201, "agent_id": got.agent_id,
                      "agent": {**view_json(got), "heartbeat": heartbeat_contract(node, check)}}
    return {"registered": registered, "refused": len(results) - registered, "results": results}
