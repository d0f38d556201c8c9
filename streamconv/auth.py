"""ZAP authentication of CurveZMQ clients: per context, one authenticator admits only listed public keys.

CurveZMQ alone encrypts: a CURVE server accepts every client that knows its public key.  A ZAP
handler (ZeroMQ's authentication protocol, RFC 27) decides who gets in.  :class:`Gate` is
pyzmq's :class:`zmq.auth.thread.ThreadAuthenticator` with an allow-list of client public keys
per ZAP domain (:data:`DOMAINS`) that counts what it refuses.  A context has one ZAP endpoint
(``inproc://zeromq.zap.01``), so every role of a process shares the gate of its context:
:func:`acquire` starts it on first use, :func:`release` stops it after the last.

:func:`curve_server` makes a socket a CURVE server of a domain with ``ZMQ_ZAP_ENFORCE_DOMAIN``:
without a running gate its handshakes fail, so a socket never admits everyone by mistake.  A
refused client gets nothing (ZeroMQ closes the connection after the handshake and does not
retry it).  ``inproc://`` connections skip every security mechanism, CURVE and ZAP included.

Examples
--------
>>> import zmq
>>> public, secret = zmq.curve_keypair()
>>> ctx = zmq.Context()
>>> gate = acquire(ctx, {"control": {public}})
>>> gate.counts()
{'admitted': {'control': 0}, 'denied': {'control': 0}}
>>> release(gate)
>>> ctx.term()
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Collection, Mapping

import zmq
from zmq.auth.thread import ThreadAuthenticator

from streamconv.errors import StreamconvError

__all__ = ["DOMAINS", "Gate", "acquire", "curve_server", "release", "stop"]

log = logging.getLogger(__name__)

#: The ZAP domains of streamconv's CURVE servers: the publish socket, the control socket, the links.
DOMAINS = ("streams", "control", "links")
#: Distinct refused keys logged at WARNING before the rest go to DEBUG (a flood must not fill the log).
_LOGGED_KEYS = 32
#: Where a context's ZAP handler binds (ZeroMQ RFC 27).
_ZAP_ENDPOINT = "inproc://zeromq.zap.01"

_lock = threading.Lock()
_gates: dict[int, Gate] = {}  # id(context) -> the gate running on it


def curve_server(sock: zmq.Socket, secret: bytes, domain: str) -> None:
    """Make ``sock`` a CURVE server with ``secret`` whose clients the gate admits for ``domain``.

    Call before ``bind``.  With ``ZMQ_ZAP_ENFORCE_DOMAIN`` set, no client gets in unless a
    :class:`Gate` runs on the socket's context.
    """
    if domain not in DOMAINS:
        raise StreamconvError(f"invalid ZAP domain {domain!r}; expected one of {list(DOMAINS)}")
    sock.curve_secretkey = secret
    sock.curve_publickey = zmq.curve_public(secret)
    sock.curve_server = True
    sock.zap_domain = domain.encode("ascii")
    sock.setsockopt(zmq.ZAP_ENFORCE_DOMAIN, 1)


class Gate(ThreadAuthenticator):
    """A ZAP authenticator thread that admits CURVE clients by public key, per domain, and counts.

    Parameters
    ----------
    context : zmq.Context
        The context whose CURVE servers it answers for (started by :func:`acquire`).

    Notes
    -----
    The decision is pyzmq's ``configure_curve_callback``: :meth:`callback` gets the domain and the
    client's Z85 public key and returns whether that key is allowed there.  A domain nobody
    configured refuses every key ("Unknown domain"), uncounted.
    """

    def __init__(self, context: zmq.Context) -> None:
        super().__init__(context, log=logging.getLogger(__name__ + ".zap"))
        self.keys: dict[str, frozenset[bytes]] = {}
        self.users = 0
        self._counts_lock = threading.Lock()
        self._admitted: dict[str, int] = {}
        self._denied: dict[str, int] = {}
        self._logged: set[bytes] = set()

    def admit(self, domain: str, keys: Collection[bytes]) -> None:
        """Allow the Z85 public ``keys`` (and no other) in ``domain``."""
        if domain not in DOMAINS:
            raise StreamconvError(f"invalid ZAP domain {domain!r}; expected one of {list(DOMAINS)}")
        with self._counts_lock:
            self.keys[domain] = frozenset(bytes(k) for k in keys)
            self._admitted.setdefault(domain, 0)
            self._denied.setdefault(domain, 0)
        self.configure_curve_callback(domain, credentials_provider=self)

    def callback(self, domain: str, key: bytes) -> bool:
        """Return whether the client key (Z85) may connect in ``domain``; count the answer."""
        allowed = key in self.keys.get(domain, ())
        with self._counts_lock:
            counts = self._admitted if allowed else self._denied
            counts[domain] = counts.get(domain, 0) + 1
            first = not allowed and key not in self._logged and len(self._logged) < _LOGGED_KEYS
            if first:
                self._logged.add(key)
        if first:
            log.warning("refused CURVE client key %s on the %s socket: not an allowed key",
                        key.decode("ascii", "replace"), domain)
        elif not allowed:
            log.debug("refused CURVE client key %s on the %s socket", key.decode("ascii", "replace"), domain)
        return allowed

    def stop(self) -> None:
        """Stop the thread and close the ZAP socket, freeing its name at once (idempotent)."""
        if self.pipe:  # as ThreadAuthenticator.stop: the thread ends before its socket is touched
            self.pipe.send(b"TERMINATE")
            if self.is_alive():
                self.thread.join()
            self.thread = None  # type: ignore[assignment]
            self.pipe.close()
            self.pipe = None  # type: ignore[assignment]
        if self.zap_socket is not None and not self.zap_socket.closed:
            # close() alone frees the inproc name later, in ZeroMQ's I/O thread: a new gate on
            # this context right after would find it taken.
            with contextlib.suppress(zmq.ZMQError):
                self.zap_socket.unbind(_ZAP_ENDPOINT)
        super().stop()

    def counts(self) -> dict[str, dict[str, int]]:
        """Return the CURVE handshakes admitted and denied so far, per domain (thread-safe)."""
        with self._counts_lock:
            return {"admitted": dict(self._admitted), "denied": dict(self._denied)}


def acquire(context: zmq.Context, keys: Mapping[str, Collection[bytes]]) -> Gate:
    """Return the gate of ``context`` admitting ``keys`` per domain; start it if none runs yet.

    Every caller must :func:`release` the gate once.  Roles sharing a context must agree: a
    domain already admitting other keys is an error.

    Raises
    ------
    StreamconvError
        When a domain of ``keys`` already admits other keys, or another ZAP handler owns the context.
    """
    with _lock:
        gate = _gates.get(id(context))
        if gate is None or gate.context is not context:
            gate = Gate(context)
            try:
                gate.start()
            except zmq.ZMQError as exc:
                gate.stop()
                raise StreamconvError(f"cannot start the ZAP authenticator: {exc}") from None
            _gates[id(context)] = gate
            log.debug("ZAP authenticator started")
        for domain, allowed in keys.items():
            wanted = frozenset(bytes(k) for k in allowed)
            if domain in gate.keys and gate.keys[domain] != wanted:
                if gate.users == 0:
                    _stop_locked(gate)
                raise StreamconvError(
                    f"the {domain} ZAP domain of this context already admits other keys; roles that "
                    "share a context share one config"
                )
            if domain not in gate.keys:
                gate.admit(domain, wanted)
        gate.users += 1
        return gate


def release(gate: Gate) -> None:
    """Give back a gate from :func:`acquire`; the last release stops its thread."""
    with _lock:
        gate.users -= 1
        if gate.users <= 0:
            _stop_locked(gate)


def stop(context: zmq.Context) -> None:
    """Stop the gate of ``context`` whoever still uses it (before ``context.destroy()``)."""
    with _lock:
        gate = _gates.get(id(context))
        if gate is not None and gate.context is context:
            _stop_locked(gate)


def _stop_locked(gate: Gate) -> None:
    if _gates.get(id(gate.context)) is gate:
        del _gates[id(gate.context)]
    gate.users = 0
    gate.stop()
