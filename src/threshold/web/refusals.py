"""Driver-facing words: why the door will not open (every refusal and abort code), what to do instead, and what
an entry is doing now. Pure: no I/O."""

from __future__ import annotations

from dataclasses import dataclass

from threshold.access.policy import FALLBACKS


@dataclass(frozen=True, slots=True)
class Advice:
    """What went wrong, in the driver's words, and what to do instead."""

    what: str
    instead: str


CONTACT = "Keep the package in the van and contact dispatch."
DEVICE_TROUBLE = "Do not force the door. " + CONTACT

# What the household chose for a package that cannot go inside (homes' `fallback`), as an instruction.
FALLBACK_WORDS: dict[str, str] = {
    "doorstep": "Leave it at the door, out of sight if you can, and take a photo.",
    "locker": "Take it to the household's parcel locker.",
    "reattempt": "Keep it in the van: it will be delivered again on another day.",
}

REFUSALS: dict[str, Advice] = {
    "grant_revoked": Advice("Entry for this delivery was cancelled.", "Do not go in. " + CONTACT),
    "grant_used": Advice("This delivery's one entry has already been used.",
                         "The door opens once per delivery. " + CONTACT),
    "grant_expired": Advice("The delivery window has ended.", CONTACT + " It will be rebooked."),
    "outside_window": Advice("It is outside the delivery window.",
                             "Come back within the window, or go on to your next stop."),
    "wrong_driver": Advice("This delivery is not assigned to you.", CONTACT),
    "wrong_package": Advice("This barcode does not belong to this stop.",
                            "Check the label and scan it again. If it still does not match, the package is for "
                            "another stop: keep it in the van."),
    "delivery_not_active": Advice("This delivery is no longer open for entry.",
                                  "Go back to your stops. If the package is still with you, contact dispatch."),
    "household_opted_out": Advice("The household has turned in-home delivery off.", "Do not go in. " + CONTACT),
    "blackout_day": Advice("The household does not take deliveries today.", CONTACT + " It will be rebooked."),
    "entry_point_not_allowed": Advice("The household does not allow entry through this door.",
                                      "Do not go in. " + CONTACT),
    "package_too_large": Advice("The package is too large for this entry point.", CONTACT),
    "not_at_home": Advice("Your location is not at this home.",
                          "Walk to the door, check that your phone shares its location with this page, then ask "
                          "again."),
    "location_missing": Advice("Your phone did not share its location, and the door opens only for a driver at "
                               "the home.",
                               "Allow location for this site in your browser's settings, reload the page and ask "
                               "again. If you cannot, contact dispatch."),
    "device_offline": Advice("The lock or the camera at this door is offline.", DEVICE_TROUBLE),
    "camera_not_confirmed": Advice("The camera did not confirm it was recording, so the door stayed locked.",
                                   DEVICE_TROUBLE),
    "entry_in_progress": Advice("Another entry is in progress at this door.",
                                "Wait a minute, then ask again."),
    "session_not_open": Advice("The door is not open, so there is nothing to lock up.",
                               "Follow the state shown on this page."),
    # Why an entry ended before the door opened.
    "alarm_not_disarmed": Advice("The alarm did not turn off, so the door stayed locked.", DEVICE_TROUBLE),
    "lock_jammed": Advice("The lock jammed.", DEVICE_TROUBLE),
    "lock_not_confirmed": Advice("The lock did not confirm it opened, so the entry was stopped.", DEVICE_TROUBLE),
    "lock_offline": Advice("The lock went offline.", DEVICE_TROUBLE),
    "camera_stalled": Advice("The camera stopped sending pictures, so the entry was stopped.", DEVICE_TROUBLE),
    "door_busy": Advice("The household let you in, but someone else is using this door right now.",
                        "Ask again in a minute: you will not have to wait for the household's yes again."),
    "approval_declined": Advice("The household said no to this entry.", "Do not go in. " + CONTACT),
    "approval_timeout": Advice("The household did not answer in time.",
                               "Ask again if you can wait; if not, keep the package in the van and contact dispatch."),
    # Why an entry ended early after the door opened: the door was locked again.
    "driver_lingered": Advice("The door was locked automatically: the entry took longer than allowed.",
                              "If the package is inside, you are done. If it is still with you, contact dispatch."),
    "alarm_not_rearmed": Advice("The alarm did not turn back on. The household and an operator have been told.",
                                "Nothing more to do here: go on to your next stop."),
    "interrupted": Advice("The entry was interrupted (the system restarted or the entry was cancelled).",
                          "Check that the door is closed. " + CONTACT),
}

# Reasons caused only by the home's devices: the household's fallback says what happens to the package.
DEVICE_CAUSES = frozenset({"device_offline", "camera_not_confirmed", "alarm_not_disarmed", "lock_jammed",
                           "lock_not_confirmed", "lock_offline", "camera_stalled"})
# Reasons that are the household's own choice (a blackout day, in-home turned off, a no): the driver did
# everything right, so the package goes where the household said it should when the door stays shut.
HOUSEHOLD_CAUSES = frozenset({"blackout_day", "household_opted_out", "entry_point_not_allowed", "package_too_large",
                              "approval_declined"})

UNKNOWN = Advice("The door will not open for this delivery.", CONTACT)
# The door was opened and then could not be locked: a person must come; the driver stays until told otherwise.
UNSECURED = Advice("The door could not be locked after the entry. An operator and the household have been told.",
                   "Stay near the door and close it by hand if you can. Do not leave until dispatch says so.")


def advice(code: str | None, fallback: str | None = None, window: str | None = None) -> Advice:
    """The driver's words for a refusal code; the household's fallback, when one applies, is what to do."""
    found = REFUSALS.get(code or "", UNKNOWN)
    if code == "outside_window" and window:
        found = Advice(f"It is outside the delivery window ({window}).", found.instead)
    if fallback in FALLBACKS:
        return Advice(found.what, FALLBACK_WORDS[fallback])
    return found


def fallback_for(reason: str | None, delivery_fallback: str | None, household_fallback: str | None) -> str | None:
    """The fallback the driver should follow: the one recorded on the delivery, else the household's choice when
    only the home's devices stood in the way."""
    if delivery_fallback in FALLBACKS:
        return delivery_fallback
    if reason in DEVICE_CAUSES | HOUSEHOLD_CAUSES and household_fallback in FALLBACKS:
        return household_fallback
    return None


def fallback_for_refusal(reasons: list[str], delivery_fallback: str | None,
                         household_fallback: str | None) -> str | None:
    """The fallback a refused driver should follow: only when nothing but the home or its household stood in the
    way (a wrong barcode or a driver away from the door is not a reason to leave the package)."""
    if delivery_fallback in FALLBACKS:
        return delivery_fallback
    if reasons and all(r in DEVICE_CAUSES | HOUSEHOLD_CAUSES for r in reasons):
        return fallback_for(reasons[0], None, household_fallback)
    return None


# An entry's state as the driver needs to hear it.
STATES: dict[str, str] = {
    "awaiting_approval": "Waiting for the household to let you in",
    "camera_starting": "Starting the camera",
    "disarming": "Turning the alarm off",
    "unlocking": "Unlocking the door",
    "open": "Door unlocked",
    "locking": "Locking the door",
    "arming": "Turning the alarm back on",
    "done": "Done: door locked",
    "aborted": "Stopped: the door did not open",
    "interrupted": "Interrupted",
    "unsecured": "The door could not be locked",
}


def state_words(state: str, has_alarm: bool = False, opened: bool = True) -> str:
    """A session state as a short heading for the driver."""
    if state == "done" and has_alarm:
        return "Done: door locked, alarm on"
    if state == "aborted" and opened:
        return "Stopped: the door was locked again"
    return STATES.get(state, state.replace("_", " ").capitalize())


def ended(state: str, reason: str | None, opened: bool, fallback: str | None = None) -> Advice | None:
    """What the driver should know when an entry has ended: nothing for a clean finish, else why and what next."""
    if state == "unsecured":
        return UNSECURED
    if state == "done" and not reason:
        return None
    found = REFUSALS.get(reason or "", UNKNOWN)
    if opened and reason not in ("driver_lingered", "alarm_not_rearmed"):
        # The door was open once: the package may already be inside, and the lock is closed again.
        return Advice(found.what, "If the package is inside, you are done. If it is still with you, "
                                  "contact dispatch.")
    return advice(reason, None if opened else fallback)
