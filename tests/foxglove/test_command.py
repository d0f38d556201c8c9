"""``streamconv foxglove``: slow clients, a daemon that restarts, signals and bad input."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import time

from websockets.sync.client import connect

from tests.foxglove.conftest import SUBPROTOCOL, Probe, run_foxglove, start_fox, stop_fox
from tests.service.conftest import daemon_config, free_port, start_daemon


def _age_ms(log_time_ns: int) -> float:
    return (time.time_ns() - log_time_ns) / 1e6


def test_a_slow_client_gets_recent_frames_not_a_backlog(tmp_path, daemon) -> None:
    backlog = 4
    fox = start_fox(tmp_path, daemon, "--backlog", str(backlog))
    try:
        # A client with a small receive buffer (a slow link): what piles up is what the server keeps.
        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 * 1024)
        sock.connect(("127.0.0.1", fox.port))
        with connect(fox.url, sock=sock, subprotocols=[SUBPROTOCOL], max_size=None, max_queue=1,
                     close_timeout=1) as ws:
            probe = Probe(ws)
            probe.recv(5)
            probe.wait_channels(["viz/camera/raw"])
            probe.subscribe("viz/camera/raw")
            first = None
            deadline = time.monotonic() + 10
            while first is None and time.monotonic() < deadline:
                m = probe.recv(0.5)
                first = m if isinstance(m, tuple) else None
            assert first is not None
            pause_s = 3.0
            time.sleep(pause_s)  # stops reading: 20 fps x 3 s = 60 frames published meanwhile
            ages = []
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline and (not ages or ages[-1] > 300):
                m = probe.recv(1.0)
                if isinstance(m, tuple):
                    ages.append(_age_ms(m[1]))
            # What the sockets held when the client stopped (at most ~16 frames of 160x120 with the
            # 256 KiB send buffer), then the SDK's backlog, then live frames: never the 60 of the pause.
            assert ages and ages[-1] <= 300, f"never caught up: {[round(a) for a in ages]}"
            assert len(ages) <= backlog + 24, f"{len(ages)} stale frames: {[round(a) for a in ages]}"
            assert max(ages) >= pause_s * 1000 * 0.8  # it did fall behind
    finally:
        stop_fox(fox)


def test_the_server_survives_a_daemon_restart_and_resumes(tmp_path) -> None:
    config = daemon_config(free_port(), free_port(), laser=False)
    daemon = start_daemon(tmp_path, config)
    fox = start_fox(tmp_path, daemon)
    try:
        with connect(fox.url, subprotocols=[SUBPROTOCOL], max_size=None, close_timeout=1) as ws:
            probe = Probe(ws)
            probe.recv(5)
            probe.wait_channels(["viz/camera/raw"])
            probe.subscribe("viz/camera/raw")

            def frames_within(seconds: float) -> int:
                n, end = 0, time.monotonic() + seconds
                while time.monotonic() < end and n < 5:
                    n += isinstance(probe.recv(0.3), tuple)
                return n

            assert frames_within(5) == 5
            daemon.proc.kill()
            daemon.proc.wait(5)
            while probe.recv(0.3) is not None:  # drain what was in flight
                pass
            assert frames_within(1.5) == 0
            daemon = start_daemon(tmp_path, config)  # the same endpoints, a new epoch
            assert frames_within(15) == 5, fox.log()
            assert fox.proc.poll() is None
    finally:
        stop_fox(fox)
        if daemon.proc.poll() is None:
            daemon.proc.kill()
            daemon.proc.wait(5)


def test_sigint_and_sigterm_stop_it_cleanly_even_without_a_daemon(tmp_path, daemon) -> None:
    for sig in (signal.SIGINT, signal.SIGTERM):
        fox = start_fox(tmp_path, daemon)
        if sig == signal.SIGTERM:
            daemon.proc.kill()
            daemon.proc.wait(5)
        t0 = time.monotonic()
        fox.proc.send_signal(sig)
        assert fox.proc.wait(5) == 0, fox.log()
        assert time.monotonic() - t0 < 2.0


def _one_line_exit(tmp_path, *args: str, expected: int) -> str:
    proc = run_foxglove(tmp_path, *args)
    code = proc.wait(20)
    log = sorted(tmp_path.glob("fox-*.log"), key=lambda p: p.stat().st_mtime)[-1].read_text()
    assert code == expected, log
    lines = [line for line in log.splitlines() if line.strip()]
    assert len(lines) == 1, log
    return lines[0]


def test_a_remote_address_needs_allow_remote(tmp_path) -> None:
    line = _one_line_exit(tmp_path, "--listen", f"0.0.0.0:{free_port()}", expected=2)
    assert "--allow-remote" in line


def test_a_port_in_use_is_one_line_and_exit_2(tmp_path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        line = _one_line_exit(tmp_path, "--listen", f"127.0.0.1:{port}", expected=2)
    assert f"127.0.0.1:{port}" in line and "error" in line


def test_a_bad_listen_address_is_exit_2(tmp_path) -> None:
    line = _one_line_exit(tmp_path, "--listen", "nonsense", expected=2)
    assert "HOST:PORT" in line


def test_without_foxglove_sdk_it_names_the_install_command() -> None:
    code = ("import sys; sys.modules['foxglove'] = None; from streamconv.cli import main; "
            f"sys.exit(main(['foxglove', '--listen', '127.0.0.1:{free_port()}']))")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=30)
    assert proc.returncode == 1
    assert proc.stderr.strip().count("\n") == 0
    assert "pip install 'streamconv[record]'" in proc.stderr
