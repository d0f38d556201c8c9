"""docs/scale-out.md, docker-compose.ray.yml and configs/ray-compose.yaml must stay true of each other.

Checked without Ray or Docker:
- every ``yaml`` block of the doc is a config that validates, or starts with ``# invalid:`` and
  raises ConfigError with what the ``run --check`` console block after it shows;
- configs/ray-compose.yaml passes ``streamconv run --check``;
- docker-compose.ray.yml: one image (built with EXTRAS=cluster) for every service, the config
  files its commands name exist, published ports are on 127.0.0.1, and the addresses of the config
  (cluster.address, the links, the control socket) name the compose services that run them;
- the Dockerfile's requirements step, run for EXTRAS=cluster, lists ray and only the headless OpenCV.
"""

from __future__ import annotations

import json
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from streamconv import cli
from streamconv import config as cfg
from streamconv.errors import ConfigError
from tests._docs import code_blocks

ROOT = Path(__file__).resolve().parents[1]
DOC_PATH = ROOT / "docs" / "scale-out.md"
DOC = DOC_PATH.read_text(encoding="utf-8")
COMPOSE_PATH = ROOT / "docker-compose.ray.yml"
COMPOSE = yaml.safe_load(COMPOSE_PATH.read_text(encoding="utf-8"))
CONFIG_REL = "configs/ray-compose.yaml"
CONFIG = cfg.load(ROOT / CONFIG_REL)
SERVICES = COMPOSE["services"]


# ------------------------------------------------------------------------------ the doc's blocks
BLOCKS = code_blocks(DOC)
YAML_BLOCKS = [b for b in BLOCKS if b.lang == "yaml"]
VALID = [b for b in YAML_BLOCKS if not b.text.lstrip().startswith("# invalid:")]
INVALID = [b for b in YAML_BLOCKS if b.text.lstrip().startswith("# invalid:")]


def test_the_doc_has_configs_to_check():
    assert len(VALID) >= 2 and len(INVALID) >= 1
    two_hosts = [b for b in VALID if "placement" in b.text and "curve_secret_key_file" in b.text]
    assert two_hosts, "the two-host example (placement, CurveZMQ keys) is missing"


@pytest.mark.parametrize("block", VALID, ids=lambda b: f"line{b.line}")
def test_yaml_blocks_validate(block):
    config = cfg.parse(yaml.safe_load(block.text), source=f"{DOC_PATH.name}:{block.line}")
    assert config.cluster is not None, "every config on this page runs on a cluster"


@pytest.mark.parametrize("block", INVALID, ids=lambda b: f"line{b.line}")
def test_invalid_blocks_raise_and_print_what_the_doc_shows(block, tmp_path, capsys):
    path = tmp_path / "bad.yaml"
    path.write_text(block.text, encoding="utf-8")
    with pytest.raises(ConfigError):
        cfg.parse(yaml.safe_load(block.text))
    following = [b for b in BLOCKS if b.line > block.line]
    assert following and following[0].lang == "console", f"line {block.line}: no console output after it"
    console = following[0].text.splitlines()
    m = re.search(r"run --check -c (\S+?);", console[0])
    assert console[0].startswith("$ ") and m, f"line {following[0].line}: expected a `run --check -c` command"
    expected_code = int(console[-1].removeprefix("exit code "))
    code = cli.main(["run", "--check", "-c", str(path)])
    err = capsys.readouterr().err.replace(str(path), m.group(1))
    assert code == expected_code == 2
    assert err.splitlines() == console[1:-1]


def test_the_two_host_config_pins_the_producer_to_the_host_that_binds_dispatch():
    block = next(b for b in VALID if "curve_secret_key_file" in b.text)
    config = cfg.parse(yaml.safe_load(block.text))
    nodes = {s.placement.node for s in config.streams.values() if s.placement and s.placement.node}
    assert nodes == {"camera"}
    assert f"--resources='{{\"{nodes.pop()}\": 1}}'" in DOC  # the `ray start` that offers it
    assert config.service.curve_secret_key_file is not None
    assert Path(config.service.curve_secret_key_file).is_absolute()  # actors run in other directories
    for name in cfg.LINK_NAMES:
        assert config.links.bind_address(name).startswith("tcp://")


# ------------------------------------------------------------------------------ the shipped config
def test_ray_compose_config_passes_check(capsys):
    assert cli.main(["run", "--check", "-c", str(ROOT / CONFIG_REL)]) == 0
    assert capsys.readouterr().out.startswith("config OK: ")


def test_the_shipped_config_and_compose_file_are_in_the_docs():
    assert "configs/ray-compose.yaml" in DOC and "docker-compose.ray.yml" in DOC
    assert "`configs/ray-compose.yaml`" in (ROOT / "docs" / "configuration.md").read_text(encoding="utf-8")
    assert "docs/scale-out.md" in (ROOT / "README.md").read_text(encoding="utf-8")


# ------------------------------------------------------------------------------ docker-compose.ray.yml
def _argv(service: dict) -> list[str]:
    """The service's entrypoint and command as one argv (a `sh -c` script stays one string)."""
    def listed(v: str | list[str] | None) -> list[str]:
        return [] if v is None else shlex.split(v) if isinstance(v, str) else list(v)

    return listed(service.get("entrypoint")) + listed(service.get("command"))


def _shell_commands(service: dict) -> list[list[str]]:
    """The commands a service runs: each `&&` part of a `sh -c` script, or its argv."""
    argv = _argv(service)
    if argv[:2] == ["sh", "-c"]:
        return [shlex.split(part) for part in argv[2].split("&&")]
    return [argv]


def _flag(argv: list[str], name: str) -> str:
    values = [a.split("=", 1)[1] for a in argv if a.startswith(f"{name}=")]
    assert len(values) == 1, f"{name} in {argv}"
    return values[0]


def _ray_start(service: str) -> list[str]:
    runs = [c for c in _shell_commands(SERVICES[service]) if c[:2] == ["ray", "start"]]
    assert len(runs) == 1, f"{service}: expected one `ray start`, got {runs}"
    return runs[0]


def _host_port(endpoint: str) -> tuple[str, int]:
    host, _, port = endpoint.removeprefix("tcp://").rpartition(":")
    return host, int(port)


def test_the_services_are_a_head_workers_and_ctl():
    assert set(SERVICES) == {"ray-head", "ray-worker", "ctl"}
    assert "--head" in _ray_start("ray-head")
    assert "--block" in _ray_start("ray-worker") and "--head" not in _ray_start("ray-worker")


def test_every_service_uses_the_one_cluster_image():
    images = {s.get("image") for s in SERVICES.values()}
    builds = {json.dumps(s.get("build"), sort_keys=True) for s in SERVICES.values()}
    assert images == {"streamconv:cluster"}
    assert len(builds) == 1
    build = next(iter(SERVICES.values()))["build"]
    assert build["context"] == "."
    assert build["args"]["EXTRAS"] == "cluster"
    dockerfile = (ROOT / "Dockerfile").read_text(encoding="utf-8")
    assert re.search(r"^ARG EXTRAS=", dockerfile, re.M)
    assert re.search(r"^COPY .*\bconfigs ", dockerfile, re.M)  # the image has configs/ in its workdir
    pyproject = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    assert re.search(r'^cluster = \["ray', pyproject, re.M)


def test_the_commands_name_files_that_exist():
    named = []
    for name, service in SERVICES.items():
        for argv in _shell_commands(service):
            for i, arg in enumerate(argv):
                if arg in ("--config", "-c") and i + 1 < len(argv):
                    named.append((name, argv[i + 1]))
                elif re.match(r"^(configs|docs|streamconv)/", arg):
                    named.append((name, arg))
    assert ("ray-head", CONFIG_REL) in named, named
    for service, rel in named:
        assert (ROOT / rel).is_file(), f"{service} names {rel}, which does not exist"


def test_published_ports_are_on_the_host_loopback_only():
    published = {name: s.get("ports", []) for name, s in SERVICES.items() if s.get("ports")}
    assert set(published) == {"ray-head"}, "only the publisher's container publishes a port"
    _, publish_port = _host_port(CONFIG.service.publish)
    for entry in published["ray-head"]:
        assert isinstance(entry, str) and entry.startswith("127.0.0.1:"), entry
        assert entry.rsplit(":", 1)[1] == str(publish_port), entry
    for name, service in SERVICES.items():
        assert "network_mode" not in service or service["network_mode"] == "service:ray-head", name


def test_the_config_names_the_compose_services():
    head = _ray_start("ray-head")
    host, _, port = CONFIG.cluster.address.rpartition(":")
    assert host == "ray-head" and host in SERVICES
    assert _flag(head, "--port") == port
    assert _flag(_ray_start("ray-worker"), "--address") == CONFIG.cluster.address
    # the links connect to ray-head: the publisher (collect) runs in the driver there, and the
    # producer (dispatch) is pinned there by a resource only ray-head's `ray start` offers
    for name in cfg.LINK_NAMES:
        bind = CONFIG.links.bind_address(name)
        connect = getattr(CONFIG.links, name).connect
        assert _host_port(connect)[0] == "ray-head", (name, connect)
        assert _host_port(bind) == ("0.0.0.0", _host_port(connect)[1]), (name, bind)
    nodes = {s.placement.node for s in CONFIG.streams.values() if s.placement and s.placement.node}
    assert len(nodes) == 1
    assert nodes <= set(json.loads(_flag(head, "--resources")))
    assert "--resources" not in " ".join(_ray_start("ray-worker"))
    # the producer takes all the head's CPUs, each worker a whole ray-worker container
    assert CONFIG.cluster.producer_cpus == float(_flag(head, "--num-cpus"))
    assert CONFIG.cluster.cpus_per_worker == float(_flag(_ray_start("ray-worker"), "--num-cpus"))
    assert CONFIG.service.insecure and _host_port(CONFIG.service.publish)[0] == "0.0.0.0"


def test_the_driver_runs_the_config_on_the_head_and_ctl_reaches_its_control_socket():
    head_cmds = _shell_commands(SERVICES["ray-head"])
    assert head_cmds[-1][:3] == ["exec", "streamconv", "run"], head_cmds  # SIGTERM reaches the driver
    assert head_cmds[-1][3:] == ["--config", CONFIG_REL]
    control = CONFIG.service.control
    assert control is not None and cfg.is_loopback_endpoint(control)
    assert SERVICES["ray-head"]["healthcheck"]["test"][1:5] == ["streamconv", "ctl", "ping", "--control"]
    assert SERVICES["ray-head"]["healthcheck"]["test"][5] == control
    assert SERVICES["ctl"]["network_mode"] == "service:ray-head"
    assert _argv(SERVICES["ctl"])[:4] == ["streamconv", "ctl", "--control", control]
    assert SERVICES["ray-worker"]["depends_on"]["ray-head"]["condition"] == "service_healthy"


def test_ray_runs_with_token_auth_and_no_dashboard():
    for name in ("ray-head", "ray-worker"):
        env = SERVICES[name]["environment"]
        assert env["RAY_AUTH_MODE"] == "token"
        assert env["RAY_AUTH_TOKEN"].startswith("${RAY_AUTH_TOKEN:?"), "compose must refuse to run without it"
    assert _flag(_ray_start("ray-head"), "--include-dashboard") == "false"


# ------------------------------------------------------------------------------ the Dockerfile
def _requirements_code() -> str:
    text = (ROOT / "Dockerfile").read_text(encoding="utf-8")
    m = re.search(r'^RUN python -c "(.*?)" > /tmp/requirements\.txt', text, re.M)
    assert m, "the Dockerfile's requirements step is not where this test looks"
    return m.group(1).replace('\\"', '"')  # as /bin/sh passes it inside double quotes


@pytest.mark.parametrize("extras", ["", "cluster"])
def test_the_dockerfile_requirements_swap_opencv_for_every_extra(extras):
    r = subprocess.run([sys.executable, "-c", _requirements_code()], cwd=ROOT, capture_output=True,
                       text=True, timeout=30, env={"EXTRAS": extras, "PATH": ""})
    assert r.returncode == 0, r.stderr
    names = [re.match(r"[A-Za-z0-9_.-]+", line).group(0).lower() for line in r.stdout.splitlines()]
    assert "opencv-python-headless" in names and "opencv-python" not in names
    assert ("ray" in names) == (extras == "cluster")


def test_the_dockerfile_requirements_refuse_an_unknown_extra():
    r = subprocess.run([sys.executable, "-c", _requirements_code()], cwd=ROOT, capture_output=True,
                       text=True, timeout=30, env={"EXTRAS": "clutser", "PATH": ""})
    assert r.returncode == 1 and "no extra ['clutser']" in r.stderr, r.stderr
