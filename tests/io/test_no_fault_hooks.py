"""The product has no fault-injection surface: faults are the kernel's (sim/mesh/netns.py) or
a test helper's. These lists are the whole surface on purpose: a new route, node option or
transport attribute must be added here knowingly, and none may cut, drop or delay traffic."""

from __future__ import annotations

import argparse
import re

from gossipreg.cli.app import _parser
from gossipreg.core.config import NodeConfig
from gossipreg.io.gossip_node import GossipNode
from gossipreg.io.net.links_transport import LinkTransport
from gossipreg.io.net.transport import HttpTransport, MemoryNetwork, Transport

ROUTES = {
    ("POST", "/v1/gossip"), ("GET", "/v1/gossip/ws"),
    ("GET", "/v1/agents"), ("POST", "/v1/agents"), ("POST", "/v1/agents:batch"),
    ("GET", "/v1/agents/{agent_id}"),
    ("DELETE", "/v1/agents/{agent_id}"), ("PUT", "/v1/agents/{agent_id}/status"),
    ("POST", "/v1/agents/{agent_id}/heartbeat"), ("GET", "/v1/members"),
    ("GET", "/v1/health"), ("GET", "/v1/health/ready"), ("GET", "/v1/openapi.json"),
    ("GET", "/v1/events"), ("POST", "/v1/events/ticket"),
    ("GET", "/metrics"), ("GET", "/v1/agents/{agent_id}/card"),
    ("GET", "/.well-known/ard.json"), ("GET", "/.well-known/ai-catalog.json"),
    ("POST", "/ard/v1/search"), ("GET", "/ard/v1/agents"),
    ("GET", "/ard/v1/agents/{identifier}"), ("POST", "/ard/v1/explore"),
    # the node's page: static files and the redirect to it (gossipreg/io/api/ui.py)
    ("GET", "/"), ("GET", "/ui"), ("GET", "/ui/ui.css"), ("GET", "/ui/ui.js"),
    ("GET", "/ui/icon.svg"),
    # select and send (issue 25): choose an agent, deliver a message over A2A, publish load
    ("POST", "/v1/select"), ("POST", "/v1/send"), ("PUT", "/v1/agents/{agent_id}/load"),
}
NODE_OPTIONS = {"-h", "--help", "--name", "--bind", "--advertise", "--join", "--cluster",
                "--key-file", "--token", "--token-file", "--profile", "--log-level", "--config",
                "--join-timeout", "--tls-cert", "--tls-key", "--tls-ca", "--metrics-open",
                "--identity-file", "--publisher-keys", "--paths",
                # every protocol knob of NodeConfig has its flag (checked against the model)
                *(f"--{k.replace('_', '-')}" for k in NodeConfig.model_fields
                  if k != "cluster")}
FAULTY = re.compile(r"block|partition|control|fault|drop_|loss|delay|cut|isolat", re.I)


def test_the_http_router_has_exactly_the_product_routes() -> None:
    node = GossipNode("surface", token="t")
    assert isinstance(node.transport, HttpTransport)
    got = {(r.method, r.resource.canonical) for r in node.transport.app.router.routes()
           if r.method != "HEAD" and r.resource is not None}
    assert got == ROUTES
    assert not any("control" in path for _, path in got)


def test_the_node_command_has_no_hidden_options() -> None:
    sub = next(a for a in _parser()._actions if isinstance(a, argparse._SubParsersAction))
    node = sub.choices["node"]
    opts = {o for a in node._actions for o in a.option_strings}
    assert opts == NODE_OPTIONS
    assert not any(a.help == argparse.SUPPRESS for a in node._actions)
    assert "--control-token" not in opts


def test_transports_have_no_fault_attributes() -> None:
    mem = MemoryNetwork().transport("a")
    http = HttpTransport("127.0.0.1:0")
    for t in (mem, http, LinkTransport("127.0.0.1:0")):
        names = set(vars(t)) | {n for n in dir(type(t)) if not n.startswith("__")}
        assert "blocked" not in names
        faulty = sorted(n for n in names if FAULTY.search(n)
                        and n != "dropped_backpressure")  # a counter: sends it refused
        assert faulty == [], f"{type(t).__name__} has fault hooks: {faulty}"
    assert "blocked" not in Transport.__annotations__
