"""The TLS cost benchmark runs end to end (slow: excluded by default, run with -m slow)."""

from __future__ import annotations

import shutil

import pytest

from sim.bench import tls as bench_tls


@pytest.mark.slow
def test_bench_tls_prints_both_modes_and_ratios(capsys: pytest.CaptureFixture[str]) -> None:
    if shutil.which("openssl") is None:
        pytest.skip("no openssl command")
    assert bench_tls.main(["--nodes", "2", "--idle-seconds", "1", "--reps", "1",
                           "--loopback"]) == 0
    out = capsys.readouterr().out
    assert "plain  join_s=" in out and "tls    join_s=" in out and "ratio  " in out
