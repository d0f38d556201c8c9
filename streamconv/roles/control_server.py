"""The control socket's server side: every request answered in time, none able to stop the loop.

The publisher's loop owns a ROUTER socket (REQ clients talk to it as to a REP) and calls
:meth:`ControlServer.serve` when it is readable and :meth:`ControlServer.finish` on every turn.

- A request is parsed with the bounds of :mod:`streamconv.roles.control_requests`; a bad one gets an
  error reply at once.
- Quick commands (``ping``, ``status``, ...) are answered on the loop's thread, within a time
  budget per turn, so a flood of requests delays publishing by at most that budget.
- A request the handler marks slow (``set``: validation may read a file and build kernels) runs
  on a helper thread; its result is applied on the loop's thread, in the order the requests
  came (``remove`` goes through the same queue).  If it is not done within
  :data:`REPLY_DEADLINE_S` it gets an error reply ("not applied") and its result is discarded.
- At most :data:`MAX_PENDING` slow requests wait; more get a "busy" reply.
- Every handler error, expected or not, becomes an error reply; an unexpected one is logged with
  its traceback at debug level.  Replies to a client that went away are dropped.
"""

from __future__ import annotations

import json
import logging
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Final

import zmq

from streamconv.roles.control_requests import parse_request

__all__ = ["MAX_PENDING", "REPLY_DEADLINE_S", "ControlServer", "Slow"]

log = logging.getLogger(__name__)

#: A slow request not done by then is answered with an error and not applied.
REPLY_DEADLINE_S: Final = 2.0
#: Slow requests waiting or running at once.
MAX_PENDING: Final = 8
#: Seconds of quick requests served per loop turn.
TURN_BUDGET_S: Final = 0.005
#: Largest frame the socket accepts (ZeroMQ drops a peer sending more); requests over
#: ``MAX_CONTROL_BYTES`` but under this get an error reply.
SOCKET_MAX_BYTES: Final = 16 << 20


@dataclass
class Slow:
    """A handler's answer for a slow request: ``prepare()`` runs off the loop, ``apply(result)`` on it."""

    prepare: Callable[[], Any]
    apply: Callable[[Any], dict[str, Any]]


@dataclass
class _Pending:
    envelope: list[bytes]
    slow: Slow
    deadline: float
    done: threading.Event = field(default_factory=threading.Event)
    result: Any = None
    error: BaseException | None = None


class ControlServer:
    """Serve control requests on ``sock`` (a bound ROUTER) with ``handle``.

    Parameters
    ----------
    sock : zmq.Socket
        A ROUTER socket; the server sets its options (maximum message size, queue lengths).
    handle : callable
        ``handle(request) -> dict | Slow``: the reply to a decoded request, or a :class:`Slow`.
        It may raise; the exception's text becomes the error reply.
    on_error : callable
        Called once per error reply (the owner counts them).
    deadline_s : float
        How long a slow request may take (:data:`REPLY_DEADLINE_S`).
    """

    def __init__(
        self,
        sock: zmq.Socket,
        handle: Callable[[Any], dict[str, Any] | Slow],
        *,
        on_error: Callable[[], None] = lambda: None,
        clock: Callable[[], float] = time.monotonic,
        deadline_s: float = REPLY_DEADLINE_S,
    ) -> None:
        self.sock = sock
        self.deadline_s = deadline_s
        self.handle = handle
        self.on_error = on_error
        self.clock = clock
        self.pending: list[_Pending] = []
        self.answered = 0
        self.timed_out = 0
        self.busy = 0
        self._jobs: queue.SimpleQueue[_Pending | None] = queue.SimpleQueue()
        self._threads: list[threading.Thread] = []

    @staticmethod
    def configure(sock: zmq.Socket) -> None:
        """Set the options a control ROUTER needs (before bind)."""
        sock.setsockopt(zmq.LINGER, 0)
        sock.setsockopt(zmq.MAXMSGSIZE, SOCKET_MAX_BYTES)
        sock.setsockopt(zmq.SNDHWM, 64)
        sock.setsockopt(zmq.RCVHWM, 64)

    # -- the loop's side ---------------------------------------------------------------------
    def serve(self) -> None:
        """Answer what is queued on the socket, for at most a turn's budget."""
        end = self.clock() + TURN_BUDGET_S
        for _ in range(1000):
            try:
                parts = self.sock.recv_multipart(zmq.NOBLOCK)
            except zmq.Again:
                return
            self._one(parts)
            if self.clock() >= end:
                return

    def finish(self) -> None:
        """Apply and answer the slow requests that are done, in order; answer those past their deadline.

        A request done before an earlier one waits for it, so two changes of one output end as
        the later one, whichever validated first.
        """
        if not self.pending:
            return
        now = self.clock()
        keep = []
        waiting = False  # an earlier request is still running: later ones wait for it
        for p in self.pending:
            if p.done.is_set() and not waiting:
                if p.error is not None:
                    self._reply_error(p.envelope, p.error)
                else:
                    self._reply(p.envelope, self._ok(lambda p=p: p.slow.apply(p.result)))
            elif now >= p.deadline:
                self.timed_out += 1
                p.slow = Slow(lambda: None, lambda _: {})  # a late result is discarded
                self._reply(p.envelope, self._error(
                    f"the request took longer than {self.deadline_s:g} s to validate; it is not applied"
                ))
            else:
                waiting = True
                keep.append(p)
        self.pending = keep

    @property
    def waiting(self) -> bool:
        """True while slow requests are pending (the loop should turn often)."""
        return bool(self.pending)

    def close(self) -> None:
        """Stop the helper threads (they are daemon threads: a stuck one never blocks exit)."""
        for _ in self._threads:
            self._jobs.put(None)

    # -- internals ---------------------------------------------------------------------------
    def _one(self, parts: list[bytes]) -> None:
        # REQ clients send [identity, b"", body]; a DEALER may leave out the empty delimiter.
        if len(parts) >= 2 and parts[1] == b"":
            envelope, body = parts[:2], parts[2:]
        else:
            envelope, body = parts[:1], parts[1:]
        if len(body) != 1:
            self._reply(envelope, self._error(f"a request is one JSON frame, got {len(body)} frames"))
            return
        try:
            request = parse_request(body[0])
        except ValueError as exc:
            self._reply(envelope, self._error(str(exc)))
            return
        try:
            answer = self.handle(request)
        except Exception as exc:
            self._reply_error(envelope, exc)
            return
        if isinstance(answer, Slow):
            self._submit(envelope, answer)
        else:
            self._reply(envelope, {"ok": True, **answer})

    def _submit(self, envelope: list[bytes], slow: Slow) -> None:
        if len(self.pending) >= MAX_PENDING:
            self.busy += 1
            self._reply(envelope, self._error(f"busy: {MAX_PENDING} changes are being validated; try again"))
            return
        job = _Pending(envelope, slow, self.clock() + self.deadline_s)
        self.pending.append(job)
        idle = sum(1 for p in self.pending if not p.done.is_set())
        if len(self._threads) < min(idle, 2):  # at most 2 helpers; a stuck one leaves the other
            t = threading.Thread(target=self._work, name="control-validate", daemon=True)
            t.start()
            self._threads.append(t)
        self._jobs.put(job)

    def _work(self) -> None:
        while True:
            job = self._jobs.get()
            if job is None:
                return
            try:
                job.result = job.slow.prepare()
            except BaseException as exc:
                job.error = exc
            job.done.set()

    def _ok(self, apply: Callable[[], dict[str, Any]]) -> dict[str, Any]:
        try:
            return {"ok": True, **apply()}
        except Exception as exc:
            return self._error_of(exc)

    def _reply_error(self, envelope: list[bytes], exc: BaseException) -> None:
        self._reply(envelope, self._error_of(exc))

    def _error_of(self, exc: BaseException) -> dict[str, Any]:
        if isinstance(exc, ValueError | TypeError | KeyError):
            text = str(exc).strip("'\"") if isinstance(exc, KeyError) else str(exc)
            return self._error(text)
        log.debug("control: unexpected error", exc_info=exc)
        log.warning("control: internal error %s: %s", type(exc).__name__, exc)
        return self._error(f"internal error ({type(exc).__name__}: {exc}); the request is not applied")

    def _error(self, text: str) -> dict[str, Any]:
        self.on_error()
        return {"ok": False, "error": text}

    def _reply(self, envelope: list[bytes], reply: dict[str, Any]) -> None:
        self.answered += 1
        body = json.dumps(reply, separators=(",", ":"), default=str).encode()
        try:
            self.sock.send_multipart([*envelope, body], zmq.NOBLOCK)
        except zmq.ZMQError as exc:  # the client is gone or not reading: nothing to wait for
            log.debug("control: reply dropped (%s)", exc)
