"""Resolving a webhook's host with the system resolver, then judging every address it gives."""

from __future__ import annotations

import pytest

from threshold.notify.reach import system_resolve, vet
from threshold.notify.targets import WebhookTargetForbidden, WebhookTargetUnresolvable, networks

LOOPBACK = networks(["127.0.0.0/8", "::1/128"])


async def test_the_system_resolver_reads_localhost_as_loopback() -> None:
    found = await system_resolve("localhost", 80)
    assert found and all(a.is_loopback for a in found)


async def test_localhost_passes_only_when_the_operator_allows_loopback() -> None:
    vetted = await vet("http://localhost:8080/hooks", LOOPBACK)
    assert vetted.target.host == "localhost" and vetted.addresses
    assert all(a.is_loopback for a in vetted.addresses)
    with pytest.raises(WebhookTargetForbidden):
        await vet("http://localhost:8080/hooks", ())


async def test_a_name_under_invalid_never_resolves_and_is_refused_as_unresolvable() -> None:
    # RFC 6761: .invalid names never resolve, on any resolver.
    with pytest.raises(WebhookTargetUnresolvable, match=r"hooks\.partner\.invalid"):
        await vet("https://hooks.partner.invalid/", ())
