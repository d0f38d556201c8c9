"""The real CLI on bad input: one line on stderr naming the culprit, a named exit code, no traceback.

Every case runs ``python -m streamconv`` as a subprocess (what a user sees); the catch-all in
``main()`` for unexpected exceptions and Ctrl-C is also checked in process.  Keygen's file modes
and its refusal to overwrite are checked on real files.
"""

from __future__ import annotations

import logging
import math
import os
import signal
import socket
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest
import zmq

from streamconv import cli, control, exitcodes
from streamconv.errors import StreamconvError
from streamconv.keys import generate, read_public_key, read_secret_key

REPO = Path(__file__).resolve().parents[1]
CLI = [sys.executable, "-m", "streamconv"]
TIMEOUT_S = 60  # one short CLI run on a shared machine


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run_cli(*args: str, umask: int = -1) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*CLI, *args], capture_output=True, text=True, timeout=TIMEOUT_S, cwd=REPO,
                          umask=umask)


def assert_one_line(r: subprocess.CompletedProcess[str], code: int, *needles: str) -> str:
    """Assert the exit code and that stderr is one non-empty line, no traceback, naming each needle."""
    lines = [line for line in r.stderr.splitlines() if line.strip()]
    assert r.returncode == code, (r.returncode, r.stderr)
    assert len(lines) == 1, r.stderr
    assert "Traceback" not in r.stderr, r.stderr
    for needle in needles:
        assert needle in lines[0], (needle, lines[0])
    return lines[0]


# -- ctl ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("endpoint", ["foo://x", "tcp://nohost:x", "bogus"])
def test_ctl_bad_endpoint_is_a_usage_error(endpoint):
    line = assert_one_line(run_cli("ctl", "--control", endpoint, "status"), exitcodes.USAGE, endpoint)
    assert line.startswith("streamconv ctl: error: invalid control endpoint")


def test_ctl_no_reply_is_unavailable():
    endpoint = f"tcp://127.0.0.1:{free_port()}"
    t0 = time.monotonic()
    r = run_cli("ctl", "--control", endpoint, "--timeout", "0.2", "status")
    assert_one_line(r, exitcodes.UNAVAILABLE, "no reply", endpoint, "0.2 s")
    assert time.monotonic() - t0 < TIMEOUT_S


@pytest.mark.parametrize("value", ["-1", "0", "nan", "inf", "abc", "1e400"])
def test_ctl_timeout_must_be_finite_and_positive(value):
    r = run_cli("ctl", "--control", f"tcp://127.0.0.1:{free_port()}", "--timeout", value, "status")
    assert_one_line(r, exitcodes.USAGE, "--timeout", repr(value), "finite number of seconds > 0")


@pytest.mark.parametrize(
    ("extra", "needle"),
    [
        (["set"], "TOPIC"),
        (["set", "laser/x", "--weights", "a b"], "--weights"),
        (["set", "laser/x", "--stages", "{x"], "--stages"),
        (["set", "laser/x"], "--kernel"),
        (["nope"], "invalid choice: 'nope'"),
    ],
)
def test_ctl_bad_command_line(extra, needle):
    r = run_cli("ctl", *extra, "--control", f"tcp://127.0.0.1:{free_port()}", "--timeout", "0.2")
    assert_one_line(r, exitcodes.USAGE, needle)


@pytest.mark.parametrize("command", ["ctl", "subscribe"])
def test_bad_server_key_is_a_usage_error(tmp_path, command):
    endpoint = f"tcp://127.0.0.1:{free_port()}"
    option = ["--control", endpoint, "ping"] if command == "ctl" else ["--endpoint", endpoint]
    not_z85 = "~" * 40
    not_a_key = tmp_path / "not-a-key.pub"
    not_a_key.write_text("hello\n")
    for key, needle in (("garbage", "'garbage'"), (not_z85, "Z85"), (str(tmp_path), str(tmp_path)),
                        (str(not_a_key), "40-character")):
        r = run_cli(command, *option, "--timeout", "0.2", "--server-key", key)
        assert_one_line(r, exitcodes.USAGE, needle)


# -- keygen ------------------------------------------------------------------------------------
def test_keygen_bad_paths(tmp_path):
    a_file = tmp_path / "plain"
    a_file.write_text("x")
    cases = [
        ("/proc/nope/key", "/proc/nope"),
        (str(a_file / "x.key"), str(a_file)),  # a file where the directory should be
        (str(tmp_path), "Is a directory"),
        (str(tmp_path / "server.key.pub"), ".pub"),
    ]
    for path, needle in cases:
        assert_one_line(run_cli("keygen", path), exitcodes.USAGE, needle)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["plain"]  # nothing written, no temp file


@pytest.mark.chaos
@pytest.mark.parametrize("umask", [0o000, 0o077])
def test_keygen_modes_do_not_depend_on_the_umask(tmp_path, umask):
    secret = tmp_path / "keys" / "server.key"
    r = run_cli("keygen", str(secret), umask=umask)
    assert r.returncode == exitcodes.OK, r.stderr
    assert stat.S_IMODE(secret.stat().st_mode) == 0o600
    public = secret.with_name("server.key.pub")
    assert stat.S_IMODE(public.stat().st_mode) == 0o644
    assert zmq.curve_public(read_secret_key(secret)) == read_public_key(str(public))
    assert sorted(p.name for p in secret.parent.iterdir()) == ["server.key", "server.key.pub"]


@pytest.mark.chaos
def test_keygen_force_makes_an_existing_0644_secret_0600(tmp_path):
    secret = tmp_path / "server.key"
    public = tmp_path / "server.key.pub"
    generate(secret)
    os.chmod(secret, 0o644)
    old = secret.read_bytes(), public.read_bytes()
    r = run_cli("keygen", "--force", str(secret))
    assert r.returncode == exitcodes.OK, r.stderr
    assert stat.S_IMODE(secret.stat().st_mode) == 0o600
    assert stat.S_IMODE(public.stat().st_mode) == 0o644
    assert (secret.read_bytes(), public.read_bytes()) != old
    assert zmq.curve_public(read_secret_key(secret)) == read_public_key(str(public))
    assert read_public_key(str(public)).decode() in r.stdout
    assert sorted(p.name for p in tmp_path.iterdir()) == ["server.key", "server.key.pub"]


@pytest.mark.chaos
@pytest.mark.parametrize("existing", ["both", "secret", "public"])
def test_keygen_refuses_to_overwrite_without_force(tmp_path, existing):
    secret = tmp_path / "server.key"
    public = tmp_path / "server.key.pub"
    generate(secret)
    os.chmod(secret, 0o644)  # an old file with a bad mode: refused, so left exactly as it was
    if existing == "secret":
        public.unlink()
    elif existing == "public":
        secret.unlink()
    before = {p.name: (p.read_bytes(), p.stat().st_mode) for p in tmp_path.iterdir()}
    named = secret if existing != "public" else public
    assert_one_line(run_cli("keygen", str(secret)), exitcodes.USAGE, str(named), "--force")
    assert {p.name: (p.read_bytes(), p.stat().st_mode) for p in tmp_path.iterdir()} == before


def test_keygen_refuses_a_dangling_symlink(tmp_path):
    secret = tmp_path / "server.key"
    secret.symlink_to(tmp_path / "elsewhere")
    assert_one_line(run_cli("keygen", str(secret)), exitcodes.USAGE, str(secret), "--force")
    assert not (tmp_path / "elsewhere").exists()


def test_generate_raises_file_exists_error_naming_the_file(tmp_path):
    secret, public = generate(tmp_path / "k")
    with pytest.raises(FileExistsError) as info:
        generate(secret)
    assert info.value.filename == str(secret)
    secret.unlink()
    with pytest.raises(FileExistsError) as info:
        generate(secret)
    assert info.value.filename == str(public)
    assert not secret.exists()


# -- the other commands ------------------------------------------------------------------------
def test_subscribe_log_view_bad_endpoint(tmp_path):
    assert_one_line(run_cli("subscribe", "--endpoint", "bogus"), exitcodes.USAGE, "bogus")
    r = run_cli("log", "--out", str(tmp_path / "new"), "--endpoint", "bogus", "--duration", "0.1")
    assert_one_line(r, exitcodes.USAGE, "bogus")
    assert not (tmp_path / "new").exists()
    r = run_cli("view", "--no-window", "--endpoint", "bogus", "--frames", "1")
    assert_one_line(r, exitcodes.USAGE, "bogus")


@pytest.mark.parametrize(
    ("args", "option"),
    [
        (["log", "--out", "OUT", "--duration", "nan"], "--duration"),
        (["log", "--out", "OUT", "--duration", "0"], "--duration"),
        (["log", "--out", "OUT", "--rotate-s", "inf"], "--rotate-s"),
        (["view", "--no-window", "--duration", "-1"], "--duration"),
        (["demo", "--no-window", "--laser-window", "nan"], "--laser-window"),
        (["plot", "LOG", "--zoom", "0"], "--zoom"),
        (["bench", "--soak-minutes", "inf"], "--soak-minutes"),
        (["bench", "--soak-interval", "0"], "--soak-interval"),
        (["run", "--check", "--workers", "0"], "--workers"),
    ],
)
def test_bad_durations_and_counts(tmp_path, args, option):
    args = [str(tmp_path / a) if a in ("OUT", "LOG") else a for a in args]
    assert_one_line(run_cli(*args), exitcodes.USAGE, option)
    assert not (tmp_path / "OUT").exists()


def test_missing_files(tmp_path):
    missing = str(tmp_path / "missing")
    assert_one_line(run_cli("plot", missing, "-o", str(tmp_path / "p.png")), exitcodes.USAGE, missing)
    r = run_cli("filter", missing + ".png", str(tmp_path / "o.png"), "--kernel", "blur")
    assert_one_line(r, exitcodes.USAGE, missing)
    r = run_cli("filter", missing + ".csv", str(tmp_path / "o.csv"), "--weights", "1")
    assert_one_line(r, exitcodes.USAGE, missing)
    for config in (missing + ".yaml", str(tmp_path)):
        r = run_cli("run", "--config", config, "--check")
        assert_one_line(r, exitcodes.USAGE, "bad config", config)
    r = run_cli("log", "--out", "/dev/null", "--endpoint", "tcp://127.0.0.1:1", "--duration", "0.1")
    assert_one_line(r, exitcodes.USAGE, "/dev/null")


def test_an_empty_config_is_valid_and_says_so():
    # /dev/null is an empty YAML document: a config with no streams, reported, not an error.
    r = run_cli("run", "--config", "/dev/null", "--check")
    assert r.returncode == exitcodes.OK, r.stderr
    assert "streams none" in r.stdout


def test_unknown_command_is_one_line():
    assert_one_line(run_cli("nosuchcommand"), exitcodes.USAGE, "nosuchcommand", "--help")


# -- main(): what escapes a command ------------------------------------------------------------
@pytest.mark.parametrize(
    ("exc", "code", "needle"),
    [
        (RuntimeError("boom"), exitcodes.FAILURE, "unexpected error"),
        (KeyError("k"), exitcodes.FAILURE, "KeyError"),
        (StreamconvError("invalid thing 'x'"), exitcodes.USAGE, "invalid thing 'x'"),
        (FileNotFoundError(2, "No such file or directory", "/x/y"), exitcodes.USAGE, "/x/y"),
        (zmq.ZMQError(zmq.EPROTONOSUPPORT), exitcodes.USAGE, "ZeroMQ"),
        (TimeoutError("no reply from somewhere"), exitcodes.UNAVAILABLE, "no reply from somewhere"),
        (KeyboardInterrupt(), exitcodes.INTERRUPTED, "interrupted"),
    ],
)
def test_main_turns_escaping_exceptions_into_one_line(monkeypatch, capsys, caplog, exc, code, needle):
    def boom(args):
        raise exc

    from streamconv.commands import kernels as kernels_command

    monkeypatch.setattr(kernels_command, "cmd_kernels", boom)
    with caplog.at_level(logging.DEBUG, logger="streamconv.cli"):
        assert cli.main(["kernels"]) == code
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("streamconv kernels: ") and needle in err, err
    debug = [r for r in caplog.records if r.levelno == logging.DEBUG and r.exc_info]
    assert len(debug) == (1 if code == exitcodes.FAILURE else 0)  # the traceback, for bugs only


def test_ctrl_c_while_waiting_for_a_reply_exits_130(tmp_path):
    # A TCP listener that accepts and never speaks ZMTP: ctl connects, then waits for its reply.
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)
        listener.settimeout(TIMEOUT_S)
        port = listener.getsockname()[1]
        argv = [*CLI, "ctl", "ping", "--control", f"tcp://127.0.0.1:{port}", "--timeout", "30"]
        proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=REPO)
        try:
            conn, _ = listener.accept()  # the handshake: ctl is past connect(), inside main()
            with conn:
                proc.send_signal(signal.SIGINT)
                _out, err = proc.communicate(timeout=TIMEOUT_S)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    assert proc.returncode == exitcodes.INTERRUPTED, err
    assert err.strip() == "streamconv ctl: interrupted", err


# -- control.request ---------------------------------------------------------------------------
@pytest.mark.parametrize("timeout", [0, -1, math.nan, math.inf, -math.inf, True, "1"])
def test_request_rejects_a_bad_timeout(timeout):
    with pytest.raises(StreamconvError, match="invalid timeout"):
        control.request({"cmd": "ping"}, "tcp://127.0.0.1:1", timeout=timeout)


@pytest.mark.parametrize("endpoint", ["foo://x", "tcp://nohost:x", "bogus"])
def test_request_names_a_bad_endpoint(endpoint):
    with pytest.raises(StreamconvError, match="invalid control endpoint") as info:
        control.request({"cmd": "ping"}, endpoint, timeout=0.1)
    assert repr(endpoint) in str(info.value)


def test_request_times_out_after_the_timeout():
    endpoint = f"tcp://127.0.0.1:{free_port()}"
    t0 = time.monotonic()
    with pytest.raises(TimeoutError, match=f"no reply from the control endpoint {endpoint} within 0.15 s"):
        control.request({"cmd": "ping"}, endpoint, timeout=0.15)
    assert 0.14 <= time.monotonic() - t0 < 5


def test_a_bug_shows_its_traceback_with_streamconv_debug(tmp_path):
    """A reply the client does not expect is a bug: one line by default, the traceback on request."""
    import threading

    import zmq

    ctx = zmq.Context()
    rep = ctx.socket(zmq.REP)
    port = rep.bind_to_random_port("tcp://127.0.0.1")

    def serve(n: int) -> None:
        for _ in range(n):
            if rep.poll(20_000):
                rep.recv()
                rep.send(b'{"ok": true}')  # no "status" in it

    t = threading.Thread(target=serve, args=(2,), daemon=True)
    t.start()
    try:
        argv = [sys.executable, "-m", "streamconv", "ctl", "status", "--control", f"tcp://127.0.0.1:{port}"]
        plain = subprocess.run(argv, capture_output=True, text=True, timeout=60)
        debug = subprocess.run(argv, capture_output=True, text=True, timeout=60,
                               env={**os.environ, "STREAMCONV_DEBUG": "1"})
    finally:
        t.join(5)
        rep.close(0)
        ctx.term()
    assert plain.returncode == 1 and len(plain.stderr.strip().splitlines()) == 1, plain.stderr
    assert "KeyError" in plain.stderr and "STREAMCONV_DEBUG=1" in plain.stderr
    assert debug.returncode == 1 and "Traceback (most recent call last)" in debug.stderr, debug.stderr
