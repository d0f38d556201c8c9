"""docker-compose.yml, configs/cluster.yaml and the Dockerfile, checked without Docker.

No Docker engine is needed: the compose file is parsed with PyYAML, every service's command is
run as the image would run it (its ENTRYPOINT is ``streamconv``) with ``python -m streamconv``,
and the compose topology (publisher, producer, 3 workers) runs as plain processes on loopback.
"""

from __future__ import annotations

import json
import os
import random
import re
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import yaml

from streamconv import config as cfg
from streamconv import control, exitcodes
from streamconv.client import Subscriber

from .conftest import free_port

REPO = Path(__file__).resolve().parents[2]
COMPOSE = REPO / "docker-compose.yml"
CLUSTER = REPO / "configs" / "cluster.yaml"
DOCKERFILE = REPO / "Dockerfile"
ROLE_SERVICES = ("publisher", "producer", "worker")
SERVICES = (*ROLE_SERVICES, "logger", "ctl")
CMD_TIMEOUT = 60  # seconds for one short CLI run (imports numpy, OpenCV, numba on a shared machine)


# -- helpers -----------------------------------------------------------------------------------
def _compose() -> dict[str, Any]:
    return yaml.safe_load(COMPOSE.read_text())


def _services() -> dict[str, dict[str, Any]]:
    return _compose()["services"]


def _interpolate(value: str) -> str:
    """Compose variable interpolation with no variables set: ``${X:-default}`` -> ``default``."""
    value = re.sub(r"\$\{(\w+)(?::?[-?]([^}]*))?\}", lambda m: m.group(2) or "", value)
    return value.replace("$$", "$")


def _argv(service: dict[str, Any]) -> list[str]:
    """The service's command line after the image's ENTRYPOINT, interpolated."""
    entrypoint = service.get("entrypoint", ["streamconv"])
    command = service.get("command", [])
    assert isinstance(entrypoint, list) and isinstance(command, list), "use exec (list) form"
    argv = [_interpolate(str(a)) for a in [*entrypoint, *command]]
    assert argv[0] == "streamconv", f"the command must run streamconv, got {argv}"
    return argv[1:]


def _replace_option(argv: list[str], option: str, value: str) -> list[str]:
    out = list(argv)
    i = out.index(option)
    out[i + 1] = value
    return out


def _streamconv(args: list[str], timeout: float = CMD_TIMEOUT) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "streamconv", *args], cwd=REPO, capture_output=True, text=True,
        timeout=timeout, env=dict(os.environ, PYTHONUNBUFFERED="1"),
    )


def _port(endpoint: str) -> int:
    return int(endpoint.rsplit(":", 1)[1])


def _published(port: Any) -> tuple[str, int, int]:
    """(host ip, host port, container port) of a compose ``ports`` entry, short or long syntax."""
    if isinstance(port, dict):
        return str(port.get("host_ip", "")), int(port["published"]), int(port["target"])
    parts = str(port).split("/")[0].split(":")
    assert len(parts) == 3, f"port {port!r} must name its host ip: IP:HOST:CONTAINER"
    return parts[0], int(parts[1]), int(parts[2])


def _dockerfile_instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with comments dropped and continuation lines joined."""
    out: list[tuple[str, str]] = []
    pending = ""
    for raw in DOCKERFILE.read_text().splitlines():
        line = raw.strip()
        if not pending and (not line or line.startswith("#")):
            continue
        if line.startswith("#"):  # a comment inside a continued instruction
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        text = pending + line
        pending = ""
        word, _, rest = text.partition(" ")
        out.append((word.upper(), rest.strip()))
    assert not pending, "the Dockerfile ends inside a continued line"
    return out


# -- docker-compose.yml ------------------------------------------------------------------------
def test_compose_has_the_role_services_one_image_and_loopback_ports_only() -> None:
    services = _services()
    assert set(SERVICES) <= set(services), f"missing services: {set(SERVICES) - set(services)}"
    images = {name: s.get("image") for name, s in services.items()}
    assert len(set(images.values())) == 1 and None not in images.values(), f"one image for all: {images}"
    builds = {json.dumps(s.get("build"), sort_keys=True) for s in services.values() if "build" in s}
    assert len(builds) <= 1, f"every build of the image must be the same: {builds}"
    assert services["ctl"].get("profiles") == ["tools"]

    with_ports = sorted(name for name, s in services.items() if s.get("ports"))
    assert with_ports == ["publisher"], f"only the publisher publishes ports, got {with_ports}"
    cluster = yaml.safe_load(CLUSTER.read_text())
    published = [_published(p) for p in services["publisher"]["ports"]]
    for ip, _host, _container in published:
        assert ip == "127.0.0.1", f"every published port is bound to loopback, got {published}"
    # Only the publish port: the control socket is on the publisher container's loopback.
    wanted = {_port(cluster["service"]["publish"])}
    assert {(h, c) for _ip, h, c in published} == {(p, p) for p in wanted}, published

    worker = services["worker"]
    assert not worker.get("ports") and "container_name" not in worker, "the worker must scale"
    assert "container_name" not in services["producer"] and "container_name" not in services["publisher"]

    for name, s in services.items():
        assert s.get("stop_signal") == "SIGTERM", name
        grace = s.get("stop_grace_period", "10s")
        m = re.fullmatch(r"(\d+(?:\.\d+)?)s", str(grace))
        assert m and float(m.group(1)) >= 3.0, f"{name}: stop_grace_period {grace!r} leaves no room"


def test_compose_health_check_pings_the_publishers_control_socket() -> None:
    services = _services()
    cluster = yaml.safe_load(CLUSTER.read_text())
    test = services["publisher"]["healthcheck"]["test"]
    assert test[0] == "CMD", test
    args = test[1:]
    assert args[:3] == ["streamconv", "ctl", "ping"], test
    control_ep = args[args.index("--control") + 1]
    assert _port(control_ep) == _port(cluster["service"]["control"])
    assert control_ep.startswith("tcp://127.0.0.1:"), "the check runs inside the publisher's container"
    assert "--timeout" in args

    # The check really works: against nothing it fails (69, no reply: Docker counts any non-zero
    # exit as unhealthy), against a publisher it passes (0).
    dead = _replace_option(args[1:], "--control", f"tcp://127.0.0.1:{free_port()}")
    r = _streamconv(_replace_option(dead, "--timeout", "0.3"))
    assert r.returncode == exitcodes.UNAVAILABLE, (r.returncode, r.stdout, r.stderr)

    for name in ("producer", "worker", "logger"):
        s = services[name]
        assert s["depends_on"]["publisher"]["condition"] == "service_healthy", name
        # The image's HEALTHCHECK would ping a control socket these containers do not have.
        assert s.get("healthcheck", {}).get("disable") is True, name


@pytest.mark.parametrize("role", ROLE_SERVICES)
def test_compose_role_command_passes_check(role: str) -> None:
    argv = _argv(_services()[role])
    assert argv[0] == "run" and argv[argv.index("--role") + 1] == role, argv
    config = argv[argv.index("--config") + 1]
    assert (REPO / config).resolve() == CLUSTER, f"{role} must run configs/cluster.yaml, got {config}"
    r = _streamconv([*argv, "--check"])
    assert r.returncode == 0, f"{argv} --check: exit {r.returncode}\n{r.stdout}\n{r.stderr}"
    assert "config OK" in r.stdout and f"(role {role})" in r.stdout, r.stdout


def test_compose_logger_command_parses_and_runs(tmp_path: Path) -> None:
    service = _services()["logger"]
    argv = _argv(service)
    assert argv[0] == "log", argv
    out = argv[argv.index("--out") + 1]
    mounts = [str(v).split(":") for v in service["volumes"]]
    assert any(out.startswith(target.rstrip("/") + "/") and host.startswith("./logs")
               for host, target, *_ in mounts), f"--out {out} must be in the ./logs volume {mounts}"
    endpoint = argv[argv.index("--endpoint") + 1]
    assert endpoint == "tcp://publisher:5555", endpoint

    local = tmp_path / "logs" / Path(out).name
    args = _replace_option(_replace_option(argv, "--out", str(local)), "--endpoint",
                           f"tcp://127.0.0.1:{free_port()}")
    r = _streamconv([*args, "--duration", "0.5"])
    assert r.returncode == 0, f"{args}: exit {r.returncode}\n{r.stdout}\n{r.stderr}"
    assert local.is_dir() and (local / "gaps.csv").exists(), sorted(p.name for p in local.iterdir())


def test_compose_ctl_command_parses() -> None:
    ctl = _services()["ctl"]
    argv = _argv(ctl)
    cluster = yaml.safe_load(CLUSTER.read_text())
    # The control socket binds the publisher container's loopback: ctl joins its network namespace.
    assert ctl.get("network_mode") == "service:publisher", ctl
    assert argv[0] == "ctl" and argv[argv.index("--control") + 1] == cluster["service"]["control"], argv
    # Nothing answers on a free port: exit 69 (no reply), not 2 (a bad command line).
    r = _streamconv([*argv, "--control", f"tcp://127.0.0.1:{free_port()}", "--timeout", "0.3"])
    assert r.returncode == exitcodes.UNAVAILABLE, (r.returncode, r.stdout, r.stderr)
    assert "no reply" in r.stderr, r.stderr


# -- configs/cluster.yaml ----------------------------------------------------------------------
def test_cluster_config_binds_every_interface_and_links_by_service_name() -> None:
    cluster = yaml.safe_load(CLUSTER.read_text())
    assert cluster["service"]["publish"] == "tcp://0.0.0.0:5555"
    # The control socket changes the filters: never on the network, so never `insecure`.
    assert cluster["service"]["control"] == "tcp://127.0.0.1:5556"
    assert cfg.is_loopback_endpoint(cluster["service"]["control"])
    assert cluster["service"]["insecure"] is True  # the publish socket and the links only
    services = _services()
    for link, owner in (("dispatch", "producer"), ("collect", "publisher")):
        addr = cluster["links"][link]
        bind, connect = addr["bind"], addr["connect"]
        assert bind.startswith("tcp://0.0.0.0:"), (link, bind)
        assert connect == f"tcp://{owner}:{_port(bind)}", (link, connect)
        assert owner in services
    # The embedded default's streams, as configs/default.yaml spells them.
    default = yaml.safe_load((REPO / "configs" / "default.yaml").read_text())
    assert cluster["streams"] == default["streams"]


# -- Dockerfile --------------------------------------------------------------------------------
def test_dockerfile_headless_opencv_non_root_healthcheck_entrypoint() -> None:
    instructions = _dockerfile_instructions()
    froms = [a for i, a in instructions if i == "FROM"]
    assert froms and froms[-1].startswith("python:3.11"), froms
    runs = " ; ".join(a for i, a in instructions if i == "RUN")
    assert "opencv-python-headless" in runs
    assert "libgl1" not in runs, "headless OpenCV needs no X/GL libraries"
    # Installing the package itself with its dependencies would pull opencv-python back in.
    for m in re.finditer(r"pip install ([^;&|]*)", runs):
        opts = m.group(1).split()
        if "." in opts or "/src" in opts:
            assert "--no-deps" in opts, f"`pip install {m.group(1)}` resolves opencv-python"
    users = [a for i, a in instructions if i == "USER"]
    assert users and users[-1].split(":")[0] not in ("root", "0"), users
    checks = [a for i, a in instructions if i == "HEALTHCHECK"]
    assert len(checks) == 1 and "streamconv" in checks[0] and "ctl" in checks[0] and "ping" in checks[0]
    entry = [a for i, a in instructions if i == "ENTRYPOINT"]
    assert entry and json.loads(entry[-1]) == ["streamconv"], entry
    workdirs = [a for i, a in instructions if i == "WORKDIR"]
    assert workdirs, "a WORKDIR"
    # The compose commands name configs/cluster.yaml relative to the final WORKDIR.
    last_workdir = max(n for n, (i, _a) in enumerate(instructions) if i == "WORKDIR")
    assert any(i == "COPY" and "configs" in a for i, a in instructions[last_workdir:]), instructions


# -- the compose topology as plain processes ---------------------------------------------------
def _local_cluster_config() -> dict[str, Any]:
    """configs/cluster.yaml with every endpoint on a free 127.0.0.1 port (no `insecure` needed)."""
    config = yaml.safe_load(CLUSTER.read_text())
    service = config["service"]
    service["publish"] = f"tcp://127.0.0.1:{free_port()}"
    service["control"] = f"tcp://127.0.0.1:{free_port()}"
    service.pop("insecure", None)  # all loopback now: a missed endpoint would fail the start
    for link in ("dispatch", "collect"):
        config["links"][link] = f"tcp://127.0.0.1:{free_port()}"
    return config


def _tail(path: Path, n: int = 6000) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError as exc:
        return f"<{exc}>"
    return text if len(text) <= n else "...\n" + text[-n:]


@pytest.mark.slow
@pytest.mark.timeout(180)
def test_compose_topology_as_plain_processes(tmp_path: Path) -> None:
    config = _local_cluster_config()
    cfg_path = tmp_path / "cluster-local.yaml"
    cfg_path.write_text(yaml.safe_dump(config))
    publish, control_ep = config["service"]["publish"], config["service"]["control"]
    services = _services()

    # The compose commands themselves, pointed at the local config; 3 workers as `--scale worker=3`.
    names = ["publisher", "producer", "worker-1", "worker-2", "worker-3"]
    seed = random.randrange(1 << 30)
    rng = random.Random(seed)
    rng.shuffle(names)
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    procs: dict[str, subprocess.Popen] = {}
    logs = {name: tmp_path / f"{name}.log" for name in [*names, "logger"]}

    def report(what: str) -> str:
        body = "\n".join(f"----- {n} (exit {p.poll()}) -----\n{_tail(logs[n])}" for n, p in procs.items())
        return f"{what}\nstart order {names} (seed {seed}); config:\n{cfg_path.read_text()}\n{body}"

    try:
        for name in names:
            argv = _replace_option(_argv(services[name.split("-")[0]]), "--config", str(cfg_path))
            with logs[name].open("w") as log:
                procs[name] = subprocess.Popen(
                    [sys.executable, "-m", "streamconv", *argv], cwd=REPO, stdout=log,
                    stderr=subprocess.STDOUT, env=env,
                )

        t0 = time.monotonic()
        deadline = t0 + 30
        counts = {"laser/smoothed": 0, "camera/sharpen": 0, "laser/raw": 0}
        with Subscriber(publish, list(counts)) as sub:
            try:
                first = sub.wait_ready(timeout=25)
            except TimeoutError as exc:
                raise AssertionError(report(f"nothing published: {exc}")) from None
            counts[first.topic] += 1
            # The logger service's own command, against this publisher, meanwhile.
            log_dir = tmp_path / "logs" / "run"
            log_argv = _replace_option(_argv(services["logger"]), "--out", str(log_dir))
            log_argv = _replace_option(log_argv, "--endpoint", publish)
            with logs["logger"].open("w") as log:
                procs["logger"] = subprocess.Popen(
                    [sys.executable, "-m", "streamconv", *log_argv, "--duration", "4"], cwd=REPO,
                    stdout=log, stderr=subprocess.STDOUT, env=env,
                )
            while counts["laser/smoothed"] < 30 or counts["camera/sharpen"] < 5:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(report(f"within 30 s only {counts}"))
                for name, p in procs.items():
                    if name != "logger" and p.poll() is not None:
                        raise AssertionError(report(f"{name} exited early ({p.returncode})"))
                try:
                    msg = sub.recv(timeout=min(left, 1.0))
                except TimeoutError:
                    continue
                counts[msg.topic] += 1
            received_s = time.monotonic() - t0
            assert sub.gaps == 0, report(f"gaps {sub.gaps}: {list(sub.gap_events)}")
            assert sub.malformed == 0, report(f"malformed {sub.malformed}")

        # Every worker admitted, the producer known: ask like `docker compose run --rm ctl status`.
        worker_pids = sorted(p.pid for n, p in procs.items() if n.startswith("worker"))
        roles: dict[str, Any] = {}
        while time.monotonic() < deadline + 10:
            roles = control.request({"cmd": "status"}, control_ep, timeout=2.0)["status"]["roles"]
            admitted = [w for w in roles["workers"] if w.get("state") == "admitted"]
            if len(admitted) == 3 and roles.get("producer"):
                break
            time.sleep(0.2)
        ctl_argv = [*_argv(services["ctl"]), "--json", "--control", control_ep]
        r = _streamconv(ctl_argv)
        assert r.returncode == 0, report(f"{ctl_argv}: exit {r.returncode}\n{r.stdout}\n{r.stderr}")
        roles = json.loads(r.stdout)["status"]["roles"]
        workers = roles["workers"]
        assert len(workers) == 3 and all(w["state"] == "admitted" for w in workers), report(
            f"workers: {json.dumps(workers, indent=1)}"
        )
        assert sorted(w["pid"] for w in workers) == worker_pids, report(f"worker pids {workers}")
        assert roles["producer"] and roles["producer"]["pid"] == procs["producer"].pid, report(
            f"producer: {roles['producer']}"
        )

        code = procs["logger"].wait(timeout=CMD_TIMEOUT)
        assert code == 0, report(f"logger exit {code}")
        rows = (log_dir / "laser__smoothed.csv").read_text().splitlines()
        assert len(rows) > 10, report(f"logger wrote {len(rows)} laser/smoothed rows")
        assert (log_dir / "gaps.csv").read_text().splitlines()[1:] == [], report("logger saw gaps")

        # SIGTERM each role process (shuffled order too); each exits 0 within 2 s.
        stop_order = list(names)
        rng.shuffle(stop_order)
        exits: dict[str, tuple[int | None, float]] = {}
        for name in stop_order:
            p = procs[name]
            t = time.monotonic()
            p.send_signal(signal.SIGTERM)
            try:
                code = p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                code = None
            exits[name] = (code, time.monotonic() - t)
        summary = ", ".join(f"{n}: exit {c} in {s:.2f} s" for n, (c, s) in exits.items())
        print(f"\nreceived {counts} in {received_s:.1f} s; start {names}; SIGTERM {summary}")
        (tmp_path / "exits.txt").write_text(summary + "\n")
        bad = {n: e for n, e in exits.items() if e[0] != 0 or e[1] >= 2.0}
        assert not bad, report(f"SIGTERM: {summary}")
    finally:
        for p in procs.values():
            if p.poll() is None:
                p.kill()
                p.wait(5)
