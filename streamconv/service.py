"""The daemon: starts the actors, handles signals, serves the control socket, shuts down cleanly."""

from __future__ import annotations

import contextlib
import json
import logging
import signal
import threading
import time
from collections.abc import Iterator
from types import FrameType
from typing import Any

import zmq

from streamconv import config as cfg
from streamconv import wire
from streamconv.actors import (
    Counters,
    FrameSourceActor,
    PublisherActor,
    SampleSourceActor,
    Subscriptions,
    WorkerActor,
)
from streamconv.errors import ConfigError
from streamconv.pipeline import StreamPipeline
from streamconv.sockets import EndpointInUseError, TrackingPublisher

__all__ = [
    "EXIT_CONFIG",
    "EXIT_ERROR",
    "EXIT_FORCED",
    "EXIT_OK",
    "Service",
    "make_source",
    "run",
]

log = logging.getLogger(__name__)

#: Exit codes of ``streamconv run``.
EXIT_OK = 0
EXIT_ERROR = 1  # an actor failed
EXIT_CONFIG = 2  # a bad config or an endpoint in use
EXIT_FORCED = 130  # a second signal: immediate exit

MAX_CONTROL_BYTES = 1 << 20
#: Automatic PUB high-water marks (messages queued per subscriber before ZeroMQ drops for it):
#: lossless headroom for sensor-only configs; with video, a bound on what a stalled subscriber
#: can make the daemon hold (100 frames of 640x480 BGR is 92 MB; of 720p, 276 MB).
AUTO_HWM_SENSORS = 10_000
AUTO_HWM_VIDEO = 100


def make_source(source: Any) -> Any:
    """Build the source object of a validated source config."""
    if isinstance(source, cfg.LaserSourceConfig):
        from streamconv.sources.laser import LaserSimulator

        return LaserSimulator(
            rate_hz=source.rate_hz, noise_std=source.noise_std, outlier_prob=source.outlier_prob,
            dropout_prob=source.dropout_prob, seed=source.seed,
        )
    if isinstance(source, cfg.SyntheticSourceConfig):
        from streamconv.sources.synthetic import SyntheticCamera

        return SyntheticCamera(width=source.width, height=source.height, fps=source.fps, seed=source.seed)
    if isinstance(source, cfg.CameraSourceConfig):
        from streamconv.sources.camera import CameraSource

        return CameraSource(
            source.device, width=source.width, height=source.height, fps=source.fps, loop=source.loop
        )
    raise TypeError(f"unknown source config {type(source).__name__}")



def subscribe_hint(config: cfg.Config) -> str:
    """Return a topic worth subscribing to: the first output of the first stream (or its raw).

    Examples
    --------
    >>> subscribe_hint(cfg.load(None))
    'laser/smoothed'
    """
    for name, stream in config.streams.items():
        return f"{name}/{next(iter(stream.outputs), 'raw')}"
    return "_stats"

class Service:
    """The streamconv daemon: ``startup()``, ``serve()`` until stopped, ``shutdown()``.

    Parameters
    ----------
    config : Config
        A validated configuration.
    """

    def __init__(self, config: cfg.Config) -> None:
        self.config = config
        self.epoch = wire.new_epoch()
        self.stop_event = threading.Event()  # sources stop
        self.drain_event = threading.Event()  # workers and publisher finish what is queued, then stop
        self.should_exit = threading.Event()
        self.counters = Counters()
        self.pipelines: dict[str, StreamPipeline] = {}
        self.sources: list[Any] = []
        self.workers: list[WorkerActor] = []
        self.publisher: PublisherActor | None = None
        self.control: ControlActor | None = None
        self.ctx: zmq.Context | None = None
        self.pub: TrackingPublisher | None = None
        self.subscriptions = Subscriptions()
        self.started_ns = 0
        self.control_errors = 0

    # -- lifecycle ---------------------------------------------------------------------------
    def startup(self) -> None:
        """Bind the endpoints and start every actor; raise EndpointInUseError if a port is taken."""
        svc = self.config.service
        for name in ("publish", "control"):
            endpoint = getattr(svc, name)
            if endpoint and not cfg.is_loopback_endpoint(endpoint) and svc.curve_secret_key_file is None:
                log.warning(
                    "INSECURE: %s endpoint %s is reachable from other hosts without CurveZMQ "
                    "(insecure: true); anyone who can connect can read the streams%s",
                    name, endpoint, " and change the filters" if name == "control" else "",
                )
        secret = None
        if svc.curve_secret_key_file is not None:
            from streamconv.keys import read_secret_key

            secret = read_secret_key(svc.curve_secret_key_file)
        self.ctx = zmq.Context()
        self.started_ns = time.time_ns()
        try:
            self.pub = TrackingPublisher(
                svc.publish, context=self.ctx, sndhwm=self.publish_hwm(), linger_ms=500,
                curve_secret_key=secret,
            )
            if svc.control:
                self.control = ControlActor(self, svc.control, curve_secret_key=secret)
        except BaseException:
            self._close_sockets()
            raise
        self.publisher = PublisherActor(
            self.pub, ctx=self.ctx, epoch=self.epoch, stop=self.drain_event, counters=self.counters,
            stats_interval_s=svc.stats_interval_s, in_hwm=svc.sensor_queue,
            subscriptions=self.subscriptions,
        )
        for name, stream in self.config.streams.items():
            pipeline = StreamPipeline(name, stream)
            self.pipelines[name] = pipeline
            sampled = pipeline.sampled
            hwm = svc.sensor_queue if sampled else svc.video_queue
            worker = WorkerActor(
                pipeline, ctx=self.ctx, epoch=self.epoch, stop=self.stop_event, drain=self.drain_event,
                counters=self.counters, in_hwm=hwm, out_hwm=svc.sensor_queue if sampled else 4 * hwm,
                lossless=sampled or _unthrottled(stream.source), publish_raw=stream.publish_raw,
                subscriptions=self.subscriptions,
            )
            self.workers.append(worker)
            source = make_source(stream.source)
            if sampled:
                actor: Any = SampleSourceActor(
                    name, source, ctx=self.ctx, epoch=self.epoch, batch=stream.source.batch,
                    max_batch_delay_s=stream.source.max_batch_delay_ms / 1e3, stop=self.stop_event,
                    counters=self.counters, hwm=hwm, subscriptions=self.subscriptions,
                )
            else:
                actor = FrameSourceActor(
                    name, source, ctx=self.ctx, epoch=self.epoch, stop=self.stop_event,
                    counters=self.counters, hwm=hwm, needed=_frames_needed(pipeline, self.subscriptions),
                )
            self.sources.append(actor)
        # start downstream first, so that nothing is sent before its receiver exists
        self.publisher.start()
        for w in self.workers:
            w.start()
        for s in self.sources:
            s.start()
        if self.control:
            self.control.start()
        if self.pub.curve_public_key is not None:
            log.info("CurveZMQ on: clients need the server key %s", self.pub.curve_public_key.decode())
        log.info(
            "streamconv running: publishing on %s, control on %s, streams %s (epoch %s)",
            self.pub.bound_endpoint, svc.control or "off", ", ".join(self.config.streams) or "none",
            self.epoch,
        )

    def serve(self) -> int:
        """Run until asked to stop; log a status line every ``status_interval_s``; return an exit code."""
        interval = self.config.service.status_interval_s
        next_status = time.monotonic() + interval
        code = EXIT_OK
        while not self.should_exit.wait(0.1):
            failed = [a for a in self._actors() if a.error is not None]
            if failed:
                log.error("stopping: %s failed (%s)", failed[0].name, failed[0].error)
                code = EXIT_ERROR
                break
            if time.monotonic() >= next_status:
                log.info("%s", self.status_line())
                next_status += interval
        return code

    def shutdown(self) -> None:
        """Stop sources, drain workers and the publisher, close sockets; bounded by shutdown_timeout_s."""
        deadline = time.monotonic() + self.config.service.shutdown_timeout_s * 0.8
        self.stop_event.set()
        self.subscriptions.wake_all()
        for actor in self.sources:
            actor.join(max(0.0, deadline - time.monotonic()) / 2)
        for w in self.workers:
            w.join(max(0.0, deadline - time.monotonic()))
        self.drain_event.set()
        if self.publisher is not None:
            self.publisher.join(max(0.0, deadline - time.monotonic()))
        if self.control is not None:
            self.control.stop_event.set()
            self.control.join(0.3)
        alive = [a.name for a in self._actors() if a.is_alive()]
        if alive:
            log.warning("shutdown: %s still running at the deadline; closing anyway", ", ".join(alive))
        self._close_sockets()
        published = self.publisher.published if self.publisher else 0
        log.info("streamconv stopped (published %d messages)", published)

    def _close_sockets(self) -> None:
        if self.pub is not None:
            self.pub.close()
        if self.control is not None and not self.control.is_alive():
            self.control.close()
        if self.ctx is not None:
            self.ctx.destroy(linger=0)

    def _actors(self) -> list[Any]:
        actors: list[Any] = [*self.sources, *self.workers]
        if self.publisher is not None:
            actors.append(self.publisher)
        if self.control is not None:
            actors.append(self.control)
        return actors

    def request_stop(self) -> None:
        """Ask ``serve()`` to return (what the signal handler does)."""
        self.should_exit.set()

    def publish_hwm(self) -> int:
        """Return the PUB high-water mark: the config's, or automatic (``ServiceConfig.publish_hwm``)."""
        svc = self.config.service
        if svc.publish_hwm is not None:
            return svc.publish_hwm
        frames = [s for s in self.config.streams.values() if s.items == "frames"]
        return AUTO_HWM_VIDEO if frames else AUTO_HWM_SENSORS

    # -- introspection -----------------------------------------------------------------------
    def stats(self) -> dict[str, Any]:
        """Return the latest ``_stats`` content (updated every ``stats_interval_s``)."""
        return self.publisher.last_stats if self.publisher else {}

    def status(self) -> dict[str, Any]:
        """Status for ``streamconv ctl status``: endpoints, streams, outputs, stats."""
        return {
            "epoch": self.epoch,
            "uptime_s": (time.time_ns() - self.started_ns) / 1e9,
            "publish": self.pub.bound_endpoint if self.pub else None,
            "control": self.config.service.control,
            "streams": {
                name: {
                    "source": self.config.streams[name].source.model_dump(mode="json"),
                    "outputs": {
                        out: [s.model_dump(mode="json") for s in specs]
                        for out, specs in p.outputs.items()
                    },
                }
                for name, p in self.pipelines.items()
            },
            "stats": self.stats(),
            "subscribed": sorted(self.subscriptions.prefixes),
            "control_errors": self.control_errors,
        }

    def status_line(self) -> str:
        """One line: per topic rate and latency, and the drop/malformed totals."""
        stats = self.stats()
        parts = []
        for topic, t in stats.get("topics", {}).items():
            if topic.endswith(("/raw", "/truth")) or t["latency_p50_ms"] is None:
                continue
            parts.append(f"{topic} {t['rate_hz']:.1f}/s p50 {t['latency_p50_ms']:.2f} ms "
                         f"p99 {t['latency_p99_ms']:.2f} ms")
        if parts:
            summary = "; ".join(parts)
        elif not self.subscriptions.prefixes:
            summary = f"idle: no subscriber (try: streamconv subscribe {subscribe_hint(self.config)})"
        else:
            summary = "no output yet"
        errors = sum(t.get("errors", 0) for t in stats.get("topics", {}).values())
        return (f"{summary} | drops {stats.get('drops', 0)} malformed {stats.get('malformed', 0)} "
                f"errors {errors}")

    # -- control -----------------------------------------------------------------------------
    def handle_request(self, request: Any) -> dict[str, Any]:
        """Serve one control request (already JSON-decoded); never raises."""
        try:
            return {"ok": True, **self._dispatch(request)}
        except (ValueError, KeyError, TypeError) as exc:
            self.control_errors += 1
            return {"ok": False, "error": str(exc).strip("'\"") if isinstance(exc, KeyError) else str(exc)}

    def _dispatch(self, req: Any) -> dict[str, Any]:
        if not isinstance(req, dict):
            raise ValueError(f"a request is a JSON object, got {type(req).__name__}")
        cmd = req.get("cmd")
        if cmd == "ping":
            return {"pong": True}
        if cmd == "status":
            return {"status": self.status()}
        if cmd == "stats":
            return {"stats": self.stats()}
        if cmd == "kernels":
            from streamconv.ops import kernels

            return {"kernels": kernels.names()}
        if cmd in ("set", "remove"):
            stream, output = self._topic(req)
            pipeline = self.pipelines[stream]
            if cmd == "remove":
                pipeline.remove_output(output)
                log.info("control: removed %s/%s", stream, output)
                return {"topic": f"{stream}/{output}"}
            if "stages" not in req:
                raise ValueError("'set' needs 'stages': a stage object or a list of them")
            specs = cfg.parse_stages(req["stages"], source="stages")
            self._validate_stream_with(stream, output, specs)
            chain = pipeline.set_output(output, specs)
            log.info("control: %s/%s is now %s", stream, output, chain)
            return {"topic": f"{stream}/{output}", "stages": [s.model_dump(mode="json") for s in specs]}
        raise ValueError(
            f"unknown cmd {cmd!r}; expected one of ['kernels', 'ping', 'remove', 'set', 'stats', 'status']"
        )

    def _validate_stream_with(self, stream: str, output: str, specs: list[Any]) -> None:
        """Apply the config's stream rules (stage kinds, bank last, bank depth) to the new chain."""
        current = self.config.streams[stream]
        outputs = {name: list(chain) for name, chain in self.pipelines[stream].outputs.items()}
        outputs[output] = list(specs)
        try:
            cfg.StreamConfig.model_validate(
                {"source": current.source, "outputs": outputs, "publish_raw": current.publish_raw}
            )
        except cfg.ValidationError as exc:
            raise cfg.ConfigError(cfg.format_validation_error(exc, prefix="stages")) from None

    def _topic(self, req: dict[str, Any]) -> tuple[str, str]:
        topic = req.get("topic")
        if not isinstance(topic, str) or topic.count("/") != 1:
            raise ValueError(f"'topic' must be '<stream>/<output>', got {topic!r}")
        stream, output = topic.split("/")
        if stream not in self.pipelines:
            raise ValueError(f"unknown stream {stream!r}; expected one of {sorted(self.pipelines)}")
        if output in ("raw", "truth"):
            raise ValueError(f"output {output!r} cannot be set (raw and truth are the source's own)")
        cfg.check_output_name(output)
        return stream, output


def _frames_needed(pipeline: StreamPipeline, subscriptions: Subscriptions) -> Any:
    def needed() -> bool:
        return pipeline.stateful or subscriptions.wants_stream(pipeline.name)

    return needed


def _unthrottled(source: Any) -> bool:
    return isinstance(source, cfg.SyntheticSourceConfig) and source.fps == 0


class ControlActor(threading.Thread):
    """A REP socket answering JSON requests; a bad request gets an error reply, never a crash."""

    def __init__(self, service: Service, endpoint: str, *, curve_secret_key: bytes | None = None) -> None:
        super().__init__(name="control", daemon=True)
        self.service = service
        self.endpoint = endpoint
        self.stop_event = threading.Event()
        self.error: BaseException | None = None
        assert service.ctx is not None
        self.sock = service.ctx.socket(zmq.REP)
        self.sock.setsockopt(zmq.LINGER, 0)
        self.sock.setsockopt(zmq.MAXMSGSIZE, MAX_CONTROL_BYTES)
        if curve_secret_key is not None:
            self.sock.curve_secretkey = curve_secret_key
            self.sock.curve_publickey = zmq.curve_public(curve_secret_key)
            self.sock.curve_server = True
        try:
            self.sock.bind(endpoint)
        except zmq.ZMQError as exc:
            self.sock.close(linger=0)
            if exc.errno == zmq.EADDRINUSE:
                raise EndpointInUseError(f"control endpoint {endpoint} is already in use") from None
            raise EndpointInUseError(f"cannot bind control endpoint {endpoint}: {exc}") from None

    def run(self) -> None:
        try:
            while not self.stop_event.is_set():
                if not self.sock.poll(100):
                    continue
                parts = self.sock.recv_multipart()
                reply = self._serve(parts)
                self.sock.send(json.dumps(reply, separators=(",", ":"), default=str).encode())
        except BaseException as exc:
            self.error = exc
            log.exception("control socket stopped on an error")
        finally:
            self.close()

    def _serve(self, parts: list[bytes]) -> dict[str, Any]:
        if len(parts) != 1:
            self.service.control_errors += 1
            return {"ok": False, "error": f"a request is one JSON frame, got {len(parts)} frames"}
        try:
            req = json.loads(parts[0])
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            self.service.control_errors += 1
            return {"ok": False, "error": f"request is not valid JSON: {exc}"}
        return self.service.handle_request(req)

    def close(self) -> None:
        self.sock.close(linger=0)


@contextlib.contextmanager
def capture_signals(service: Service) -> Iterator[None]:
    """Install SIGINT/SIGTERM handlers that ask the service to stop; a second signal forces exit."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    received: list[int] = []

    def handler(signum: int, frame: FrameType | None) -> None:
        if received:
            log.warning("second signal %s: exiting now", signal.Signals(signum).name)
            import os

            os._exit(EXIT_FORCED)
        received.append(signum)
        log.info("signal %s: shutting down", signal.Signals(signum).name)
        service.request_stop()

    previous = {s: signal.signal(s, handler) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for s, h in previous.items():
            signal.signal(s, h)


def run(config: cfg.Config) -> int:
    """Run the daemon in the foreground until SIGINT/SIGTERM; return the exit code."""
    service = Service(config)
    with capture_signals(service):
        try:
            service.startup()
        except EndpointInUseError as exc:
            log.error("%s", exc)
            return EXIT_CONFIG
        except (ConfigError, OSError) as exc:
            log.error("%s", exc)
            return EXIT_CONFIG
        try:
            code = service.serve()
        finally:
            service.shutdown()
    return code
