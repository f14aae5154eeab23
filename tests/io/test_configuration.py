"""One configuration model: every knob from a file, the environment or a flag
(file < env < flag), with NodeConfig's own messages; the token and key file from a file or the
environment."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from gossipreg import ConfigError, NodeConfig
from gossipreg.cli.app import _parser, main
from gossipreg.io.settings import KNOBS, env_name, resolve_settings


def flags_of(*argv: str) -> dict[str, Any]:
    args = _parser().parse_args(["node", *argv])
    return {k: v for k, v in vars(args).items() if k not in ("command", "config")}


def other_value(knob: str) -> Any:
    """A valid value for ``knob`` other than its lan default."""
    default = getattr(NodeConfig.lan(), knob)
    if knob == "embedder":  # a spec: its own grammar
        return "off"
    if knob == "require_signatures":  # automatic unless set
        return True
    if default is None:  # data_dir: a path (absolute, so a file's folder does not move it)
        return "/srv/gossipreg-data"
    if isinstance(default, str):
        return "other"
    if isinstance(default, bool) or not isinstance(default, int | float):
        raise AssertionError(knob)
    return default * 2 if isinstance(default, int) else default * 1.5


@pytest.mark.parametrize("knob", KNOBS)
def test_every_knob_from_every_source(knob: str, tmp_path: Path) -> None:
    want = other_value(knob)
    assert getattr(NodeConfig.lan(), knob) != want
    toml = tmp_path / "node.toml"
    value = str(want).lower() if isinstance(want, bool) else repr(want).replace("'", '"')
    toml.write_text(f'name = "a"\n{knob} = {value}\n')
    by_file = resolve_settings({}, environ={}, config_file=str(toml))
    by_env = resolve_settings({}, environ={env_name("name"): "a", env_name(knob): str(want)})
    by_flag = resolve_settings(flags_of("--name", "a", "--" + knob.replace("_", "-"),
                                        str(want)), environ={})
    for s in (by_file, by_env, by_flag):
        assert getattr(s.config, knob) == want


def test_precedence_is_file_then_environment_then_flags(tmp_path: Path) -> None:
    toml = tmp_path / "node.toml"
    toml.write_text('name = "from-file"\nprofile = "local"\nheartbeat_timeout = 100\n'
                    'gossip_fanout = 5\njoin = ["10.0.0.1:7946"]\n')
    env = {env_name("name"): "from-env", env_name("heartbeat_timeout"): "120",
           env_name("join"): "10.0.0.2:7946,10.0.0.3:7946"}
    s = resolve_settings(flags_of("--heartbeat-timeout", "150"), environ=env,
                         config_file=str(toml))
    assert s.config.heartbeat_timeout == 150  # flag beats env beats file
    assert s.name == "from-env"  # env beats file
    assert s.config.gossip_fanout == 5  # file beats the profile
    assert s.config.probe_interval == NodeConfig.local().probe_interval  # the file's profile
    assert s.join == ["10.0.0.2:7946", "10.0.0.3:7946"]
    off = resolve_settings(flags_of("--name", "a", "--heartbeat-timeout", "off"), environ={})
    assert off.config.heartbeat_timeout is None


def test_every_source_reports_nodeconfigs_own_message(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as py:
        NodeConfig(probe_interval=-1)
    message = str(py.value)
    assert message == "probe_interval: Input should be greater than 0 (got -1)"
    toml = tmp_path / "node.toml"
    toml.write_text('name = "a"\nprobe_interval = -1\n')
    for source, run in (
            ("config file", lambda: resolve_settings({}, environ={}, config_file=str(toml))),
            ("GOSSIPREG_PROBE_INTERVAL", lambda: resolve_settings(
                {}, environ={"GOSSIPREG_NAME": "a", "GOSSIPREG_PROBE_INTERVAL": "-1"})),
            ("command line", lambda: resolve_settings(
                flags_of("--name", "a", "--probe-interval", "-1"), environ={}))):
        with pytest.raises(ConfigError) as err:
            run()
        assert str(err.value).startswith(message.replace("-1)", "")) and source in str(err.value)
    with pytest.raises(ConfigError, match="probe_timeout must be shorter than probe_interval"):
        resolve_settings({}, environ={"GOSSIPREG_NAME": "a", "GOSSIPREG_PROBE_TIMEOUT": "5"})
    toml.write_text('name = "a"\nprobe_intervall = 1\n')
    with pytest.raises(ConfigError, match=r"unknown settings \['probe_intervall'\]"):
        resolve_settings({}, environ={}, config_file=str(toml))


def test_token_and_key_file_from_a_file_or_the_environment(tmp_path: Path) -> None:
    (tmp_path / "token").write_text("s3cret\n")
    s = resolve_settings(flags_of("--name", "a", "--token-file", str(tmp_path / "token")),
                         environ={})
    assert s.token == "s3cret"
    s = resolve_settings({}, environ={"GOSSIPREG_NAME": "a", "GOSSIPREG_TOKEN": "t2",
                                      "GOSSIPREG_KEY_FILE": "/etc/keys"})
    assert s.token == "t2" and s.key_file == "/etc/keys"
    with pytest.raises(ConfigError, match="cannot read token file"):
        resolve_settings(flags_of("--name", "a", "--token-file", str(tmp_path / "nope")),
                         environ={})


def test_the_cli_names_a_bad_setting_and_its_source(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("GOSSIPREG_GOSSIP_FANOUT", "many")
    assert main(["node", "--name", "a"]) == 2
    err = capsys.readouterr().err
    assert "gossip_fanout: Input should be a valid integer" in err
    assert "(from GOSSIPREG_GOSSIP_FANOUT)" in err
    monkeypatch.delenv("GOSSIPREG_GOSSIP_FANOUT")
    assert main(["node"]) == 2
    assert "a node name is required" in capsys.readouterr().err


def test_every_node_flag_has_help_and_shows_its_default() -> None:
    node = next(a for a in _parser()._subparsers._group_actions[0].choices.items()  # type: ignore[union-attr]
                if a[0] == "node")[1]
    for action in node._actions:
        if action.dest in ("help", "control_token"):
            continue
        assert action.help, action.dest
    text = " ".join(node.format_help().split())
    assert "(default: 127.0.0.1:7946); env GOSSIPREG_BIND" in text
    assert "(default: 1.0); env GOSSIPREG_PROBE_INTERVAL" in text


def test_paths_take_all_links_or_http_from_any_source() -> None:
    assert resolve_settings(flags_of("--name", "a"), environ={}).paths == "all"
    assert resolve_settings(flags_of("--name", "a", "--paths", "links"), environ={}).paths \
        == "links"
    assert resolve_settings({}, environ={env_name("name"): "a",
                                         env_name("paths"): "http"}).paths == "http"
    with pytest.raises(ConfigError, match=r"one of all, links, http, not 'udp' \(from the command"):
        resolve_settings(flags_of("--name", "a", "--paths", "udp"), environ={})


def test_python_takes_off_as_toml_and_the_cli_do() -> None:
    assert NodeConfig(heartbeat_timeout="off").heartbeat_timeout is None
    assert NodeConfig.local(heartbeat_timeout="OFF").heartbeat_timeout is None
    assert NodeConfig(heartbeat_timeout=None).heartbeat_timeout is None
    with pytest.raises(ConfigError, match="heartbeat_timeout"):
        NodeConfig(heartbeat_timeout="soon")


@pytest.mark.parametrize("bind", ["nonsense", "127.0.0.1:99999", "127.0.0.1:abc", ":7946"])
def test_a_bad_bind_is_a_config_error_naming_it(bind: str) -> None:
    from gossipreg import GossipNode

    with pytest.raises(ConfigError, match=r"^bind: bad address"):
        GossipNode("a", bind=bind)
    with pytest.raises(ConfigError, match=r"^advertise: bad address"):
        GossipNode("a", advertise=bind)


async def test_a_bind_that_cannot_be_listened_on_is_a_config_error() -> None:
    from gossipreg import GossipNode

    node = GossipNode("a", bind="no-such-host.invalid:0")
    with pytest.raises(ConfigError, match=r"^bind: cannot listen on no-such-host\.invalid:0"):
        await node.start()
    await node.shutdown()


def test_the_data_dir_is_a_setting_like_the_others(tmp_path: Path) -> None:
    toml = tmp_path / "node.toml"
    toml.write_text('name = "a"\ndata_dir = "state"\n')
    by_file = resolve_settings({}, environ={}, config_file=str(toml))
    assert by_file.config.data_dir == str(tmp_path / "state")  # beside the file
    by_flag = resolve_settings(flags_of("--name", "a", "--data-dir", "/var/lib/gr"), environ={})
    assert by_flag.config.data_dir == "/var/lib/gr"
    assert NodeConfig.lan().data_dir is None
