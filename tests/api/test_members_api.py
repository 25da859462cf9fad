"""The household's people over the API: invite by email, accept once, roles enforced with stable codes and
audited refusals, the last owner kept, a removed member out at once, and each member's own notifications."""

from __future__ import annotations

import re

from api_helpers import Api, problem

from threshold.sim.harness import Harness

PASSWORD = "correct horse battery"


async def _invite(h: Harness, headers: dict[str, str], email: str, role: str = "member") -> str:
    """Invite and return the link token from the email the invitee received."""
    r = await h.client.post("/v1/household/invitations", headers=headers,
                            json={"email": email, "name": "Bo Lin", "role": role})
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["state"] == "pending" and body["email_sent"] is True and "token" not in body
    mail = await h.mail.wait_for(lambda m: email in m.rcpt_tos, timeout=30)
    assert mail.moment == "invitation" and "invited you" in mail.subject
    assert "invited this address" in mail.text and "notification settings" not in mail.text
    found = re.search(r"/join/([A-Za-z0-9_-]+)", mail.text)
    assert found, mail.text
    return found.group(1)


async def _accept(h: Harness, token: str, email: str) -> dict[str, str]:
    r = await h.client.post("/v1/invitations/accept", json={"token": token, "name": "Bo Lin",
                                                            "password": PASSWORD})
    assert r.status_code == 201, r.text
    signed = await h.client.post("/v1/household/token", json={"email": email, "password": PASSWORD})
    return {"Authorization": f"Bearer {signed.json()['access_token']}"}


async def test_an_invited_member_joins_once_sees_the_home_and_is_refused_owner_changes_on_record(
        harness: Harness, api: Api) -> None:
    h, owner = harness, await api.member(0)
    token = await _invite(h, owner, "bo@example.com")
    bo = await _accept(h, token, "bo@example.com")
    again = await h.client.post("/v1/invitations/accept", json={"token": token, "name": "X", "password": PASSWORD})
    problem(again, 410, "invitation_accepted")
    home = api.home(0)
    assert (await h.client.get(f"/v1/homes/{home.id}", headers=bo)).status_code == 200
    rules = (await h.client.get(f"/v1/homes/{home.id}/rules", headers=bo)).json()
    problem(await h.client.put(f"/v1/homes/{home.id}/rules", headers=bo, json={**rules, "in_home_enabled": False}),
            403, "owner_only")
    problem(await h.client.post("/v1/household/invitations", headers=bo,
                                json={"email": "cy@example.com", "name": "Cy"}), 403, "owner_only")
    people = (await h.client.get("/v1/household/members", headers=bo)).json()
    me = next(p for p in people if p["email"] == "bo@example.com")
    problem(await h.client.put(f"/v1/household/members/{me['id']}/role", headers=bo, json={"role": "owner"}),
            403, "owner_only")
    problem(await h.client.put("/v1/household/video", headers=bo, json={"retention_days": 1}), 403, "owner_only")
    refusals = [r for r in await api.audit(0) if r["action"] == "access.refused"
                and r["data"].get("reason") == "owner_only"]
    assert len(refusals) == 4 and all(r["actor"] == f"member:{me['id']}" for r in refusals)
    assert (await h.client.get(f"/v1/homes/{home.id}/rules", headers=owner)).json()["in_home_enabled"] \
        == rules["in_home_enabled"]
    joined = [r for r in await api.audit(0) if r["action"] == "member.joined"]
    assert joined and joined[0]["data"]["role"] == "member"


async def test_owners_change_roles_keep_the_last_owner_and_a_removed_member_is_out_at_once(
        harness: Harness, api: Api) -> None:
    h, owner = harness, await api.member(0)
    bo = await _accept(h, await _invite(h, owner, "bo@example.com"), "bo@example.com")
    people = {p["email"]: p for p in (await h.client.get("/v1/household/members", headers=owner)).json()}
    me, them = people[api.home(0).member_email], people["bo@example.com"]
    problem(await h.client.put(f"/v1/household/members/{me['id']}/role", headers=owner, json={"role": "member"}),
            409, "last_owner")
    problem(await h.client.delete(f"/v1/household/members/{me['id']}", headers=owner), 409, "last_owner")
    problem(await h.client.put(f"/v1/household/members/{them['id']}/role", headers=owner, json={"role": "boss"}),
            422, "validation_failed")
    r = await h.client.delete(f"/v1/household/members/{them['id']}", headers=owner)
    assert r.status_code == 200 and r.json()["active"] is False
    problem(await h.client.get("/v1/homes", headers=bo), 401, "member_inactive")
    # Another household's member is 'not found', never changed.
    other = (await h.client.get("/v1/household/members", headers=await api.member(1))).json()[0]
    problem(await h.client.delete(f"/v1/household/members/{other['id']}", headers=owner), 404, "member_not_found")


async def test_invitations_are_listed_with_their_state_and_a_revoked_link_is_refused(
        harness: Harness, api: Api) -> None:
    h, owner = harness, await api.member(0)
    token = await _invite(h, owner, "bo@example.com", role="owner")
    listed = (await h.client.get("/v1/household/invitations", headers=owner)).json()
    assert [(i["email"], i["role"], i["state"]) for i in listed] == [("bo@example.com", "owner", "pending")]
    r = await h.client.delete(f"/v1/household/invitations/{listed[0]['id']}", headers=owner)
    assert r.status_code == 200 and r.json()["state"] == "revoked"
    problem(await h.client.post("/v1/invitations/accept", json={"token": token, "name": "Bo", "password": PASSWORD}),
            410, "invitation_revoked")
    problem(await h.client.post("/v1/invitations/accept", json={"token": "x" * 32, "name": "Bo",
                                                                "password": PASSWORD}), 404, "invitation_invalid")
    problem(await h.client.post("/v1/household/invitations", headers=owner,
                                json={"email": api.home(1).member_email, "name": "Taken"}),
            422, "invitation_form_invalid")


async def test_each_member_chooses_their_own_notifications_without_changing_the_households(
        harness: Harness, api: Api) -> None:
    h, owner = harness, await api.member(0)
    bo = await _accept(h, await _invite(h, owner, "bo@example.com"), "bo@example.com")
    r = await h.client.put("/v1/household/members/me/notifications", headers=bo,
                           json={"channels": {"delivered": ["sms"]}})
    assert r.status_code == 200 and r.json()["channels"]["delivered"] == ["sms"]
    mine = (await h.client.get("/v1/household/members/me/notifications", headers=owner)).json()["channels"]
    household = (await h.client.get("/v1/household/notifications", headers=owner)).json()["channels"]
    assert mine["delivered"] == household["delivered"] == ["email"]
    problem(await h.client.put("/v1/household/members/me/notifications", headers=bo,
                               json={"channels": {"delivered": ["pigeon"]}}), 422, "bad_preference")
    # The household's defaults are every member's: an owner's to change.
    problem(await h.client.put("/v1/household/notifications", headers=bo, json={"channels": {"delivered": []}}),
            403, "owner_only")
    r = await h.client.put("/v1/household/notifications", headers=owner, json={"channels": {"delivered": []}})
    assert r.status_code == 200
    assert (await h.client.get("/v1/household/members/me/notifications", headers=bo)).json()["channels"][
        "delivered"] == ["sms"]  # their own choice still wins
