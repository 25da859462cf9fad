"""Household members and invitations: roles (owner, member), invite, accept, revoke, change role, remove.

Owners do everything; members see the home, its entries and clips, answer "ask me first", and choose their own
notifications. A household always keeps one active owner. Never commits.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

import structlog
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from threshold import limits
from threshold.access import denials
from threshold.audit import service as audit
from threshold.audit.models import PLATFORM_CHAIN
from threshold.errors import Conflict, Forbidden, NotFound, ThresholdError
from threshold.homes import service
from threshold.homes.models import Home, Household, Invitation, Member
from threshold.inputs import is_line
from threshold.notify.ports import Note, Sender
from threshold.security import hash_password, hash_token, new_secret_token

log = structlog.get_logger("threshold.members")
ROLES = ("owner", "member")
INVITATION_TTL = timedelta(days=7)
# A wrong invitation token counts against the address only: a token names no account to lock.
TOKEN_ACCOUNT = None


class OwnerOnly(Forbidden):
    """Only an owner of the household may do this."""

    code, title = "owner_only", "Only an owner can do this"


class InvitationFormInvalid(ThresholdError):
    """The accept form (or an invitation) has fields to fix; `errors` says which; nothing was saved."""

    status, code, title = 422, "invitation_form_invalid", "Check the highlighted fields"

    def __init__(self, errors: dict[str, str]) -> None:
        super().__init__("; ".join(errors.values()), extra={"errors": errors})
        self.errors = errors


@dataclass(frozen=True, slots=True)
class InvitationView:
    """An invitation as owners see it (never its token)."""

    id: uuid.UUID
    email: str
    name: str
    role: str
    state: str
    created_at: datetime
    expires_at: datetime


def state_of(inv: Invitation, now: datetime) -> str:
    """Pending, accepted, revoked or expired."""
    if inv.accepted_at is not None:
        return "accepted"
    if inv.revoked_at is not None:
        return "revoked"
    return "expired" if inv.expires_at <= now else "pending"


def view_of(inv: Invitation, now: datetime) -> InvitationView:
    """The owners' view of an invitation."""
    return InvitationView(inv.id, inv.email, inv.name, inv.role, state_of(inv, now), inv.created_at, inv.expires_at)


async def member(db: AsyncSession, member_id: uuid.UUID) -> Member:
    """The member behind a signed-in id."""
    row = await db.get(Member, member_id)
    if row is None:
        raise NotFound("No such member.")
    return row


async def _home_ids(db: AsyncSession, household_id: uuid.UUID) -> list[uuid.UUID]:
    return list((await db.execute(select(Home.id).where(Home.household_id == household_id)
                                  .order_by(Home.created_at))).scalars())


async def record(db: AsyncSession, household_id: uuid.UUID, actor: str, action: str, subject: str,
                 data: dict[str, object], now: datetime) -> None:
    """Audit a change to who belongs to the household on every home's chain (the platform's while it has none)."""
    homes = await _home_ids(db, household_id)
    for home_id in homes or [PLATFORM_CHAIN]:
        await audit.append(db, home_id, actor, action, subject, data, now)


async def require_owner(db: AsyncSession, member_id: uuid.UUID, what: str, now: datetime,
                        home_id: uuid.UUID | None = None) -> Member:
    """The member, if an owner; otherwise the refusal is audited (on that home, or every home) and raised."""
    row = await member(db, member_id)
    if row.role == "owner":
        return row
    homes = [home_id] if home_id is not None else await _home_ids(db, row.household_id)
    for h in homes or [PLATFORM_CHAIN]:
        await denials.refused(db, h, f"member:{member_id}", f"member:{member_id}", what, "owner_only", now)
    raise OwnerOnly(f"Only an owner of the household can {what}. Ask an owner.", keep_changes=True)


async def owner_home(db: AsyncSession, member_id: uuid.UUID, home_id: uuid.UUID, what: str,
                     now: datetime) -> Home:
    """A home of the member's household that only an owner may change (`what` says the change, in words)."""
    home = await service.own_home(db, member_id, home_id)
    await require_owner(db, member_id, what, now, home.id)
    return home


async def members(db: AsyncSession, member_id: uuid.UUID) -> list[Member]:
    """The household's members, active first, owners first."""
    household = await service.household_of(db, member_id)
    rows = (await db.execute(select(Member).where(Member.household_id == household).order_by(Member.name)))
    return sorted(rows.scalars(), key=lambda m: (not m.active, m.role != "owner", m.name.lower()))


async def _fellow(db: AsyncSession, actor: Member, member_id: uuid.UUID) -> Member:
    row = await db.get(Member, member_id)
    if row is None or row.household_id != actor.household_id:
        raise NotFound("No such member.", code="member_not_found")
    return row


async def _other_owners(db: AsyncSession, target: Member) -> int:
    # The household row is locked first: two owners stepping down at once would each see the other still owner.
    await db.execute(select(Household.id).where(Household.id == target.household_id).with_for_update())
    q = select(Member.id).where(Member.household_id == target.household_id, Member.role == "owner",
                                Member.active.is_(True), Member.id != target.id)
    return len(list((await db.execute(q)).scalars()))


async def set_role(db: AsyncSession, actor_id: uuid.UUID, member_id: uuid.UUID, role: str, now: datetime) -> Member:
    """An owner makes a member an owner, or an owner a member; the last active owner stays an owner."""
    actor = await require_owner(db, actor_id, "change roles", now)
    if role not in ROLES:
        raise ThresholdError("A role is owner or member.", code="role_unknown", status=422)
    target = await _fellow(db, actor, member_id)
    if not target.active:
        raise Conflict("This person was removed from the household.", code="member_removed")
    if target.role == role:
        return target
    if role != "owner" and await _other_owners(db, target) == 0:
        raise Conflict("A household needs an owner: make someone else an owner first.", code="last_owner")
    before, target.role = target.role, role
    await record(db, actor.household_id, f"member:{actor.id}", "member.role_changed", f"member:{target.id}",
                 {"from": before, "to": role}, now)
    return target


async def remove(db: AsyncSession, actor_id: uuid.UUID, member_id: uuid.UUID, now: datetime) -> Member:
    """An owner removes a member: deactivated, so their sessions and tokens stop at once; the last owner stays."""
    actor = await require_owner(db, actor_id, "remove members", now)
    target = await _fellow(db, actor, member_id)
    if not target.active:
        return target
    if target.role == "owner" and await _other_owners(db, target) == 0:
        raise Conflict("A household needs an owner: make someone else an owner first.", code="last_owner")
    target.active = False
    await record(db, actor.household_id, f"member:{actor.id}", "member.removed", f"member:{target.id}",
                 {"role": target.role}, now)
    return target


def _email_error(email: str) -> str | None:
    local, at, domain = email.rpartition("@")
    if not at or not local or "." not in domain or len(email) > 320 or not email.isprintable() \
            or any(c.isspace() for c in email):
        return "Give an email address such as someone@example.com."
    return None


def _name_error(name: str) -> str | None:
    if not name.strip() or len(name) > 200 or not is_line(name):
        return "Give a name (up to 200 characters, letters and punctuation)."
    return None


def _password_error(password: str) -> str | None:
    # The same rule as sign-up's (web/auth.check_password): a domain module does not import the web's.
    if len(password) < 12:
        return "Use at least 12 characters."
    return "Use at most 200 characters." if len(password) > 200 else None


async def _taken(db: AsyncSession, email: str) -> bool:
    return (await db.execute(select(Member.id).where(Member.email == email))).first() is not None


async def invite(db: AsyncSession, actor_id: uuid.UUID, email: str, name: str, role: str, now: datetime,
                 lim: limits.Limits, address: str) -> tuple[Invitation, str]:
    """An owner invites a person by email; returns the invitation and its link token (shown to nobody else).

    An email that has an account is refused as sign-up refuses it, and counted against the address like sign-up,
    so invitations cannot list accounts. A pending invitation to the same email is replaced (a resend).
    """
    actor = await require_owner(db, actor_id, "invite people", now)
    await limits.check(db, lim, None, address, now)
    email = email.strip().lower()
    errors: dict[str, str] = {}
    counted = False
    if err := _email_error(email):
        errors["email"] = err
    elif await _taken(db, email):
        errors["email"] = "This email already has an account. Invite another address."
        await limits.failed(db, lim, None, address, now)
        counted = True
    if err := _name_error(name):
        errors["name"] = err
    if role not in ROLES:
        errors["role"] = "Choose owner or member."
    if errors:
        refusal = InvitationFormInvalid(errors)
        refusal.keep_changes = counted  # the counted failure must outlive the refusal
        raise refusal
    pending = (await db.execute(select(Invitation).where(
        Invitation.household_id == actor.household_id, Invitation.email == email,
        Invitation.accepted_at.is_(None), Invitation.revoked_at.is_(None)))).scalars()
    for old in pending:
        old.revoked_at = now
    token, digest = new_secret_token()
    inv = Invitation(id=uuid.uuid4(), household_id=actor.household_id, email=email, name=name.strip(), role=role,
                     token_hash=digest, invited_by=actor.id, created_at=now, expires_at=now + INVITATION_TTL)
    db.add(inv)
    await db.flush()
    await record(db, actor.household_id, f"member:{actor.id}", "invitation.created", f"invitation:{inv.id}",
                 {"role": role, "expires_at": inv.expires_at.isoformat()}, now)
    return inv, token


async def invitations(db: AsyncSession, member_id: uuid.UUID, now: datetime) -> list[InvitationView]:
    """The household's invitations, newest first, each with its state."""
    household = await service.household_of(db, member_id)
    q = select(Invitation).where(Invitation.household_id == household).order_by(Invitation.created_at.desc())
    return [view_of(i, now) for i in (await db.execute(q.limit(100))).scalars()]


async def revoke(db: AsyncSession, actor_id: uuid.UUID, invitation_id: uuid.UUID, now: datetime) -> Invitation:
    """An owner withdraws a pending invitation; its link stops working at once."""
    actor = await require_owner(db, actor_id, "revoke invitations", now)
    inv = await db.get(Invitation, invitation_id)
    if inv is None or inv.household_id != actor.household_id:
        raise NotFound("No such invitation.", code="invitation_not_found")
    if state_of(inv, now) == "pending":
        inv.revoked_at = now
        await record(db, actor.household_id, f"member:{actor.id}", "invitation.revoked", f"invitation:{inv.id}",
                     {}, now)
    return inv


async def usable(db: AsyncSession, token: str, now: datetime, lim: limits.Limits, address: str,
                 for_update: bool = False) -> Invitation:
    """The pending invitation behind a link token; a wrong token counts against the address (rate limited)."""
    await limits.check(db, lim, TOKEN_ACCOUNT, address, now)
    inv = None
    if token and len(token) <= 200:
        q = select(Invitation).where(Invitation.token_hash == hash_token(token))
        inv = (await db.execute(q.with_for_update() if for_update else q)).scalar()
    if inv is None:
        await limits.failed(db, lim, TOKEN_ACCOUNT, address, now)
        await audit.append(db, PLATFORM_CHAIN, "anonymous", "invitation.refused", "invitation",
                           {"reason": "invitation_invalid"}, now)
        raise NotFound("This invitation link is not valid. Check that it was copied whole.",
                       code="invitation_invalid", keep_changes=True)
    state = state_of(inv, now)
    if state != "pending":
        words = {"accepted": "This invitation was already used: sign in instead.",
                 "revoked": "This invitation was withdrawn. Ask the household for a new one.",
                 "expired": "This invitation has expired. Ask the household for a new one."}
        await record(db, inv.household_id, "anonymous", "invitation.refused", f"invitation:{inv.id}",
                     {"reason": state}, now)
        raise ThresholdError(words[state], code=f"invitation_{state}", status=410, title="Invitation not usable",
                             keep_changes=True)
    return inv


async def accept(db: AsyncSession, token: str, name: str, password: str, now: datetime, lim: limits.Limits,
                 address: str) -> Member:
    """The invitee sets a name and password and joins the household with the invitation's role (single use)."""
    # Locked: the same link accepted twice at once joins once.
    inv = await usable(db, token, now, lim, address, for_update=True)
    errors: dict[str, str] = {}
    if err := _name_error(name):
        errors["name"] = err
    if weak := _password_error(password):
        errors["password"] = weak
    if await _taken(db, inv.email):
        # Someone signed up with this email after the invitation was sent.
        errors["form"] = "This email already has an account: sign in instead."
    if errors:
        raise InvitationFormInvalid(errors)
    row = Member(id=uuid.uuid4(), household_id=inv.household_id, email=inv.email, name=name.strip(),
                 password_hash=hash_password(password), role=inv.role, active=True)
    db.add(row)
    await db.flush()
    inv.accepted_at, inv.member_id = now, row.id
    await record(db, inv.household_id, f"member:{row.id}", "member.joined", f"member:{row.id}",
                 {"role": inv.role, "invitation": str(inv.id)}, now)
    return row


async def household_name(db: AsyncSession, household_id: uuid.UUID) -> str | None:
    """The household's name, as an invitee is shown it."""
    row = await db.get(Household, household_id)
    return row.name if row else None


async def invitation_note(db: AsyncSession, inv: Invitation, token: str, base_url: str) -> Note:
    """The invitation email for the invitee, with the link to accept (sent once, never stored)."""
    household = await db.get(Household, inv.household_id)
    inviter = await db.get(Member, inv.invited_by) if inv.invited_by else None
    url = f"{base_url.rstrip('/')}/join/{token}"
    return Note(key=f"invitation:{inv.id}", channel="email", recipient=inv.email, moment="invitation",
                topic="member.invited",
                data={"home_label": household.name if household else None, "accept_url": url,
                      "inviter": inviter.name if inviter else None, "role": inv.role, "guest_name": inv.name,
                      "expires_at": inv.expires_at.isoformat()})


async def send_invitation(sender: Sender | None, note: Note) -> bool:
    """Send the invitation email now, after the commit: its link is never stored to be sent later.

    False when it did not leave; inviting the same email again sends a fresh link and withdraws this one.
    """
    if sender is None:
        return False
    try:
        await sender.send(note)
    except Exception as exc:  # any failure of the mail server: the owner is told and may send it again
        log.warning("invitation.email_failed", key=note.key, error=type(exc).__name__)
        return False
    return True
