"""The aiohttp application of ``streamconv web``: the page, ``/ws``, ``/stream``, ``/snapshot``, control.

URLs
----
``/``                       the page (static files under ``/static/``: app.js, uPlot, its licence)
``/ws``                     one WebSocket per page: binary frames (see :func:`streamconv.web.hub.pack_frame`)
                            and JSON messages ``{"type": "samples"|"stats"|"status", ...}``
``/stream?topic=T``         MJPEG (``multipart/x-mixed-replace``), newest frame only
``/snapshot?topic=T``       the newest JPEG of ``T``
``/api/status``             the daemon's ``status`` reply (JSON)
``/api/set`` (POST JSON)    ``{"topic", "stages"}``: a control ``set``

With a token, every request needs it: ``?token=`` once (it is then kept in a cookie) or the
cookie; a wrong or missing token is 403.

``/metrics``                Prometheus text, the same metrics as the daemon's ``service.metrics``,
                            built by :func:`streamconv.metrics.render` from the newest ``_stats``
                            this viewer received (needs ``streamconv[metrics]``; 501 without).
"""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
from pathlib import Path
from typing import Any

from aiohttp import WSMsgType, web

from streamconv.web.hub import Hub, pack_frame

__all__ = ["COOKIE", "make_app"]

log = logging.getLogger(__name__)

STATIC = Path(__file__).with_name("static")
COOKIE = "streamconv_token"
#: How often a WebSocket client looks for new data when nothing woke it (seconds).
CLIENT_POLL_S = 0.25
#: Samples per topic in one JSON batch at most.
BATCH_MAX = 2000

HUB: web.AppKey[Hub] = web.AppKey("hub", Hub)
CFG: web.AppKey[dict] = web.AppKey("cfg", dict)


class Wake:
    """Wakes every waiting client at once when the hub got a message (one future per generation).

    A client takes :attr:`future` before it looks at the hub and waits on it after, so a message
    that arrives in between is never missed, and one client's wake-up never eats another's.
    """

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self.future: asyncio.Future[None] = loop.create_future()

    def fire(self) -> None:
        """Wake the waiters (in the loop's thread)."""
        if not self.future.done():
            self.future.set_result(None)
        self.future = self._loop.create_future()

    @staticmethod
    async def wait(future: asyncio.Future[None], timeout: float = 0.25) -> None:
        """Wait for ``future`` for at most ``timeout`` seconds."""
        try:
            await asyncio.wait_for(asyncio.shield(future), timeout)
        except TimeoutError:
            pass


EVENT: web.AppKey[Wake] = web.AppKey("wake", Wake)


def make_app(hub: Hub, *, control: str, token: str | None = None, control_timeout: float = 3.0,
             control_keys: dict[str, Any] | None = None) -> web.Application:
    """Return the application serving ``hub``; control requests go to ``control``.

    Parameters
    ----------
    hub : Hub
        Fed by the subscriber thread (its ``notify`` is set here, to wake the clients).
    control : str
        The daemon's control endpoint.
    token : str, optional
        When given, every request must carry it (query ``token`` or the cookie).
    """
    app = web.Application(middlewares=[_auth_middleware])
    app[HUB] = hub
    app[CFG] = {"control": control, "token": token, "timeout": control_timeout, "keys": control_keys or {}}
    app.on_startup.append(_on_startup)
    app.router.add_get("/", _index)
    app.router.add_get("/ws", _ws)
    app.router.add_get("/stream", _stream)
    app.router.add_get("/snapshot", _snapshot)
    app.router.add_get("/api/status", _status)
    app.router.add_get("/metrics", _metrics)
    app.router.add_post("/api/set", _set)
    app.router.add_static("/static/", STATIC)
    return app


async def _on_startup(app: web.Application) -> None:
    loop = asyncio.get_running_loop()
    wake = Wake(loop)
    app[EVENT] = wake

    def notify() -> None:
        try:
            loop.call_soon_threadsafe(wake.fire)
        except RuntimeError:  # the loop closed (shutting down): nobody to wake
            pass

    app[HUB].notify = notify


@web.middleware
async def _auth_middleware(request: web.Request, handler: Any) -> web.StreamResponse:
    token = request.app[CFG]["token"]
    if token is None:
        return await handler(request)
    given = request.query.get("token")
    cookie = request.cookies.get(COOKIE)
    if given is not None:
        if not hmac.compare_digest(given.encode(), token.encode()):
            raise web.HTTPForbidden(text="403: wrong token\n")
        resp = await handler(request)
        if not resp.prepared:
            resp.set_cookie(COOKIE, token, httponly=True, samesite="Strict")
        return resp
    if cookie is None or not hmac.compare_digest(cookie.encode(), token.encode()):
        raise web.HTTPForbidden(text="403: this viewer needs its token: open it once with ?token=...\n")
    return await handler(request)


async def _index(request: web.Request) -> web.Response:
    return web.FileResponse(STATIC / "index.html", headers={"Cache-Control": "no-store"})


def _topic_or_404(request: web.Request) -> str:
    hub = request.app[HUB]
    topic = request.query.get("topic", "")
    if topic not in hub.frame_topics():
        topics = hub.frame_topics()
        raise web.HTTPNotFound(
            text=f"404: no frame topic {topic!r}; topics: {', '.join(topics) or '(none yet)'}\n"
                 + json.dumps({"topics": topics}) + "\n")
    return topic


async def _metrics(request: web.Request) -> web.Response:
    try:
        from streamconv.metrics import render
    except ImportError:
        raise web.HTTPNotImplemented(text="501: /metrics needs pip install 'streamconv[metrics]'\n") from None
    stats = request.app[HUB].stats
    try:
        body = render(stats.get("meta", {}) if stats else {})
    except ImportError:
        raise web.HTTPNotImplemented(text="501: /metrics needs pip install 'streamconv[metrics]'\n") from None
    return web.Response(body=body, headers={"Content-Type": "text/plain; version=0.0.4; charset=utf-8"})


async def _snapshot(request: web.Request) -> web.Response:
    topic = _topic_or_404(request)
    frame = await asyncio.to_thread(request.app[HUB].newest, topic)  # encodes if nobody watches
    assert frame is not None
    return web.Response(body=frame.jpeg, content_type="image/jpeg",
                        headers={"X-Seq": str(frame.seq), "X-Capture-Ns": str(frame.t_capture_ns),
                                 "Cache-Control": "no-store"})


async def _stream(request: web.Request) -> web.StreamResponse:
    topic = _topic_or_404(request)
    hub = request.app[HUB]
    event = request.app[EVENT]
    boundary = "streamconvframe"
    resp = web.StreamResponse(headers={
        "Content-Type": f"multipart/x-mixed-replace; boundary={boundary}", "Cache-Control": "no-store"})
    await resp.prepare(request)
    sent = -1
    with hub.watch():
        frame = await asyncio.to_thread(hub.newest, topic)  # the first part at once
        while True:
            woken = event.future
            if frame is not None and frame.version != sent:
                sent = frame.version
                part = (f"--{boundary}\r\nContent-Type: image/jpeg\r\nContent-Length: {len(frame.jpeg)}"
                        f"\r\nX-Seq: {frame.seq}\r\n\r\n").encode() + frame.jpeg + b"\r\n"
                try:
                    await resp.write(part)
                except (ConnectionResetError, asyncio.CancelledError):
                    break
            await Wake.wait(woken, CLIENT_POLL_S)
            frame = hub.newest_encoded(topic)
    return resp


async def _ws(request: web.Request) -> web.WebSocketResponse:
    ws = web.WebSocketResponse(heartbeat=10.0)
    await ws.prepare(request)
    hub = request.app[HUB]
    event = request.app[EVENT]
    reader = asyncio.create_task(_drain(ws))
    sent_frames: dict[str, int] = {}
    sent_samples: dict[str, int] = {}
    sent_stats: Any = None
    alive: bool | None = None
    with hub.watch():
        try:
            while not ws.closed and not reader.done():
                woken = event.future
                now_alive = hub.alive()
                if now_alive != alive:
                    alive = now_alive
                    await ws.send_json({"type": "status", "alive": alive})
                for topic in hub.frame_topics():
                    frame = hub.newest_encoded(topic)
                    if frame is not None and sent_frames.get(topic) != frame.version:
                        sent_frames[topic] = frame.version
                        await ws.send_bytes(pack_frame(frame))  # newest only: a slow client skips
                batch: dict[str, list[float | None]] = {}
                for topic in hub.sample_topics():
                    total, values = hub.samples_since(topic, sent_samples.get(topic, 0))
                    sent_samples[topic] = total
                    if values:
                        batch[topic] = values[-BATCH_MAX:]
                if batch:
                    await ws.send_json({"type": "samples", "topics": batch})
                if hub.stats and hub.stats is not sent_stats:
                    sent_stats = hub.stats
                    await ws.send_json({"type": "stats", "stats": sent_stats, "gaps": hub.gaps,
                                        "encoded": hub.encoded})
                await Wake.wait(woken, CLIENT_POLL_S)
        except (ConnectionResetError, asyncio.CancelledError):
            pass
        finally:
            reader.cancel()
    return ws


async def _drain(ws: web.WebSocketResponse) -> None:
    async for msg in ws:
        if msg.type in (WSMsgType.CLOSE, WSMsgType.ERROR):
            break


async def _control(request: web.Request, payload: dict[str, Any]) -> dict[str, Any]:
    from streamconv import control

    cfg = request.app[CFG]
    return await asyncio.to_thread(control.request, payload, cfg["control"], timeout=cfg["timeout"],
                                   **cfg["keys"])


async def _status(request: web.Request) -> web.Response:
    try:
        reply = await _control(request, {"cmd": "status"})
    except TimeoutError:
        return web.json_response({"ok": False, "error": "the daemon did not answer"}, status=504)
    return web.json_response(reply)


async def _set(request: web.Request) -> web.Response:
    try:
        body = await request.json()
        topic, stages = body["topic"], body["stages"]
    except (ValueError, KeyError, TypeError):
        return web.json_response({"ok": False, "error": "expected JSON {\"topic\": ..., \"stages\": ...}"},
                                 status=400)
    try:
        reply = await _control(request, {"cmd": "set", "topic": topic, "stages": stages})
    except TimeoutError:
        return web.json_response({"ok": False, "error": "the daemon did not answer"}, status=504)
    return web.json_response(reply, status=200 if reply.get("ok") else 400)
