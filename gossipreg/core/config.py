"""Node configuration: one pydantic model, every field with its unit and default.

Rules: every knob is checked by the model itself (a bad value raises ``ConfigError`` naming
it), whichever source it came from; presets only change defaults.

Presets: :meth:`NodeConfig.lan` (the defaults; the same timing as Serf/memberlist's LAN profile),
:meth:`NodeConfig.local` (fast timers for loopback meshes and tests) and :meth:`NodeConfig.wan`.

Knobs that correspond to Serf's LAN profile: ``probe_interval`` (ProbeInterval, 1 s),
``probe_timeout`` (ProbeTimeout, 500 ms), ``suspicion_mult`` (SuspicionMult, 4),
``suspicion_max_timeout_mult`` (SuspicionMaxTimeoutMult, 6), ``gossip_interval``
(GossipInterval, 200 ms), ``gossip_fanout`` (GossipNodes, 3), ``retransmit_mult``
(RetransmitMult, 4), ``push_pull_interval`` (PushPullInterval, 30 s), ``indirect_checks``
(IndirectChecks, 3), ``awareness_max_multiplier`` (AwarenessMaxMultiplier, 8).
"""

from __future__ import annotations

from typing import Any, Self

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from gossipreg.core.errors import ConfigError
from gossipreg.core.plain import plain_model

__all__ = ["NodeConfig", "describe_errors"]

_EMBEDDER_WORDS = frozenset({"auto", "off", "none", "", "local", "wordllama"})


def describe_errors(e: ValidationError) -> str:
    """One line per problem, ``knob: what is wrong (got value)``: the message every source of
    settings (Python, flags, environment, file) reports."""
    parts = []
    for err in e.errors():
        loc = ".".join(str(x) for x in err["loc"])
        msg = str(err["msg"]).removeprefix("Value error, ")
        if loc:
            parts.append(f"{loc}: {msg} (got {err.get('input')!r})")
        else:
            parts.append(msg)
    return "; ".join(parts)


class NodeConfig(BaseModel):
    """Protocol settings of one node. Times are seconds, sizes bytes."""

    # Built at the first input only pydantic decides (see __init__), not at import.
    model_config = ConfigDict(frozen=True, extra="forbid", defer_build=True)

    def __init__(self, **data: Any) -> None:
        """Validate ``data``; raises :class:`ConfigError` (a ``ValueError``) naming each bad
        knob."""
        # Plain inputs (numbers, words, within bounds) are checked without building pydantic's
        # validator, as pydantic would check them: an idle node never builds it (~1.6 MB).
        # Everything else, every error included, goes through pydantic and its messages.
        made = plain_model(type(self), data)
        if made is not None:
            self.__setstate__(made.__getstate__())
            return
        try:
            super().__init__(**data)
        except ValidationError as e:
            raise ConfigError(describe_errors(e)) from None

    cluster: str = Field("gossipreg", min_length=1, max_length=255,
                         description="Cluster name carried by every packet; others are dropped.")
    probe_interval: float = Field(1.0, gt=0, description="s between failure-detector probes.")
    probe_timeout: float = Field(0.5, gt=0,
                                 description="s to wait for a direct ack before ping-req.")
    indirect_checks: int = Field(3, ge=0, description="Peers asked to ping-req a silent target.")
    suspicion_mult: float = Field(
        4.0, gt=0,
        description="Minimum suspicion timeout = suspicion_mult * max(1, log10(n)) * "
                    "probe_interval (s).")
    suspicion_max_timeout_mult: float = Field(
        6.0, ge=1, description="Maximum suspicion timeout = this * the minimum (Lifeguard).")
    awareness_max_multiplier: int = Field(
        8, ge=1, description="Local health stretches probe timers by up to this factor.")
    gossip_interval: float = Field(0.2, gt=0, description="s between gossip ticks.")
    gossip_fanout: int = Field(3, ge=1, description="Random peers sent to on each gossip tick.")
    gossip_to_dead_time: float = Field(
        30.0, ge=0, description="s a dead node still receives gossip (so it can refute).")
    retransmit_mult: int = Field(
        4, ge=1, description="Each broadcast is sent retransmit_mult * ceil(log10(n+1)) times.")
    push_pull_interval: float = Field(
        30.0, gt=0,
        description="s between anti-entropy exchanges, stretched by "
                    "ceil(log2(n) - 5) + 1 above 32 nodes.")
    beacon_delay: float = Field(
        1.0, gt=0,
        description="s an owner stays quiet after a write before it gossips its latest version "
                    "(a node that missed its last write then repairs the hole at once).")
    beacon_min_miss: float = Field(
        2e-4, ge=0, le=1,
        description="beacons are sent only while the chance that some member missed a "
                    "broadcast (from the cluster size, the retransmit limit and the loss the "
                    "node's probes see) is at least this; 0 = always. (2e-4: off in a lossless "
                    "1,000-node cluster, on there at 5% loss.)")
    gap_repair_delay: float = Field(
        2.0, gt=0,
        description="s a hole in an owner's versions may last before we ask for it directly "
                    "(the fast path lost a write; do not wait for the next push-pull).")
    reconnect_interval: float = Field(
        10.0, gt=0, description="s between attempts to reach one dead member (heals partitions).")
    join_retry_interval: float = Field(1.0, gt=0, description="s between join attempts.")
    dead_retention: float = Field(
        6 * 3600.0, gt=0,
        description="s a DEAD member is remembered (and re-probed) before it is forgotten.")
    left_retention: float = Field(
        3600.0, gt=0,
        description="s a LEFT member is remembered, so stale gossip cannot revive it.")
    tombstone_ttl: float = Field(3600.0, gt=0, description="s before a deletion is collected.")
    max_tombstones: int = Field(
        5_000, ge=0,
        description="deletions held at most (about 1 KB each): beyond it the oldest are "
                    "collected before tombstone_ttl, so memory stays bounded under any churn.")
    heartbeat_timeout: float | None = Field(
        60.0, gt=0,
        description="s without a heartbeat before the owner marks an agent UNHEALTHY; None = off.")
    auto_deregister_timeout: float = Field(
        300.0, gt=0,
        description="s without heartbeat (owner side) or with the owner DEAD before an agent is "
                    "deregistered.")
    load_interval: float = Field(
        1.0, gt=0,
        description="s between two load writes (load/<id>) of one agent at most; a load "
                    "that changed by less than a step does not count (see core.route.load).")
    request_timeout: float = Field(
        5.0, gt=0, description="s to wait for an owner's answer to a forwarded request.")
    gossip_budget: int = Field(
        16_384, ge=512, description="Bytes of broadcasts per gossip or probe packet.")
    max_queued_writes: int = Field(
        4096, ge=0,
        description="Directory writes waiting to be gossiped at most (0: no bound); beyond "
                    "it the write sent most often is dropped from the queue (anti-entropy "
                    "still carries it). Serf's MaxQueueDepth.")
    max_datagram_size: int = Field(
        1_400, ge=512, le=65_000,
        description="Largest frame sent as a UDP datagram (to a peer whose transport takes "
                    "them; larger frames go over a stream); what a probe piggybacks on such "
                    "a path is cut to fit it.")
    push_pull_budget: int = Field(
        262_144, ge=4096, description="Bytes of deltas in one anti-entropy message.")
    max_packet_size: int = Field(
        1_048_576, ge=65_536, description="Largest packet accepted or sent.")
    event_ring_size: int = Field(
        10_000, ge=0,
        description="Recent events a running node keeps to replay to a stream that resumes "
                    "(Last-Event-ID, subscribe(since=)); older positions get a reset.")
    require_signatures: bool | None = Field(
        None,
        description="refuse unsigned writes and member statements from anyone (a node needs "
                    "an identity to sign). None = automatic: required by a node that starts a "
                    "new cluster (it has nothing to join), and by one whose join a node "
                    "requiring them answered; not required in a mesh with earlier releases. "
                    "Upgrading a mesh: set it true on every node once all run this release.")
    hlc_max_drift: float = Field(
        60.0, gt=0,
        description="s a remote clock may run ahead before its stamps are not followed.")
    embedder: str | None = Field(
        "auto", max_length=1024,
        description="Vectors fused into search: auto (local when the semantic extra is "
                    "installed, else off), local (the model shipped with it), "
                    "ollama:MODEL@URL, openai:MODEL@URL (options after commas: dims=N, "
                    "timeout=S), or off (None) for lexical search only.")

    @field_validator("embedder")
    @classmethod
    def _embedder_spec(cls, v: str | None) -> str | None:
        """The form of an embedder spec (the I/O layer, which knows the embedders, checks the
        rest when the node starts)."""
        if v is None:
            return None
        head = v.split(",")[0].strip().lower()
        if head in _EMBEDDER_WORDS or (head.startswith(("ollama:", "openai:")) and head[7:]):
            return v.strip()
        raise ValueError("expected auto, off, local, ollama:MODEL[@URL] or openai:MODEL[@URL] "
                         "(options after a comma, e.g. local,dims=128)")

    data_dir: str | None = Field(
        None, min_length=1,
        description="Directory where the node keeps what survives a restart (the agents it "
                    "owns and their checks); None = nothing is written.")

    @field_validator("heartbeat_timeout", mode="before")
    @classmethod
    def _off(cls, value: Any) -> Any:
        """``"off"`` (or ``"none"``, or empty), as TOML and the CLI spell it, is None."""
        if isinstance(value, str) and value.strip().lower() in ("off", "none", ""):
            return None
        return value

    @field_validator("require_signatures", mode="before")
    @classmethod
    def _auto(cls, value: Any) -> Any:
        """``"auto"`` (or ``"none"``, or empty) is None: decided as the field says."""
        if isinstance(value, str) and value.strip().lower() in ("auto", "none", ""):
            return None
        return value

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        if self.probe_timeout >= self.probe_interval:
            raise ValueError("probe_timeout must be shorter than probe_interval")
        if self.push_pull_budget > self.max_packet_size // 2:
            raise ValueError("push_pull_budget must be at most half of max_packet_size")
        if (self.heartbeat_timeout is not None
                and self.heartbeat_timeout > self.auto_deregister_timeout):
            raise ValueError("heartbeat_timeout must not exceed auto_deregister_timeout")
        return self

    @classmethod
    def lan(cls, **overrides: Any) -> NodeConfig:
        """Memberlist/Serf LAN timing: 1 s probes, 200 ms gossip, fanout 3."""
        return cls(**overrides)

    @classmethod
    def local(cls, **overrides: Any) -> NodeConfig:
        """Fast timers for loopback meshes, examples and tests (5x the LAN pace)."""
        base: dict[str, Any] = dict(
            probe_interval=0.2, probe_timeout=0.1, gossip_interval=0.05,
            push_pull_interval=5.0, reconnect_interval=2.0, join_retry_interval=0.2,
            gap_repair_delay=0.5, beacon_delay=0.25,
            gossip_to_dead_time=6.0, request_timeout=2.0, load_interval=0.2,
        )
        base.update(overrides)
        return cls(**base)

    @classmethod
    def wan(cls, **overrides: Any) -> NodeConfig:
        """Wide-area timing: slower probes, larger suspicion, fewer exchanges."""
        base: dict[str, Any] = dict(
            probe_interval=5.0, probe_timeout=3.0, suspicion_mult=6.0, gossip_interval=0.5,
            gossip_fanout=4, push_pull_interval=60.0, reconnect_interval=30.0,
            join_retry_interval=5.0, gossip_to_dead_time=60.0, request_timeout=15.0,
            beacon_delay=5.0,
        )
        base.update(overrides)
        return cls(**base)
