"""CurveZMQ authenticates: only client keys in ``service.curve_public_keys_dir`` get anything.

Real daemons and role processes on loopback, with CurveZMQ on (a configured key always applies
to the publish and control sockets; ``links.curve_on_loopback`` puts it on loopback links too).
Evidence: an allowed key gets messages and replies; an unknown key gets 0 messages, 0 replies
and 0 link admissions; the publisher's ZAP gate counts each refused handshake exactly once
(ZeroMQ does not retry a handshake the ZAP handler refused, and the subscriber does not either).
"""

from __future__ import annotations

import contextlib
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
import zmq

from streamconv import config as cfg
from streamconv.client import Subscriber
from streamconv.control import request
from streamconv.errors import ConfigError
from streamconv.keys import generate, read_public_key, read_secret_key
from streamconv.roles import protocol
from streamconv.roles.golden import stage_hash
from tests.service.conftest import daemon_config, free_port, start_daemon
from tests.service.test_roles import Topology

FIELD = "service.curve_public_keys_dir"


def _keys(tmp: Path, *clients: str) -> tuple[Path, Path, dict[str, bytes]]:
    """The daemon's key file, a public keys dir with each client's .pub, and the clients' secrets."""
    server_key, _ = generate(tmp / "server" / "daemon.key")
    allowed = tmp / "clients"
    allowed.mkdir()
    secrets = {}
    for name in clients:  # as a client would: keygen at home, hand over only the .pub
        secret_path, public_path = generate(tmp / "home" / name)
        shutil.copy(public_path, allowed / public_path.name)
        secrets[name] = read_secret_key(secret_path)
    return server_key, allowed, secrets


def _curve_config(server_key: Path, allowed: Path) -> dict:
    c = daemon_config(free_port(), free_port(), camera=False)
    c["service"]["curve_secret_key_file"] = str(server_key)
    c["service"]["curve_public_keys_dir"] = str(allowed)
    return c


def _ping(d, server: bytes, secret: bytes) -> dict:
    deadline = time.monotonic() + 20
    while True:
        try:
            return request({"cmd": "ping"}, d.control, timeout=0.5, curve_server_key=server,
                           curve_secret_key=secret)
        except TimeoutError:
            assert d.proc.poll() is None and time.monotonic() < deadline, d.log()


# -- config ------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("service", "needles"),
    [
        ({"curve_secret_key_file": "k"}, ["curve_secret_key_file needs curve_public_keys_dir"]),
        ({"curve_public_keys_dir": "d"}, ["curve_public_keys_dir needs curve_secret_key_file"]),
        ({"publish": "tcp://0.0.0.0:5555", "curve_secret_key_file": "k"}, ["needs curve_public_keys_dir"]),
        ({"publish": "tcp://0.0.0.0:5555", "insecure": True, "curve_secret_key_file": "k"},
         ["needs curve_public_keys_dir"]),
        ({"publish": "tcp://0.0.0.0:5555"}, ["not loopback", "curve_public_keys_dir", "insecure"]),
    ],
)
def test_a_secret_key_needs_the_public_keys_dir(service, needles):
    with pytest.raises(ConfigError) as info:
        cfg.parse({"service": service})
    for needle in needles:
        assert needle in str(info.value), str(info.value)


def test_curve_on_loopback_needs_a_secret_key():
    with pytest.raises(ConfigError, match=r"links\.curve_on_loopback needs service\.curve_secret_key_file"):
        cfg.parse({"links": {"curve_on_loopback": True}})
    ok = cfg.parse({"service": {"curve_secret_key_file": "k", "curve_public_keys_dir": "d"},
                    "links": {"curve_on_loopback": True}})
    assert ok.links.curve_on_loopback


def test_bad_public_keys_dir_exits_2_with_one_line_naming_the_field(tmp_path):
    server_key, _ = generate(tmp_path / "daemon.key")
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "alice").write_text(zmq.curve_keypair()[1].decode() + "\n")  # a secret: not a .pub
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "alice.pub").write_text("not a key\n")
    cases = [
        (tmp_path / "missing", "cannot read the directory"),
        (empty, "no *.pub file in it"),
        (bad, "alice.pub': invalid service.curve_public_keys_dir file: 9 characters"),
    ]
    for keys_dir, needle in cases:
        c = daemon_config(free_port(), free_port(), camera=False)
        c["service"]["curve_secret_key_file"] = str(server_key)
        c["service"]["curve_public_keys_dir"] = str(keys_dir)
        path = tmp_path / "c.yaml"
        path.write_text(yaml.safe_dump(c))
        r = subprocess.run([sys.executable, "-m", "streamconv", "run", "-c", str(path), "--check"],
                           capture_output=True, text=True, timeout=60)
        assert r.returncode == 2, (keys_dir, r.stdout, r.stderr)
        lines = r.stderr.strip().splitlines()
        assert len(lines) == 1 and FIELD in lines[0] and needle in lines[0], r.stderr
    # a role that does not admit clients does not read the directory
    c["service"]["curve_public_keys_dir"] = str(tmp_path / "missing")
    c["links"] = {"dispatch": f"tcp://127.0.0.1:{free_port()}", "collect": f"tcp://127.0.0.1:{free_port()}"}
    path.write_text(yaml.safe_dump(c))
    r = subprocess.run([sys.executable, "-m", "streamconv", "run", "-c", str(path), "--check", "--role",
                        "worker"], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr


# -- the daemon: streams and control -----------------------------------------------------------
@pytest.mark.chaos
def test_only_allowed_client_keys_get_messages_and_replies(tmp_path):
    server_key, allowed, secrets = _keys(tmp_path, "alice")
    server = read_public_key(str(server_key) + ".pub")
    alice = secrets["alice"]
    mallory = zmq.curve_keypair()[1]  # a well-formed key pair the daemon has never seen
    d = start_daemon(tmp_path, _curve_config(server_key, allowed), wait=False)
    try:
        assert _ping(d, server, alice)["ok"], d.log()
        with Subscriber(d.publish, ["laser/smoothed"], timeout=10, curve_server_key=server,
                        curve_secret_key=alice.decode()) as sub:
            assert sub.recv().topic == "laser/smoothed"

        # unknown keys: 3 control requests (one handshake each) time out
        for secret in (mallory, mallory, None):  # None: a fresh key pair, as before this change
            with pytest.raises(TimeoutError):
                request({"cmd": "ping"}, d.control, timeout=1.0, curve_server_key=server,
                        curve_secret_key=secret)
        # ... and a subscriber with an unknown key gets 0 messages in 2 s (one refused handshake)
        with Subscriber(d.publish, ["laser/"], timeout=2.0, curve_server_key=server,
                        curve_secret_key=mallory) as intruder:
            with pytest.raises(TimeoutError):
                intruder.recv()
            assert intruder.received == 0 and intruder.reconnects == 0
        # a plain client does not even reach the ZAP handler: the mechanisms differ (not counted)
        with Subscriber(d.publish, ["laser/"], timeout=1.0) as plain, pytest.raises(TimeoutError):
            plain.recv()

        st = request({"cmd": "status"}, d.control, timeout=3, curve_server_key=server,
                     curve_secret_key=alice)["status"]
        assert st["auth"]["denied"] == {"streams": 1, "control": 3}, st["auth"]
        # alice: the ping(s) until the daemon answered, this status request, one subscriber
        assert st["auth"]["admitted"]["streams"] == 1 and st["auth"]["admitted"]["control"] >= 2
        log = d.log()
        assert "refused CURVE client key" in log and zmq.curve_public(mallory).decode() in log
        assert "CurveZMQ on: clients need the server key" in log and str(allowed) in log
        code, _ = d.stop()
        assert code == 0
    finally:
        if d.proc.poll() is None:
            d.proc.kill()
            d.proc.wait(5)


def test_a_key_added_to_the_directory_needs_a_restart(tmp_path):
    """The allow-list is read once at start: the documented rule (restart to add or remove a key)."""
    server_key, allowed, secrets = _keys(tmp_path, "alice")
    server = read_public_key(str(server_key) + ".pub")
    d = start_daemon(tmp_path, _curve_config(server_key, allowed), wait=False)
    try:
        _ping(d, server, secrets["alice"])
        bob_secret, bob_public = generate(tmp_path / "home" / "bob")
        shutil.copy(bob_public, allowed / bob_public.name)
        with pytest.raises(TimeoutError):
            request({"cmd": "ping"}, d.control, timeout=1.0, curve_server_key=server,
                    curve_secret_key=read_secret_key(bob_secret))
    finally:
        d.proc.kill()
        d.proc.wait(5)


# -- the links between role processes ----------------------------------------------------------
def _unknown_dealer(endpoint: str, server: bytes | None) -> zmq.Socket:
    sock = zmq.Context.instance().socket(zmq.DEALER)
    sock.setsockopt(zmq.LINGER, 0)
    sock.setsockopt(zmq.ROUTING_ID, b"worker-intruder")
    if server is not None:
        public, secret = zmq.curve_keypair()
        sock.curve_serverkey, sock.curve_publickey, sock.curve_secretkey = server, public, secret
    sock.connect(endpoint)
    return sock


@pytest.mark.chaos
@pytest.mark.slow
@pytest.mark.timeout(180)
def test_role_processes_admit_each_other_and_no_unknown_link_key(tmp_path):
    server_key, allowed, secrets = _keys(tmp_path, "alice")
    server = read_public_key(str(server_key) + ".pub")
    c = _curve_config(server_key, allowed)
    c["streams"] = daemon_config(0, 0, width=160, height=120, fps=20.0)["streams"]
    c["links"] = {"dispatch": f"tcp://127.0.0.1:{free_port()}", "collect": f"tcp://127.0.0.1:{free_port()}",
                  "curve_on_loopback": True}
    path = tmp_path / "roles.yaml"
    path.write_text(yaml.safe_dump(c))
    t = Topology(tmp_path, c, path)
    try:
        t.start("publisher", "publisher")
        t.start("producer", "producer")
        t.start("worker0", "worker")
        t.start("worker1", "worker")
        deadline = time.monotonic() + 60
        while True:  # Topology.status() has no key: ask with alice's
            try:
                st = request({"cmd": "status"}, t.control, timeout=0.5, curve_server_key=server,
                             curve_secret_key=secrets["alice"])["status"]
                admitted = [w for w in st["roles"]["workers"] if w["state"] == "admitted"]
                if len(admitted) == 2 and st["roles"]["producer"] and any(w["owns"] for w in admitted):
                    break
            except TimeoutError:
                pass
            assert time.monotonic() < deadline, t.logs()
            time.sleep(0.2)
        with Subscriber(t.publish, ["laser/smoothed", "camera/sharpen"], timeout=10, curve_server_key=server,
                        curve_secret_key=secrets["alice"]) as sub:
            got = {"laser/smoothed": 0, "camera/sharpen": 0}
            while min(got.values()) < 5:
                assert time.monotonic() < deadline + 30, (got, t.logs())
                got[sub.recv().topic] += 1
            assert sub.gaps == 0, list(sub.gap_events)
        st = request({"cmd": "status"}, t.control, timeout=3, curve_server_key=server,
                     curve_secret_key=secrets["alice"])["status"]
        # on the collect link: the producer's dealer, and each worker's two (results, heartbeats)
        assert st["auth"]["admitted"]["links"] == 1 + 2 * 2 and st["auth"]["denied"]["links"] == 0, st["auth"]

        # An unknown key on the collect link: refused once, nothing received, never a role.
        collect, dispatch = c["links"]["collect"], c["links"]["dispatch"]
        intruders = [_unknown_dealer(collect, server), _unknown_dealer(dispatch, server),
                     _unknown_dealer(collect, None)]  # the last one without CURVE at all
        try:
            # a heartbeat the publisher would admit (right config and stage hashes) if it got through
            config = cfg.parse(c)
            hello = protocol.encode("hb", {"role": "worker", "id": "worker-intruder", "host": "x", "pid": 1,
                                           "config_hash": protocol.config_hash(config),
                                           "golden": stage_hash(config)})
            for s in intruders:
                # IMMEDIATE off: queued, never sent; or refused at once when the handshake already
                # failed and the connection is gone (then nothing can be queued either)
                with contextlib.suppress(zmq.Again):
                    s.send_multipart(hello, zmq.NOBLOCK)
            time.sleep(1.0)  # nothing may arrive: a deadline, not a handshake
            assert [s.poll(0) for s in intruders] == [0, 0, 0]
        finally:
            for s in intruders:
                s.close(0)
        st = request({"cmd": "status"}, t.control, timeout=3, curve_server_key=server,
                     curve_secret_key=secrets["alice"])["status"]
        assert st["auth"]["denied"]["links"] == 1, st["auth"]
        assert st["auth"]["admitted"]["links"] == 1 + 2 * 2, st["auth"]
        assert all(w["id"] != "worker-intruder" for w in st["roles"]["workers"]), st["roles"]
        assert "refused CURVE client key" in (tmp_path / "producer.log").read_text()  # the dispatch gate
    finally:
        t.stop_all()


# -- the command-line clients ------------------------------------------------------------------
def _cli(*argv: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "streamconv", *argv], capture_output=True, text=True,
                          timeout=60)


def test_command_line_clients_authenticate_with_client_key(tmp_path: Path):
    server_key, allowed, secrets = _keys(tmp_path, "alice")
    generate(tmp_path / "home" / "mallory")  # a key pair the daemon does not list
    d = start_daemon(tmp_path, _curve_config(server_key, allowed), wait=False)
    try:
        _ping(d, read_public_key(f"{server_key}.pub"), secrets["alice"])
        server = ["--server-key", f"{server_key}.pub"]
        alice = ["--client-key", str(tmp_path / "home/alice")]
        ok = _cli("ctl", "ping", "--control", d.control, *server, *alice)
        assert ok.returncode == 0 and '"pong": true' in ok.stdout, (ok.stdout, ok.stderr)
        bad = _cli("ctl", "ping", "--control", d.control, "--timeout", "1", *server,
                   "--client-key", str(tmp_path / "home/mallory"))
        assert bad.returncode == 69 and "no reply" in bad.stderr, (bad.returncode, bad.stderr)
        fresh = _cli("ctl", "ping", "--control", d.control, "--timeout", "1", *server)
        assert fresh.returncode == 69, (fresh.returncode, fresh.stderr)
        alone = _cli("ctl", "ping", "--control", d.control, "--client-key", str(tmp_path / "home/alice"))
        assert alone.returncode == 2 and "--client-key needs --server-key" in alone.stderr, alone.stderr
        out = tmp_path / "log"
        logged = _cli("log", "laser/smoothed", "--out", str(out), "--endpoint", d.publish, *server,
                      "--client-key", str(tmp_path / "home/alice"), "--count", "20")
        assert logged.returncode == 0, (logged.stdout, logged.stderr)
        assert len((out / "laser__smoothed.csv").read_text().splitlines()) >= 20
        printed = _cli("subscribe", "laser/smoothed", "--endpoint", d.publish, *server, *alice, "-n", "5")
        assert printed.returncode == 0 and printed.stdout.count("laser/smoothed") == 5, printed
        refused = _cli("subscribe", "laser/smoothed", "--endpoint", d.publish, *server, "-n", "1",
                       "--timeout", "1")
        assert refused.returncode == 69, (refused.returncode, refused.stderr)
    finally:
        d.stop()
