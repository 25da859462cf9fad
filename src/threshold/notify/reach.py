"""Resolving a webhook's host and judging every address it resolves to (the I/O around `notify.targets`)."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from ipaddress import ip_address

from threshold.notify import targets
from threshold.notify.targets import IPAddress, Network, Target

Resolver = Callable[[str, int], Awaitable[list[IPAddress]]]
# A resolver that never answers must not hold a registration or a dispatch slot for long.
RESOLVE_TIMEOUT = 5.0


@dataclass(frozen=True, slots=True)
class Vetted:
    """A webhook URL that passed: its target and the addresses judged, the first of which to connect to."""

    target: Target
    addresses: tuple[IPAddress, ...]


async def system_resolve(host: str, port: int) -> list[IPAddress]:
    """Every address the system resolver gives for `host` (getaddrinfo, off the event loop); [] when none."""
    loop = asyncio.get_running_loop()
    try:
        infos = await asyncio.wait_for(loop.getaddrinfo(host, port, type=socket.SOCK_STREAM), RESOLVE_TIMEOUT)
    except (OSError, UnicodeError, TimeoutError):
        return []
    found: list[IPAddress] = []
    for *_, sockaddr in infos:
        try:
            address = ip_address(str(sockaddr[0]))
        except ValueError:
            # Never connected to: the sender connects only to an address it read and judged.
            continue
        if address not in found:
            found.append(address)
    return found


async def vet(url: str, allowed: Sequence[Network], resolve: Resolver = system_resolve) -> Vetted:
    """Judge a webhook URL where it leads now; raises WebhookUrlInvalid, WebhookTargetForbidden or Unresolvable."""
    target = targets.parse(url)
    targets.screen(target, allowed)
    addresses = [target.address] if target.address is not None else await resolve(target.host, target.port)
    targets.judge(target, addresses, allowed)
    return Vetted(target, tuple(addresses))
