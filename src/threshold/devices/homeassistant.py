"""Home Assistant adapter: devices are Home Assistant entities, addressed by entity id.

States and commands go over the WebSocket API (`get_states`, `state_changed` events, `call_service`); camera
frames are snapshots fetched over REST (`/api/camera_proxy`), each one a frame heartbeat. When Home Assistant
stops answering, every entity it served is reported unavailable (never unlocked) until it answers again.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections import Counter
from datetime import UTC, datetime
from typing import Any

import httpx
import structlog
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import WebSocketException

from threshold.devices import ha_states
from threshold.devices.ports import DeviceCommand, DeviceKind, DeviceReport, DiscoveredDevice, ReportHandler

log = structlog.get_logger("threshold.devices")

_MIN_BACKOFF = 0.25
_MAX_BACKOFF = 10.0
# call_service answers only once the service has finished, and a lock takes seconds to turn.
_COMMAND_TIMEOUT = 30.0
# What a failed connection looks like: refused, reset, timed out, closed, or a reply we cannot read.
_CONNECTION_ERRORS = (OSError, TimeoutError, WebSocketException, ValueError, KeyError, TypeError)


class HomeAssistantAuthError(Exception):
    """Home Assistant refused the access token."""


class HomeAssistantGateway:
    """A DeviceGateway over one Home Assistant instance."""

    def __init__(self, url: str, token: str, *, frame_interval: float = 0.5, request_timeout: float = 5.0) -> None:
        self.url = url.rstrip("/")
        self.frame_interval = frame_interval
        self.request_timeout = request_timeout
        self.counters: Counter[str] = Counter()
        self.known: dict[str, DeviceKind] = {}  # entity id -> kind, for every entity Home Assistant served
        self.connected = False
        self._token = token
        self._ws_url = "ws" + self.url.removeprefix("http") + "/api/websocket"
        self._on_report: ReportHandler | None = None
        self._http: httpx.AsyncClient | None = None
        self._ws: ClientConnection | None = None
        self._send_lock = asyncio.Lock()
        self._next_id = 0
        self._pending: dict[int, asyncio.Future[dict[str, Any]]] = {}
        self._features: dict[str, int] = {}
        self._cameras: dict[str, asyncio.Task[None]] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._runner: asyncio.Task[None] | None = None
        self._settled = asyncio.Event()  # the first connection attempt is over, whatever its outcome
        self._auth_error: HomeAssistantAuthError | None = None
        self._stopping = False

    async def start(self, on_report: ReportHandler) -> None:
        """Connect, report every entity's current state, then follow state changes (reconnecting as needed)."""
        self._on_report = on_report
        self._stopping = False
        self._http = httpx.AsyncClient(base_url=self.url, headers=_auth(self._token), timeout=self.request_timeout)
        self._runner = asyncio.create_task(self._run())
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._settled.wait(), self.request_timeout * 3)
        if self._auth_error is not None and not self.connected:
            error = self._auth_error
            await self.stop()
            raise error
        if not self.connected:
            # Not fatal: devices stay as last known until Home Assistant answers and reports them.
            log.warning("homeassistant.not_ready", url=self.url)

    async def stop(self) -> None:
        """Stop following, polling and commanding; close the connections."""
        # The flag as well as the cancels: asyncio.wait_for on Python 3.11 can swallow a cancellation.
        self._stopping = True
        tasks = [t for t in (self._runner, *self._cameras.values(), *self._tasks) if t is not None]
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._runner, self._ws, self.connected, self._auth_error = None, None, False, None
        self._cameras.clear()
        self._settled.clear()
        if self._http is not None:
            await self._http.aclose()
            self._http = None
        self._on_report = None

    def keypad_capable(self, address: str) -> bool:
        """False: Home Assistant's lock entity has no user-code service of its own. ZHA and Z-Wave JS each add
        one (`zha.set_lock_user_code`, `zwave_js.set_lock_usercode`), but neither reports the slot back in the
        entity's state, so a code could be sent and never confirmed; such locks show as `unsupported`."""
        return False

    async def send(self, command: DeviceCommand) -> None:
        """Send a command through a Home Assistant service; the new state comes back as a state_changed event."""
        service = ha_states.SERVICES.get((command.kind, command.action))
        if service is None:
            self.counters["command_unsupported"] += 1
            log.warning("homeassistant.command_unsupported", device=command.address, action=command.action)
            return
        if command.kind is DeviceKind.CAMERA:
            self._follow_frames(command.address, command.action == "start")
            if not self._features.get(command.address, 0) & ha_states.CAMERA_ON_OFF:
                return
        data = {"code": command.code} if command.kind is DeviceKind.ALARM and command.code else {}
        # Fire and forget: the hub waits for the confirmed state, not for the service call to finish.
        task = asyncio.create_task(self._call(command, *service, data))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _call(self, command: DeviceCommand, domain: str, service: str, data: dict[str, str]) -> None:
        self.counters["commands"] += 1
        payload = {"type": "call_service", "domain": domain, "service": service,
                   "target": {"entity_id": command.address}, "service_data": data}
        try:
            reply = await self._request(payload, _COMMAND_TIMEOUT)
        except _CONNECTION_ERRORS as exc:
            self.counters["command_failed"] += 1
            log.warning("homeassistant.command_failed", device=command.address, action=command.action,
                        error=type(exc).__name__)
            return
        if not reply.get("success"):
            self.counters["command_refused"] += 1
            error = reply.get("error") or {}
            reason = str(error.get("message", ""))
            if command.code:
                reason = reason.replace(command.code, "***")
            log.warning("homeassistant.command_refused", device=command.address, action=command.action,
                        error=error.get("code"), reason=reason)

    async def _request(self, payload: dict[str, Any], timeout: float) -> dict[str, Any]:
        ws = self._ws
        if ws is None:
            raise ConnectionError("not connected to Home Assistant")
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        msg_id = await self._send(ws, payload, future)
        try:
            return await asyncio.wait_for(future, timeout)
        finally:
            self._pending.pop(msg_id, None)

    async def _send(self, ws: ClientConnection, payload: dict[str, Any],
                    future: asyncio.Future[dict[str, Any]] | None = None) -> int:
        # Home Assistant refuses an id that is not above every id it has seen on this connection, so ids are
        # taken and sent in one step.
        async with self._send_lock:
            self._next_id += 1
            msg_id = self._next_id
            if future is not None:
                self._pending[msg_id] = future
            await ws.send(json.dumps({"id": msg_id, **payload}))
        return msg_id

    async def _run(self) -> None:
        backoff = _MIN_BACKOFF
        while not self._stopping:
            try:
                async with connect(self._ws_url, open_timeout=self.request_timeout,
                                   ping_interval=self.request_timeout, ping_timeout=self.request_timeout,
                                   close_timeout=min(1.0, self.request_timeout), max_size=2**24) as ws:
                    await self._authenticate(ws)
                    await self._follow(ws)
                log.warning("homeassistant.closed", url=self.url)
            except HomeAssistantAuthError as exc:
                self._auth_error = exc
                backoff = _MAX_BACKOFF
                log.error("homeassistant.auth_refused", url=self.url)
            except _CONNECTION_ERRORS as exc:
                log.warning("homeassistant.unreachable", url=self.url, error=type(exc).__name__,
                            reason=str(exc)[:200])
            except Exception:
                log.exception("homeassistant.failed", url=self.url)
            self._settled.set()
            if self.connected:
                # It was serving: retry soon, and back off only if it keeps failing.
                backoff = _MIN_BACKOFF
            await self._lost()
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, _MAX_BACKOFF)

    async def _authenticate(self, ws: ClientConnection) -> None:
        hello = json.loads(await asyncio.wait_for(ws.recv(), self.request_timeout))
        if hello.get("type") != "auth_required":
            raise ValueError(f"unexpected greeting {hello.get('type')!r}")
        await ws.send(json.dumps({"type": "auth", "access_token": self._token}))
        answer = json.loads(await asyncio.wait_for(ws.recv(), self.request_timeout))
        if answer.get("type") != "auth_ok":
            raise HomeAssistantAuthError(f"Home Assistant at {self.url} refused the token")

    async def _follow(self, ws: ClientConnection) -> None:
        # Subscribe before the snapshot: a change in between is seen twice, never missed. Everything read
        # from one connection is handled in order, so an older snapshot never overwrites a newer event.
        self._next_id = 0
        events_id = await self._send(ws, {"type": "subscribe_events", "event_type": "state_changed"})
        states_id = await self._send(ws, {"type": "get_states"})
        self._ws = ws
        async for raw in ws:
            if self._stopping:
                return
            msg = json.loads(raw)
            if msg.get("type") == "event" and msg.get("id") == events_id:
                await self._on_event(msg["event"])
            elif msg.get("type") != "result":
                continue
            elif msg.get("id") == states_id:
                if not msg.get("success"):
                    raise ValueError("get_states failed")
                await self._on_snapshot(msg["result"])
            elif msg.get("id") == events_id:
                if not msg.get("success"):
                    raise ValueError("subscribe_events failed")
            elif (future := self._pending.pop(msg.get("id", -1), None)) is not None and not future.done():
                future.set_result(msg)

    async def _on_snapshot(self, states: list[dict[str, Any]]) -> None:
        self.known = {}
        now = datetime.now(UTC)
        for state in states:
            entity_id = state["entity_id"]
            kind = ha_states.report_kind(entity_id)
            if kind is None:
                continue
            self.known[entity_id] = kind
            self._features[entity_id] = ha_states.features(state.get("attributes") or {})
            if not ha_states.is_available(state["state"]):
                await self._emit(DeviceReport(entity_id, now, available=False))
                continue
            # Availability is news now; the state is as old as Home Assistant says, so that a state from
            # before a pending command is not taken as its answer.
            await self._emit(DeviceReport(entity_id, now, available=True))
            at = ha_states.parse_time(state.get("last_changed")) or now
            await self._emit(DeviceReport(entity_id, at, state=ha_states.map_state(kind, state["state"])))
        self.connected = True
        self._settled.set()
        log.info("homeassistant.connected", url=self.url, entities=len(self.known))

    async def _on_event(self, event: dict[str, Any]) -> None:
        data = event.get("data") or {}
        entity_id = data.get("entity_id")
        kind = ha_states.report_kind(entity_id) if isinstance(entity_id, str) else None
        if kind is None or not isinstance(entity_id, str):
            return
        self.counters["events"] += 1
        new = data.get("new_state")
        fired = ha_states.parse_time(event.get("time_fired")) or datetime.now(UTC)
        if not isinstance(new, dict) or not isinstance(new.get("state"), str):
            # The entity was removed from Home Assistant.
            self.known.pop(entity_id, None)
            await self._emit(DeviceReport(entity_id, fired, available=False))
            return
        self.known[entity_id] = kind
        self._features[entity_id] = ha_states.features(new.get("attributes") or {})
        if not ha_states.is_available(new["state"]):
            await self._emit(DeviceReport(entity_id, fired, available=False))
            return
        # last_changed, not time_fired: an attribute update after a command must not pass for its answer.
        at = ha_states.parse_time(new.get("last_changed")) or fired
        await self._emit(DeviceReport(entity_id, at, state=ha_states.map_state(kind, new["state"]), available=True))

    async def _lost(self) -> None:
        self._ws = None
        for future in self._pending.values():
            if not future.done():
                future.set_exception(ConnectionError("connection to Home Assistant lost"))
        self._pending.clear()
        if not self.connected:
            return
        self.connected = False
        self.counters["disconnects"] += 1
        # Unreachable is not unlocked: the hub sees every device offline until Home Assistant answers again.
        now = datetime.now(UTC)
        for entity_id in list(self.known):
            await self._emit(DeviceReport(entity_id, now, available=False))

    def _follow_frames(self, entity_id: str, on: bool) -> None:
        task = self._cameras.pop(entity_id, None)
        if task is not None:
            task.cancel()
        if on:
            self._cameras[entity_id] = asyncio.create_task(self._poll_frames(entity_id))

    async def _poll_frames(self, entity_id: str) -> None:
        failing = False
        while not self._stopping:
            ok = False
            if self._http is not None:
                try:
                    resp = await self._http.get(f"/api/camera_proxy/{entity_id}")
                    ok = resp.status_code == 200 and bool(resp.content)
                except httpx.HTTPError:
                    ok = False
            if ok:
                self.counters["frames"] += 1
                now = datetime.now(UTC)
                await self._emit(DeviceReport(entity_id, now, frame_at=now))
            else:
                # No frame is no heartbeat: the hub's watchdog declares the camera stalled.
                self.counters["frames_failed"] += 1
                if not failing:
                    log.warning("homeassistant.frame_failed", device=entity_id)
            failing = not ok
            await asyncio.sleep(self.frame_interval)

    async def _emit(self, report: DeviceReport) -> None:
        if self._on_report is None:
            return
        try:
            await self._on_report(report)
        except Exception:
            self.counters["report_handler_failed"] += 1
            log.exception("homeassistant.report_handler_failed", device=report.address)


async def discover(url: str, token: str) -> list[DiscoveredDevice]:
    """The entities of a running Home Assistant that a household can enrol as devices, sorted by entity id."""
    async with httpx.AsyncClient(base_url=url.rstrip("/"), headers=_auth(token), timeout=10.0) as http:
        resp = await http.get("/api/states")
        resp.raise_for_status()
    found = []
    for state in resp.json():
        attributes = state.get("attributes") or {}
        kind = ha_states.enrol_kind(state["entity_id"], attributes)
        if kind is not None:
            name = str(attributes.get("friendly_name") or state["entity_id"])
            found.append(DiscoveredDevice(state["entity_id"], kind, name, "homeassistant"))
    return sorted(found, key=lambda d: d.address)


def _auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}
