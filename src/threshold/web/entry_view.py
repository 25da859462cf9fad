"""The household's view of one entry: what happened in plain words, the live view until the clip is sealed,
and the parts of the page its step stream swaps while the entry runs."""

from __future__ import annotations

import uuid
from typing import Any

from markupsafe import escape
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from threshold.access.models import EntrySession, Incident
from threshold.audit.models import AuditRecord
from threshold.homes.models import Home
from threshold.video import service as clips
from threshold.video.models import Clip
from threshold.web import steps, story
from threshold.web.deps import templates

KEPT = ("sealed", "partial")


# A clip's status as the entries list reads it.
CLIP_WORDS = {"sealed": "Kept", "partial": "Partly kept", "recording": "Recording", "purged": "Deleted"}


async def outcomes(db: AsyncSession, entries: list[EntrySession], tz: str) -> dict[uuid.UUID, str]:
    """Each entry's outcome in words for the home's list; a door left unlocked follows its incident."""
    unsecured = [e.id for e in entries if e.state == "unsecured"]
    incidents: dict[uuid.UUID, Incident] = {}
    if unsecured:
        q = select(Incident).where(Incident.session_id.in_(unsecured)).order_by(Incident.opened_at)
        incidents = {i.session_id: i for i in (await db.execute(q)).scalars() if i.session_id is not None}
    out = {}
    for e in entries:
        found = incidents.get(e.id)
        facts = story.Facts(state=e.state, reason=e.reason, actor_kind=e.actor_kind, tz=tz,
                            opened_at=e.unlock_sent_at, resolved_at=getattr(found, "resolved_at", None),
                            closed_at=found.closed_at if found is not None and found.status == "closed" else None)
        why = story.reason_words(e.reason) if e.state in ("aborted", "interrupted") else None
        out[e.id] = f"{story.badge(facts)} ({why})" if why else story.badge(facts)
    return out


def following(entry: EntrySession, clip: Clip | None) -> bool:
    """Whether the page keeps listening: the entry is under way, or its clip is still being recorded."""
    return entry.live or (clip is not None and clip.status == "recording")


async def context(db: AsyncSession, home: Home, entry: EntrySession, clip: Clip | None, live: bool) -> dict[str, Any]:
    """What entry.html shows: the steps, the sentence, the state's words, the clip or the live view."""
    done = await steps.steps_of(db, entry)
    facts = await steps.facts_of(db, entry, done)
    return {"home": home, "entry": entry, "steps": done, "clip": clip, "live": live and not _kept(clip),
            "tz": home.timezone, "said": story.sentence(facts), "badge": story.badge(facts),
            "follow": following(entry, clip), "gone": _gone(clip)}


def _kept(clip: Clip | None) -> bool:
    return clip is not None and clip.status in KEPT


def _gone(clip: Clip | None) -> str | None:
    # A partial clip says why in the household's words, not the recorder's code.
    return story.reason_words(clip.failure) if clip is not None and clip.failure else None


def media(home: Home | dict[str, Any], entry: EntrySession, clip: Clip | None, live: bool, tz: str) -> str:
    """The live view or the clip, as one line of HTML for the page (or its stream) to swap in."""
    part = templates.env.get_template("_entry_media.html")
    return part.render(home=home, entry=entry, clip=clip, live=live and not _kept(clip), tz=tz,
                       gone=_gone(clip)).replace("\n", "")


def updates(home_id: Any, tz: str) -> steps.Extra:
    """The entry page's own stream events: `story` and `badge` when a step lands, `clip` once it is sealed."""
    home = {"id": home_id, "timezone": tz}

    async def extra(db: AsyncSession, entry: EntrySession) -> tuple[list[tuple[str, str]], bool]:
        done: list[AuditRecord] = await steps.steps_of(db, entry)
        facts = await steps.facts_of(db, entry, done)
        clip = await clips.clip_of_session(db, entry.id)
        records = templates.env.get_template("_records.html").render(entry=entry, steps=done, clip=clip)
        out = [("story", _escape(story.sentence(facts))), ("badge", _escape(story.badge(facts))),
               ("records", records.replace("\n", ""))]
        if _kept(clip):
            out.append(("clip", media(home, entry, clip, False, tz)))
        # The live view holds until the clip is sealed: an entry that ended keeps the stream open until then.
        return out, not _kept(clip) and (entry.live or (clip is not None and clip.status == "recording"))

    return extra


def _escape(text: str) -> str:
    return str(escape(text))
