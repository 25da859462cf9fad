"""The zigbee2mqtt / Home Assistant discovery codec: every oddity of the wire, without a broker."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from threshold.devices import z2m
from threshold.devices.ports import DeviceCommand, DeviceKind
from threshold.devices.z2m import MessageError, Topics

LOCK, CAMERA, ALARM, GARAGE, CONTACT = (DeviceKind.LOCK, DeviceKind.CAMERA, DeviceKind.ALARM, DeviceKind.GARAGE,
                                        DeviceKind.CONTACT)


def js(body: object) -> bytes:
    """A JSON payload."""
    return json.dumps(body).encode()


# --- topics ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("topic", "expected"), [
    ("zigbee2mqtt/front_lock", ("front_lock", "")),
    ("zigbee2mqtt/house/front door/lock", ("house/front door/lock", "")),
    ("zigbee2mqtt/house/front/lock/availability", ("house/front/lock", "availability")),
    ("zigbee2mqtt/house/front/lock/set", ("house/front/lock", "set")),
    ("zigbee2mqtt/house/front/lock/get", ("house/front/lock", "get")),
    ("zigbee2mqtt/porch/camera/frame", ("porch/camera", "frame")),
    ("zigbee2mqtt/lock/state", ("lock/state", "")),  # `state` is part of the name, not a suffix
    ("zigbee2mqtt/availability", ("availability", "")),  # a device named like a suffix
    ("zigbee2mqtt/bridgeway", ("bridgeway", "")),
])
def test_split_reads_friendly_names_with_slashes_and_known_suffixes(topic: str, expected: tuple[str, str]) -> None:
    assert z2m.split(topic, "zigbee2mqtt") == expected


@pytest.mark.parametrize("topic", [
    "zigbee2mqtt/bridge", "zigbee2mqtt/bridge/state", "zigbee2mqtt/bridge/devices", "zigbee2mqtt/bridge/log",
    "zigbee2mqtt", "zigbee2mqtt/", "zigbee2mqttx/lock", "other/zigbee2mqtt/lock", "homeassistant/lock/x/config",
])
def test_split_ignores_bridge_and_foreign_topics(topic: str) -> None:
    assert z2m.split(topic, "zigbee2mqtt") is None


def test_split_works_under_a_base_with_slashes() -> None:
    assert z2m.split("site/a/z2m/front/availability", "site/a/z2m") == ("front", "availability")
    assert z2m.split("site/a/z2m/bridge/state", "site/a/z2m") is None


# --- lock states ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("body", "expected"), [
    ({"lock_state": "locked"}, "locked"),
    ({"lock_state": "unlocked"}, "unlocked"),
    ({"lock_state": "not_fully_locked"}, "jammed"),
    ({"lock_state": "locked", "state": "UNLOCK"}, "locked"),  # lock_state wins over the coarse state
    ({"state": "LOCK"}, "locked"),
    ({"state": "UNLOCK"}, "unlocked"),
    ({"state": "lock"}, "locked"),
])
def test_lock_state_is_read_in_threshold_words(body: dict[str, Any], expected: str) -> None:
    assert z2m.state("front", LOCK, js(body)).state == expected
    # Not told the kind, the codec reads the lock's own keys.
    assert z2m.state("front", None, js(body)).state == expected


def test_lock_without_a_state_key_has_no_state() -> None:
    parsed = z2m.state("front", LOCK, js({"battery": 40, "linkquality": 99}))
    assert parsed.state is None
    assert parsed.battery == 40


@pytest.mark.parametrize(("battery", "expected"), [(0, 0), (87, 87), (100, 100), (55.7, 55)])
def test_battery_is_parsed(battery: float, expected: int) -> None:
    assert z2m.state("front", LOCK, js({"lock_state": "locked", "battery": battery})).battery == expected


@pytest.mark.parametrize("battery", [-1, 101, "x", "50", True, False, [50], {"v": 50}, 1e9])
def test_bad_battery_is_refused(battery: object) -> None:
    with pytest.raises(MessageError, match="battery"):
        z2m.state("front", LOCK, js({"lock_state": "locked", "battery": battery}))


@pytest.mark.parametrize(("last_seen", "expected"), [
    ("2025-03-01T10:00:00Z", datetime(2025, 3, 1, 10, tzinfo=UTC)),
    ("2025-03-01T10:00:00+00:00", datetime(2025, 3, 1, 10, tzinfo=UTC)),
    ("2025-03-01T10:00:00.250Z", datetime(2025, 3, 1, 10, 0, 0, 250000, tzinfo=UTC)),
    ("2025-03-01T10:00:00", datetime(2025, 3, 1, 10, tzinfo=UTC)),  # naive: read as UTC
    ("2025-03-01T11:00:00+01:00", datetime(2025, 3, 1, 10, tzinfo=UTC)),
    (1740823200000, datetime(2025, 3, 1, 10, tzinfo=UTC)),  # epoch milliseconds
    (1740823200250.0, datetime(2025, 3, 1, 10, 0, 0, 250000, tzinfo=UTC)),
])
def test_last_seen_is_parsed_to_an_aware_instant(last_seen: object, expected: datetime) -> None:
    at = z2m.state("front", LOCK, js({"lock_state": "locked", "last_seen": last_seen})).at
    assert at is not None
    assert at.tzinfo is not None
    assert at == expected


def test_last_seen_with_an_offset_is_converted_to_utc() -> None:
    at = z2m.parse_time("2025-03-01T11:00:00+01:00")
    assert at is not None
    assert at.utcoffset() == timedelta(0)


@pytest.mark.parametrize("last_seen", ["yesterday", "", "2025-13-01T00:00:00Z", True, [1], {"t": 1},
                                       1e300, float("inf"), -1e300])
def test_bad_last_seen_is_refused(last_seen: object) -> None:
    with pytest.raises(MessageError, match="time"):
        z2m.state("front", LOCK, js({"lock_state": "locked", "last_seen": last_seen}))


def test_missing_last_seen_leaves_the_time_to_the_receiver() -> None:
    assert z2m.state("front", LOCK, js({"lock_state": "locked"})).at is None
    assert z2m.parse_time(None) is None


@pytest.mark.parametrize("raw", [42, True, ["locked"], {"x": 1}])
def test_a_lock_state_that_is_not_text_is_refused(raw: object) -> None:
    with pytest.raises(MessageError, match="state"):
        z2m.state("front", LOCK, js({"lock_state": raw}))


def test_unknown_words_pass_through_lowercased_for_the_hub_to_judge() -> None:
    assert z2m.state("front", LOCK, js({"lock_state": "BANANA"})).state == "banana"


# --- contacts, covers, alarms, cameras ------------------------------------------------------------------------


@pytest.mark.parametrize(("contact", "expected"), [(True, "closed"), (False, "open")])
def test_contact_true_means_closed(contact: bool, expected: str) -> None:
    assert z2m.state("door", CONTACT, js({"contact": contact, "battery": 92})).state == expected
    assert z2m.state("door", None, js({"contact": contact})).state == expected


def test_contact_through_a_template_key_reads_booleans_the_same_way() -> None:
    assert z2m.state("door", CONTACT, js({"contact": True}), template_key="contact").state == "closed"
    assert z2m.state("door", CONTACT, js({"contact": False}), template_key="contact").state == "open"


def test_contact_that_is_neither_bool_nor_text_is_refused() -> None:
    with pytest.raises(MessageError):
        z2m.state("door", CONTACT, js({"contact": 1}))


@pytest.mark.parametrize(("word", "expected"), [
    ("OPEN", "open"), ("CLOSE", "closed"), ("closed", "closed"), ("opening", "opening"), ("closing", "closing"),
    ("STOP", "stopped"), ("stopped", "stopped"),
])
def test_cover_words_become_garage_states(word: str, expected: str) -> None:
    assert z2m.state("garage", GARAGE, js({"state": word})).state == expected


@pytest.mark.parametrize("word", ["disarmed", "arming", "armed_away", "armed_home", "armed_night", "pending",
                                  "triggered"])
def test_alarm_states_pass_through(word: str) -> None:
    assert z2m.state("panel", ALARM, js({"state": word})).state == word


def test_camera_state_carries_its_frame_time() -> None:
    parsed = z2m.state("cam", CAMERA, js({"state": "recording", "frame_at": "2025-03-01T10:00:00Z"}))
    assert parsed.state == "recording"
    assert parsed.frame_at == datetime(2025, 3, 1, 10, tzinfo=UTC)


@pytest.mark.parametrize(("payload", "kind", "expected"), [
    (b"open", GARAGE, "open"), (b"closed", GARAGE, "closed"), (b" CLOSE\n", GARAGE, "closed"),
    (b"LOCKED", LOCK, "locked"), (b"ON", CONTACT, "open"), (b"OFF", CONTACT, "closed"),
])
def test_plain_words_are_read_when_allowed(payload: bytes, kind: DeviceKind, expected: str) -> None:
    assert z2m.state("x", kind, payload, plain=True).state == expected


def test_plain_words_are_refused_where_zigbee2mqtt_json_is_expected() -> None:
    with pytest.raises(MessageError):
        z2m.state("x", GARAGE, b"open")


# --- availability and frames ----------------------------------------------------------------------------------


@pytest.mark.parametrize(("payload", "expected"), [
    (js({"state": "online"}), True), (js({"state": "offline"}), False),
    (b"online", True), (b"offline", False), (b" online\n", True),
])
def test_availability_json_and_legacy_words(payload: bytes, expected: bool) -> None:
    parsed = z2m.availability("front", payload)
    assert parsed.available is expected
    assert parsed.state is None


@pytest.mark.parametrize("payload", [b"", b"ONLINE", b"up", b"1", js({"state": "maybe"}), js({"status": "online"}),
                                     js(["online"]), b"{not json", b"\xff\xfe", js({"state": True})])
def test_garbage_availability_is_refused(payload: bytes) -> None:
    with pytest.raises(MessageError):
        z2m.availability("front", payload)


def test_frame_heartbeat_carries_its_time() -> None:
    parsed = z2m.frame("cam", js({"frame_at": "2025-03-01T10:00:00.5Z"}))
    assert parsed.frame_at == datetime(2025, 3, 1, 10, 0, 0, 500000, tzinfo=UTC)
    assert parsed.at == parsed.frame_at


def test_empty_frame_heartbeat_means_now() -> None:
    before = datetime.now(UTC)
    parsed = z2m.frame("cam", b"")
    assert parsed.frame_at is not None
    assert before <= parsed.frame_at <= datetime.now(UTC)


@pytest.mark.parametrize("payload", [js({}), js({"frame_at": "soon"}), js({"frame_at": None}), b"tick", js([1])])
def test_bad_frame_heartbeat_is_refused(payload: bytes) -> None:
    with pytest.raises(MessageError):
        z2m.frame("cam", payload)


@pytest.mark.parametrize("payload", [b"\xff\xfe\xfa", b"locked", b"{", b"", js([{"lock_state": "locked"}]),
                                     js("locked"), js(1), b"null"])
def test_state_payload_that_is_not_a_json_object_is_refused(payload: bytes) -> None:
    with pytest.raises(MessageError):
        z2m.state("front", LOCK, payload)


def test_deeply_nested_json_is_refused_as_a_message_error() -> None:
    with pytest.raises(MessageError):
        z2m.state("front", LOCK, b"[" * 100_000)


# --- commands -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("kind", "action", "body"), [
    (LOCK, "lock", {"state": "LOCK"}), (LOCK, "unlock", {"state": "UNLOCK"}),
    (GARAGE, "open", {"state": "OPEN"}), (GARAGE, "close", {"state": "CLOSE"}),
    (ALARM, "arm", {"state": "ARM_AWAY"}), (ALARM, "disarm", {"state": "DISARM"}),
    (CAMERA, "start", {"state": "START"}), (CAMERA, "stop", {"state": "STOP"}),
])
def test_command_payloads_speak_zigbee2mqtt(kind: DeviceKind, action: str, body: dict[str, str]) -> None:
    assert json.loads(z2m.command_payload(DeviceCommand("x", kind, action))) == body


def test_alarm_code_is_sent_only_when_given() -> None:
    assert json.loads(z2m.command_payload(DeviceCommand("p", ALARM, "disarm", "4321"))) == {
        "state": "DISARM", "code": "4321"}
    assert "code" not in json.loads(z2m.command_payload(DeviceCommand("p", ALARM, "disarm")))


@pytest.mark.parametrize(("kind", "action"), [(LOCK, "open"), (LOCK, "explode"), (CONTACT, "open"),
                                              (CAMERA, "lock"), (GARAGE, "unlock"), (ALARM, "")])
def test_unknown_command_is_refused(kind: DeviceKind, action: str) -> None:
    with pytest.raises(MessageError):
        z2m.command_payload(DeviceCommand("x", kind, action))


def test_discovery_literal_payloads_are_used_as_given() -> None:
    topics = Topics("home/garage/state", "home/garage/cmd", payloads={"open": "UP", "close": "DOWN"})
    assert z2m.command_payload(DeviceCommand("home/garage/state", GARAGE, "open"), topics) == b"UP"
    assert z2m.command_payload(DeviceCommand("home/garage/state", GARAGE, "close"), topics) == b"DOWN"
    # An action without a literal payload falls back to zigbee2mqtt JSON.
    lock_topics = Topics("l", "l/set", payloads={"lock": "L"})
    assert json.loads(z2m.command_payload(DeviceCommand("l", LOCK, "unlock"), lock_topics)) == {"state": "UNLOCK"}


# --- Home Assistant discovery ---------------------------------------------------------------------------------


def disc(component: str, cfg: dict[str, Any], node: str | None = "node1",
         prefix: str = "homeassistant") -> tuple[Any, Topics]:
    """Parse one discovery config, failing the test when it yields nothing."""
    topic = f"{prefix}/{component}/{node}/obj/config" if node else f"{prefix}/{component}/obj/config"
    found = z2m.discovery(topic, js(cfg), prefix)
    assert found is not None
    return found


@pytest.mark.parametrize(("component", "extra", "kind"), [
    ("lock", {}, LOCK), ("alarm_control_panel", {}, ALARM), ("camera", {}, CAMERA),
    ("cover", {"device_class": "garage"}, GARAGE), ("cover", {"device_class": "gate"}, GARAGE),
    ("binary_sensor", {"device_class": "door"}, CONTACT), ("binary_sensor", {"device_class": "garage_door"}, CONTACT),
])
def test_discovery_components_map_to_kinds(component: str, extra: dict[str, str], kind: DeviceKind) -> None:
    device, topics = disc(component, {"name": "Front", "state_topic": "dev/front", **extra})
    assert device.kind is kind
    assert device.address == "dev/front"
    assert device.name == "Front"
    assert device.source == "mqtt-discovery"
    assert topics.state == "dev/front"
    assert topics.command == "dev/front/set"  # no command topic given: zigbee2mqtt's convention


def test_discovery_without_node_id_is_read() -> None:
    device, _ = disc("lock", {"state_topic": "dev/front"}, node=None)
    assert device.kind is LOCK
    assert device.name == "dev/front"  # neither name nor unique_id: the state topic names it


@pytest.mark.parametrize(("component", "cfg"), [
    ("light", {"state_topic": "dev/l"}), ("sensor", {"state_topic": "dev/s", "device_class": "battery"}),
    ("switch", {"state_topic": "dev/s"}), ("cover", {"state_topic": "dev/blind", "device_class": "blind"}),
    ("cover", {"state_topic": "dev/c"}), ("binary_sensor", {"state_topic": "dev/m", "device_class": "motion"}),
    ("binary_sensor", {"state_topic": "dev/b"}),
])
def test_components_threshold_does_not_use_are_ignored(component: str, cfg: dict[str, Any]) -> None:
    assert z2m.discovery(f"homeassistant/{component}/n/o/config", js(cfg)) is None


def test_empty_discovery_payload_is_ignored() -> None:
    assert z2m.discovery("homeassistant/lock/n/o/config", b"") is None


def test_abbreviated_config_with_base_topic_is_expanded() -> None:
    cfg = {"~": "home/front", "name": "Front lock", "uniq_id": "front_lock", "stat_t": "~/state",
           "cmd_t": "~/cmd", "avty_t": "~/status", "val_tpl": "{{ value_json.lock_state }}",
           "pl_lock": "CLOSE_IT", "pl_unlk": "OPEN_IT"}
    device, topics = disc("lock", cfg)
    assert device.address == "home/front/state"
    assert topics.state == "home/front/state"
    assert topics.command == "home/front/cmd"
    assert topics.availability == "home/front/status"
    assert topics.template_key == "lock_state"
    assert topics.payloads == {"lock": "CLOSE_IT", "unlock": "OPEN_IT"}


def test_base_topic_may_end_a_topic() -> None:
    _, topics = disc("lock", {"~": "front", "stat_t": "home/~"})
    assert topics.state == "home/front"


def test_abbreviated_cover_payloads_and_device_class() -> None:
    device, topics = disc("cover", {"stat_t": "g/state", "cmd_t": "g/cmd", "dev_cla": "garage",
                                    "pl_open": "UP", "pl_cls": "DOWN"})
    assert device.kind is GARAGE
    assert topics.payloads == {"open": "UP", "close": "DOWN"}


def test_availability_list_form_uses_its_first_topic() -> None:
    _, topics = disc("lock", {"state_topic": "z/front", "availability": [
        {"topic": "z/bridge/state"}, {"topic": "z/front/availability"}]})
    assert topics.availability == "z/bridge/state"
    _, abbreviated = disc("lock", {"state_topic": "z/front", "avty": [{"topic": "z/front/availability"}]})
    assert abbreviated.availability == "z/front/availability"


@pytest.mark.parametrize("entry", [
    pytest.param({"t": "home/front/status"}, id="abbreviated-t"),
    pytest.param({"topic": "~/status"}, id="base-in-list"),
])
def test_availability_list_entries_are_expanded_like_home_assistant(entry: dict[str, str]) -> None:
    _, topics = disc("lock", {"~": "home/front", "stat_t": "~/state", "avty": [entry]})
    assert topics.availability == "home/front/status"


@pytest.mark.parametrize(("template", "key"), [
    ("{{ value_json.lock_state }}", "lock_state"),
    ("{{value_json.state}}", "state"),
    ("{{ value_json['state'] }}", "state"),
    ('{{ value_json["contact"] }}', "contact"),
    ("{{ value_json.state | lower }}", "state"),
    ("  {{ value_json.state }}  ", "state"),
])
def test_value_template_key_is_extracted(template: str, key: str) -> None:
    _, topics = disc("lock", {"state_topic": "dev/x", "value_template": template})
    assert topics.template_key == key


@pytest.mark.parametrize("template", ["{{ value }}", "{% if value_json.x %}locked{% endif %}",
                                      "{{ value_json.a.b }}", 42])
def test_templates_beyond_a_key_are_not_guessed(template: object) -> None:
    _, topics = disc("lock", {"state_topic": "dev/x", "value_template": template})
    assert topics.template_key is None


@pytest.mark.parametrize("cfg", [{}, {"name": "x"}, {"state_topic": ""}, {"state_topic": 5},
                                 {"command_topic": "dev/x/set"}])
def test_discovery_config_without_state_topic_is_refused(cfg: dict[str, Any]) -> None:
    with pytest.raises(MessageError, match="state_topic"):
        z2m.discovery("homeassistant/lock/n/o/config", js(cfg))


@pytest.mark.parametrize("topic", [
    "homeassistant/lock/config", "homeassistant/lock/a/b/c/config", "homeassistant/lock/n/o/state",
    "other/lock/n/o/config", "homeassistant", "homeassistant/lock/n/o/config/extra",
])
def test_bad_discovery_topic_is_refused(topic: str) -> None:
    with pytest.raises(MessageError, match="discovery topic"):
        z2m.discovery(topic, js({"state_topic": "dev/x"}))


@pytest.mark.parametrize("payload", [b"{", b"\xff", js([1, 2]), js("lock"), b"null"])
def test_discovery_payload_that_is_not_a_json_object_is_refused(payload: bytes) -> None:
    with pytest.raises(MessageError):
        z2m.discovery("homeassistant/lock/n/o/config", payload)


def test_discovery_with_a_list_device_class_is_refused() -> None:
    with pytest.raises(MessageError, match="device_class"):
        z2m.discovery("homeassistant/binary_sensor/n/o/config", js({"state_topic": "d", "device_class": ["door"]}))


def test_discovery_prefix_may_contain_a_slash() -> None:
    found = z2m.discovery("site/ha/lock/n/o/config", js({"state_topic": "dev/x"}), prefix="site/ha")
    assert found is not None
    assert found[0].kind is LOCK


# --- property: nothing but MessageError ever escapes ----------------------------------------------------------

json_scalars = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20)
json_values = st.recursive(json_scalars, lambda inner: st.lists(inner, max_size=4)
                           | st.dictionaries(st.text(max_size=8), inner, max_size=4), max_leaves=10)
keys = st.sampled_from(["state", "lock_state", "contact", "battery", "last_seen", "frame_at", "linkquality",
                        "code", "x"])
device_bodies = st.dictionaries(keys, json_values, max_size=6)
payloads = st.binary(max_size=64) | device_bodies.map(js) | json_values.map(js)
kinds = st.none() | st.sampled_from(list(DeviceKind))


@settings(max_examples=300, deadline=None)
@given(payload=payloads, kind=kinds, template=st.none() | keys, plain=st.booleans())
def test_reading_any_payload_raises_only_message_error(payload: bytes, kind: DeviceKind | None,
                                                       template: str | None, plain: bool) -> None:
    reads: list[Callable[[], z2m.Parsed]] = [lambda: z2m.state("dev", kind, payload, template, plain),
                                             lambda: z2m.availability("dev", payload),
                                             lambda: z2m.frame("dev", payload)]
    for read in reads:
        try:
            parsed = read()
        except MessageError:
            continue
        assert parsed.name == "dev"
        assert parsed.battery is None or 0 <= parsed.battery <= 100
        for at in (parsed.at, parsed.frame_at):
            assert at is None or at.tzinfo is not None


discovery_keys = st.sampled_from(["~", "name", "state_topic", "stat_t", "command_topic", "cmd_t",
                                  "availability_topic", "avty_t", "availability", "avty", "value_template",
                                  "val_tpl", "device_class", "dev_cla", "payload_open", "pl_lock", "unique_id"])
discovery_bodies = st.dictionaries(discovery_keys, json_values, max_size=8)
components = st.sampled_from(["lock", "alarm_control_panel", "camera", "cover", "binary_sensor", "light"])


@settings(max_examples=300, deadline=None)
@given(component=components, body=discovery_bodies)
@example(component="binary_sensor", body={"state_topic": "d", "device_class": ["door"]})
def test_reading_any_discovery_config_raises_only_message_error(component: str, body: dict[str, Any]) -> None:
    try:
        found = z2m.discovery(f"homeassistant/{component}/n/o/config", js(body))
    except MessageError:
        return
    if found is not None:
        device, topics = found
        assert isinstance(device.kind, DeviceKind)
        assert isinstance(topics.state, str) and topics.state
        assert isinstance(topics.command, str)


@settings(max_examples=200, deadline=None)
@given(parts=st.lists(st.sampled_from(["z", "bridge", "a b", "set", "availability", "frame", "", "#"]),
                     max_size=6))
def test_split_never_raises_and_never_returns_a_bridge_name(parts: list[str]) -> None:
    topic = "/".join(parts)
    where = z2m.split(topic, "z")
    if where is not None:
        name, suffix = where
        assert topic == f"z/{name}/{suffix}" if suffix else topic == f"z/{name}"
        assert name != "bridge" and not name.startswith("bridge/")
        assert suffix in ("", *z2m.SUFFIXES)
