"""CurveZMQ end to end: with a key file the daemon serves only clients that know its public key.

Who else it admits (the client keys of ``service.curve_public_keys_dir``) is tests/service/test_auth.py.
"""

from __future__ import annotations

import subprocess
import sys

import pytest

from streamconv.client import Subscriber
from streamconv.control import request
from streamconv.errors import ConfigError
from streamconv.keys import generate, read_public_key, read_secret_key
from tests.service.conftest import daemon_config, free_port, start_daemon


def test_keygen_writes_a_usable_pair(tmp_path):
    r = subprocess.run([sys.executable, "-m", "streamconv", "keygen", str(tmp_path / "k" / "server.key")],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stderr
    secret = read_secret_key(tmp_path / "k" / "server.key")
    public = read_public_key(str(tmp_path / "k" / "server.key.pub"))
    import zmq

    assert zmq.curve_public(secret) == public
    assert (tmp_path / "k" / "server.key").stat().st_mode & 0o077 == 0  # secret not readable by others


def test_bad_key_file_is_a_config_error(tmp_path):
    p = tmp_path / "bad.key"
    p.write_text("not a key\n")
    with pytest.raises(ConfigError, match="40-character Z85"):
        read_secret_key(p)


def test_curve_daemon_serves_only_clients_with_its_key(tmp_path):
    """The server key is needed too: an allowed client key alone (without it, or plain) gets nothing."""
    secret_path, public_path = generate(tmp_path / "server.key")
    client_secret, _ = generate(tmp_path / "clients" / "alice")  # only clients/alice.pub is read
    client = read_secret_key(client_secret)
    cfg = daemon_config(free_port(), free_port(), camera=False)
    cfg["service"]["curve_secret_key_file"] = str(secret_path)
    cfg["service"]["curve_public_keys_dir"] = str(tmp_path / "clients")
    # the fixture's ping needs the keys, so start without waiting and ping with them here
    d = start_daemon(tmp_path, cfg, wait=False)
    try:
        key = read_public_key(str(public_path))
        reply = None
        for _ in range(30):
            try:
                reply = request({"cmd": "ping"}, d.control, timeout=0.5, curve_server_key=key,
                                curve_secret_key=client)
                break
            except TimeoutError:
                assert d.proc.poll() is None, d.log()
        assert reply and reply["ok"], d.log()
        with pytest.raises(TimeoutError):  # a plain client gets no answer: the handshake fails
            request({"cmd": "ping"}, d.control, timeout=1.0)
        wrong = generate(tmp_path / "other.key")[1]
        with pytest.raises(TimeoutError):  # nor one that has another server's key
            request({"cmd": "ping"}, d.control, timeout=1.0, curve_server_key=read_public_key(str(wrong)),
                    curve_secret_key=client)
        with Subscriber(d.publish, ["laser/smoothed"], timeout=5, curve_server_key=key,
                        curve_secret_key=client) as sub:
            msg = sub.recv()
            assert msg.topic == "laser/smoothed"
        with Subscriber(d.publish, ["laser/smoothed"], timeout=1.5) as plain, pytest.raises(TimeoutError):
            plain.recv()
        assert "CurveZMQ on" in d.log()
        code, _ = d.stop()
        assert code == 0
    finally:
        if d.proc.poll() is None:
            d.proc.kill()


def test_check_reads_the_key_file(tmp_path):
    import yaml

    _secret, public = generate(tmp_path / "server.key")
    generate(tmp_path / "clients" / "alice")
    for key_file, needle in ((tmp_path / "missing.key", "cannot read it"), (public, "public half")):
        cfg = daemon_config(free_port(), free_port(), camera=False)
        cfg["service"]["curve_secret_key_file"] = str(key_file)
        cfg["service"]["curve_public_keys_dir"] = str(tmp_path / "clients")
        path = tmp_path / "c.yaml"
        path.write_text(yaml.safe_dump(cfg))
        r = subprocess.run([sys.executable, "-m", "streamconv", "run", "-c", str(path), "--check"],
                           capture_output=True, text=True, timeout=30)
        assert r.returncode == 2 and needle in r.stderr, r.stderr
        assert len(r.stderr.strip().splitlines()) == 1
