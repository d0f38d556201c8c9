"""Daemons and helper processes for the benchmarks: start, wait ready, pause, measure, stop.

Every process is started in a new session (its own process group), so that pausing it
(``SIGSTOP``/``SIGCONT``) and killing it reach any children it has, and nothing is left behind:
:class:`Proc` is a context manager whose exit sends ``SIGTERM``, waits, then ``SIGKILL``s the
group.  CPU time and RSS are read from ``/proc`` for every process of the group.  A process
whose children make groups of their own (Ray puts each actor in one) is started with
``session=True``: it is then measured over its whole session, and whatever is left in the
session after it exited is killed and recorded (:attr:`Proc.leftovers`).
"""

from __future__ import annotations

import copy
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import TracebackType
from typing import Any, Self

__all__ = [
    "MEASURE_QUEUE_BYTES",
    "Daemon",
    "Proc",
    "bench_720p_config",
    "control_stats",
    "default_config",
    "free_endpoints",
    "group_cpu_seconds",
    "group_rss_bytes",
    "session_processes",
    "thread_cpu",
    "thread_cpu_delta",
]

#: A measuring subscriber's byte budget: enough that the bench process never drops a frame
#: itself (the default 64 MiB is 24 frames of 720p), so every gap it counts is the daemon's.
MEASURE_QUEUE_BYTES = 1 << 30

_CLK_TCK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
_REPO_CONFIGS = Path(__file__).resolve().parents[2] / "configs"

#: configs/bench-720p.yaml, used when the repository's copy is not there (an installed package).
BENCH_720P: dict[str, Any] = {
    "service": {"control": None},
    "streams": {
        "camera": {
            "source": {"kind": "synthetic", "width": 1280, "height": 720, "fps": 0},
            "publish_raw": False,
            "outputs": {"sharpen": {"kind": "kernel2d", "kernel": "sharpen", "padding": "same"}},
        }
    },
}


def free_endpoints(n: int) -> list[str]:
    """Return ``n`` distinct ``tcp://127.0.0.1:PORT`` endpoints whose ports were free just now."""
    socks, out = [], []
    try:
        for _ in range(n):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.bind(("127.0.0.1", 0))
            socks.append(s)
            out.append(f"tcp://127.0.0.1:{s.getsockname()[1]}")
    finally:
        for s in socks:
            s.close()
    return out


def bench_720p_config() -> dict[str, Any]:
    """Return configs/bench-720p.yaml as a dict (the repository's file when present)."""
    import yaml

    path = _REPO_CONFIGS / "bench-720p.yaml"
    if path.is_file():
        return yaml.safe_load(path.read_text(encoding="utf-8"))
    return copy.deepcopy(BENCH_720P)


def default_config() -> dict[str, Any]:
    """Return the embedded default config (what ``streamconv run`` runs with no file) as a dict."""
    import yaml

    from streamconv import config as cfg

    return yaml.safe_load(cfg.dump_yaml(cfg.load(None)))


def _proc_stat(pid: int) -> list[str] | None:
    """Fields of ``/proc/PID/stat`` after the command name (index 0 is the state), or None."""
    try:
        with open(f"/proc/{pid}/stat", encoding="utf-8", errors="replace") as fh:
            text = fh.read()
    except OSError:
        return None
    return text[text.rindex(")") + 2 :].split()


def _group_pids(pgid: int, *, session: bool = False) -> list[int]:
    """Return the pids of the live processes of group ``pgid`` (with ``session``: of session ``pgid``)."""
    field = 3 if session else 2  # pgrp, session: fields 5 and 6 of stat
    pids = []
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        fields = _proc_stat(int(name))
        if fields is not None and int(fields[field]) == pgid:
            pids.append(int(name))
    return pids


def group_cpu_seconds(pgid: int, *, session: bool = False) -> float:
    """User + system CPU seconds of every live process in group ``pgid`` (and children reaped by them).

    With ``session``, of every live process in session ``pgid`` (whatever its group).
    """
    total = 0
    for pid in _group_pids(pgid, session=session):
        fields = _proc_stat(pid)
        if fields is not None:
            # utime, stime, cutime, cstime are fields 14-17 of stat: indices 11-14 here.
            total += sum(int(x) for x in fields[11:15])
    return total / _CLK_TCK


def group_rss_bytes(pgid: int, *, session: bool = False) -> int:
    """Sum of ``VmRSS`` of every live process in group ``pgid`` (with ``session``: in session ``pgid``)."""
    total = 0
    for pid in _group_pids(pgid, session=session):
        try:
            with open(f"/proc/{pid}/status", encoding="utf-8") as fh:
                for line in fh:
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1]) * 1024
                        break
        except OSError:
            continue
    return total


def session_processes(sid: int) -> list[tuple[int, str]]:
    """``(pid, command line)`` of every live process in session ``sid``, zombies left out."""
    out = []
    for pid in _group_pids(sid, session=True):
        fields = _proc_stat(pid)
        if fields is None or fields[0] in ("Z", "X"):
            continue
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as fh:
                cmd = fh.read().replace(b"\0", b" ").decode("utf-8", "replace").strip()
        except OSError:
            continue
        out.append((pid, cmd))
    return out


def thread_cpu(pgid: int) -> dict[tuple[int, int], tuple[str, float]]:
    """CPU seconds per thread of every process in group ``pgid``: ``{(pid, tid): (name, seconds)}``.

    Python threads all carry the interpreter's name; ZeroMQ's I/O threads are ``ZMQbg/IO/N``.
    """
    out: dict[tuple[int, int], tuple[str, float]] = {}
    for pid in _group_pids(pgid):
        try:
            tids = os.listdir(f"/proc/{pid}/task")
        except OSError:
            continue
        for tid in tids:
            try:
                with open(f"/proc/{pid}/task/{tid}/stat", encoding="utf-8", errors="replace") as fh:
                    text = fh.read()
            except OSError:
                continue
            name = text[text.index("(") + 1 : text.rindex(")")]
            fields = text[text.rindex(")") + 2 :].split()
            out[(pid, int(tid))] = (name, (int(fields[11]) + int(fields[12])) / _CLK_TCK)
    return out


def thread_cpu_delta(
    before: dict[tuple[int, int], tuple[str, float]], after: dict[tuple[int, int], tuple[str, float]],
    seconds: float,
) -> list[dict[str, Any]]:
    """Per-thread CPU% between two :func:`thread_cpu` snapshots, busiest first (100% = one core)."""
    rows = []
    for key, (name, cpu) in after.items():
        used = cpu - before.get(key, (name, 0.0))[1]
        rows.append({"pid": key[0], "tid": key[1], "name": name,
                     "cpu_percent": 100.0 * used / seconds if seconds > 0 else 0.0})
    return sorted(rows, key=lambda r: -r["cpu_percent"])


def control_stats(endpoint: str) -> dict[str, Any]:
    """Return ``ctl stats`` of the publisher at ``endpoint`` (``{}`` if it does not answer)."""
    from streamconv import control

    try:
        reply = control.request({"cmd": "stats"}, endpoint, timeout=2.0)
    except TimeoutError:
        return {}
    return reply.get("stats", {}) if reply.get("ok") else {}


class Proc:
    """A subprocess in its own process group, stopped for sure on exit.

    Parameters
    ----------
    argv : list of str
        The command.
    name : str
        For messages and the log file name.
    log_dir : Path, optional
        Where its stdout+stderr go (``NAME.log``); a temporary directory by default.
    env : dict, optional
        Its environment (this one's by default).
    session : bool
        Measure the whole session (every process it starts, whatever their process groups) and,
        on :meth:`stop`, kill what is left in the session once it exited: see :attr:`leftovers`.
    """

    #: How long :meth:`stop` lets the rest of a ``session=True`` process's session exit by itself.
    SESSION_GRACE_S = 3.0

    def __init__(self, argv: list[str], *, name: str, log_dir: Path | None = None,
                 env: dict[str, str] | None = None, session: bool = False) -> None:
        self.argv = argv
        self.name = name
        self.session = session
        #: ``(pid, command line)`` of what was left in the session after the process exited (and
        #: was then killed); only with ``session=True``.
        self.leftovers: list[tuple[int, str]] = []
        #: Seconds from SIGTERM to the process's exit in :meth:`stop` (None: not stopped by it).
        self.stop_seconds: float | None = None
        self._tmp = None if log_dir is not None else tempfile.TemporaryDirectory(prefix=f"sc-bench-{name}-")
        self.dir = Path(log_dir if log_dir is not None else self._tmp.name)  # type: ignore[union-attr]
        self.log_path = self.dir / f"{name}.log"
        self._log = open(self.log_path, "wb")  # closed in stop()
        self.popen = subprocess.Popen(
            argv, stdout=self._log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            start_new_session=True, env=env,
        )
        self.pid = self.popen.pid
        self.paused = False
        self.returncode: int | None = None

    # -- state ---------------------------------------------------------------------------------
    def alive(self) -> bool:
        """Whether the process is still running."""
        return self.popen.poll() is None

    def log_tail(self, lines: int = 15) -> str:
        """Return the last lines of its output (for error messages)."""
        try:
            text = self.log_path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    def cpu_seconds(self) -> float:
        """CPU seconds used so far by the whole process group (the session with ``session``)."""
        return group_cpu_seconds(self.pid, session=self.session)

    def threads(self) -> dict[tuple[int, int], tuple[str, float]]:
        """CPU seconds per thread of the group now (see :func:`thread_cpu`)."""
        return thread_cpu(self.pid)

    def rss_bytes(self) -> int:
        """Resident memory of the whole process group (the session with ``session``) now."""
        return group_rss_bytes(self.pid, session=self.session)

    # -- control -------------------------------------------------------------------------------
    def _signal_group(self, sig: int) -> None:
        try:
            os.killpg(self.pid, sig)
        except ProcessLookupError:
            pass

    def pause(self) -> None:
        """Stop the whole group (``SIGSTOP``): it uses no CPU until :meth:`resume`."""
        self._signal_group(signal.SIGSTOP)
        self.paused = True

    def resume(self) -> None:
        """Continue the group after :meth:`pause`."""
        self._signal_group(signal.SIGCONT)
        self.paused = False

    def stop(self, timeout: float = 10.0) -> int | None:
        """Send ``SIGTERM``, wait up to ``timeout`` s, then ``SIGKILL`` the group; return the exit code.

        With ``session``, then wait up to :data:`SESSION_GRACE_S` for the rest of the session to
        exit, record what is still there in :attr:`leftovers` and ``SIGKILL`` it, by pid.
        """
        if self.paused:
            self.resume()
        if self.popen.poll() is None:
            t0 = time.monotonic()
            try:
                self.popen.send_signal(signal.SIGTERM)
            except ProcessLookupError:
                pass
            try:
                self.popen.wait(timeout)
            except subprocess.TimeoutExpired:
                self._signal_group(signal.SIGKILL)
                self.popen.wait(5)
            self.stop_seconds = time.monotonic() - t0
        self.returncode = self.popen.returncode
        self._signal_group(signal.SIGKILL)  # any child left in the group
        if self.session:
            self._kill_session_leftovers()
        if not self._log.closed:
            self._log.close()
        return self.returncode

    def _kill_session_leftovers(self) -> None:
        deadline = time.monotonic() + self.SESSION_GRACE_S
        while (left := session_processes(self.pid)) and time.monotonic() < deadline:
            time.sleep(0.1)
        if not left:
            return
        self.leftovers.extend(left)
        for pid, _ in left:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass

    def cleanup(self) -> None:
        """Stop, then remove the temporary directory (if it made one)."""
        self.stop()
        if self._tmp is not None:
            self._tmp.cleanup()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.cleanup()


class Daemon(Proc):
    """``streamconv run -c CONFIG`` on free loopback ports, as a subprocess.

    Parameters
    ----------
    config : dict
        A config as a dict; its ``service.publish`` and ``service.control`` are replaced by free
        loopback endpoints (:attr:`publish`, :attr:`control`): tcp ports, or for an ``ipc://``
        publish endpoint a socket file in the daemon's temporary directory.
    name : str
        For messages and file names.
    log_level : str
        Its ``--log-level``.
    env : dict, optional
        Its environment (this one's by default).
    session : bool
        See :class:`Proc`: for a daemon that starts processes in groups of their own (a
        ``cluster:`` section's Ray cluster).
    """

    def __init__(self, config: dict[str, Any], *, name: str = "daemon", log_level: str = "info",
                 env: dict[str, str] | None = None, session: bool = False) -> None:
        import yaml

        self.publish, self.control = free_endpoints(2)
        tmp = tempfile.TemporaryDirectory(prefix=f"sc-bench-{name}-")
        config = copy.deepcopy(config)
        service = dict(config.get("service") or {})
        if str(service.get("publish", "")).startswith("ipc://"):  # keep the transport, not the path
            self.publish = f"ipc://{tmp.name}/publish.sock"
        service["publish"] = self.publish
        service["control"] = self.control
        config["service"] = service
        self.config = config
        config_path = Path(tmp.name) / f"{name}.yaml"
        config_path.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
        self.config_path = config_path
        argv = [sys.executable, "-m", "streamconv", "run", "-c", str(config_path), "--log-level", log_level]
        try:
            super().__init__(argv, name=name, log_dir=Path(tmp.name), env=env, session=session)
        except BaseException:
            tmp.cleanup()
            raise
        self._tmp = tmp

    def wait_ready(self, timeout: float = 20.0) -> float:
        """Wait until the control socket answers ``ping``; return the seconds it took.

        Raises
        ------
        RuntimeError
            If the daemon exits first or does not answer within ``timeout`` (with its log's tail).
        """
        from streamconv import control

        t0 = time.monotonic()
        while True:
            if not self.alive():
                raise RuntimeError(
                    f"{self.name} exited with code {self.popen.returncode} before answering ping:\n"
                    + self.log_tail()
                )
            try:
                reply = control.request({"cmd": "ping"}, self.control, timeout=0.25)
                if reply.get("ok"):
                    return time.monotonic() - t0
            except TimeoutError:
                pass
            if time.monotonic() - t0 > timeout:
                raise RuntimeError(f"{self.name} did not answer ping within {timeout} s:\n" + self.log_tail())

    def stats(self) -> dict[str, Any]:
        """Return the daemon's own ``_stats`` (per topic rate, capture-to-publish latency, drops)."""
        return control_stats(self.control)
