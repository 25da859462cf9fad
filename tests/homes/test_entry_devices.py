"""Which devices serve an entry point: the door, the camera that records it, the alarm panel, the contacts."""

from __future__ import annotations

import uuid

from hypothesis import given
from hypothesis import strategies as st

from threshold.homes.entry_devices import Placed, camera_for, lock_at, securing, serving

FRONT, GARAGE, BACK = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()


def _id(n: int) -> uuid.UUID:
    """Ids whose order is known: the rule picks the lowest when several devices fit."""
    return uuid.UUID(int=n)


def test_the_entry_points_own_camera_serves_it_not_a_home_wide_one() -> None:
    home = [Placed(_id(1), "camera", None), Placed(_id(2), "camera", FRONT), Placed(_id(3), "lock", FRONT)]
    assert serving(FRONT, "front_door", home).camera == _id(2)


def test_a_home_wide_camera_serves_an_entry_point_without_a_camera_of_its_own() -> None:
    home = [Placed(_id(2), "camera", FRONT), Placed(_id(5), "camera", None), Placed(_id(6), "garage", GARAGE)]
    assert serving(GARAGE, "garage", home).camera == _id(5)


def test_a_camera_at_another_entry_point_never_stands_in() -> None:
    home = [Placed(_id(1), "camera", GARAGE), Placed(_id(2), "lock", FRONT)]
    assert serving(FRONT, "front_door", home).camera is None
    assert camera_for(FRONT, home) is None


def test_a_door_with_no_entry_point_is_served_only_by_a_home_wide_camera() -> None:
    assert camera_for(None, [Placed(_id(1), "camera", FRONT), Placed(_id(2), "camera", None)]) == _id(2)
    assert camera_for(None, [Placed(_id(1), "camera", FRONT)]) is None


def test_the_door_is_the_garage_door_at_a_garage_and_the_lock_elsewhere() -> None:
    home = [Placed(_id(1), "lock", GARAGE), Placed(_id(2), "garage", GARAGE), Placed(_id(3), "lock", FRONT)]
    assert serving(GARAGE, "garage", home).door == _id(2)
    assert serving(FRONT, "front_door", home).door == _id(3)
    # A keypad code goes on a lock, so the garage's side lock is where a guest's code for the garage goes.
    assert lock_at(GARAGE, home) == _id(1)


def test_an_entry_point_without_its_door_device_has_no_door() -> None:
    home = [Placed(_id(1), "lock", FRONT), Placed(_id(2), "camera", None)]
    assert serving(BACK, "back_door", home).door is None
    assert serving(GARAGE, "garage", [Placed(_id(3), "lock", GARAGE)]).door is None


def test_the_alarm_panel_serves_every_entry_point_and_contacts_only_their_own() -> None:
    home = [Placed(_id(1), "alarm", None), Placed(_id(2), "contact", FRONT), Placed(_id(3), "contact", BACK),
            Placed(_id(4), "contact", FRONT)]
    front, back = serving(FRONT, "front_door", home), serving(BACK, "back_door", home)
    assert front.alarm == back.alarm == _id(1)
    assert front.contacts == (_id(2), _id(4)) and back.contacts == (_id(3),)


def test_securing_an_entry_point_takes_its_locks_garage_doors_and_contacts_only() -> None:
    home = [Placed(_id(1), "lock", GARAGE), Placed(_id(2), "garage", GARAGE), Placed(_id(3), "contact", GARAGE),
            Placed(_id(4), "camera", GARAGE), Placed(_id(5), "lock", FRONT), Placed(_id(6), "alarm", None)]
    assert securing(GARAGE, home) == (_id(1), _id(2), _id(3))


_HOMES = st.lists(st.builds(Placed, st.integers(0, 50).map(_id),
                            st.sampled_from(["lock", "camera", "alarm", "garage", "contact"]),
                            st.sampled_from([FRONT, GARAGE, None])), max_size=12, unique_by=lambda d: d.id)


@given(_HOMES.flatmap(lambda home: st.tuples(st.just(home), st.permutations(home))))
def test_the_same_devices_in_any_order_give_the_same_answer(orders: tuple[list[Placed], list[Placed]]) -> None:
    home, shuffled = orders
    for entry, kind in ((FRONT, "front_door"), (GARAGE, "garage")):
        assert serving(entry, kind, shuffled) == serving(entry, kind, home)
        assert securing(entry, shuffled) == securing(entry, home)


@given(_HOMES)
def test_the_serving_camera_is_the_entry_points_own_whenever_it_has_one(home: list[Placed]) -> None:
    chosen = serving(FRONT, "front_door", home).camera
    own = [d.id for d in home if d.kind == "camera" and d.entry_point_id == FRONT]
    elsewhere = {d.id for d in home if d.kind == "camera" and d.entry_point_id not in (FRONT, None)}
    assert chosen not in elsewhere
    if own:
        assert chosen in own
    else:
        assert (chosen is None) == (not any(d.kind == "camera" and d.entry_point_id is None for d in home))
