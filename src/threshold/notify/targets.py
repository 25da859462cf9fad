"""Where a partner's webhook may go: public addresses only, unless the operator allows a network of its own.

Pure: reads a URL, reads a literal address in every spelling a resolver accepts, and judges addresses. Resolving
a name is the caller's job (`notify.reach`); the caller then connects to an address judged here, never to a name.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network, ip_network
from urllib.parse import urlsplit

from threshold.errors import ThresholdError

IPAddress = IPv4Address | IPv6Address
Network = IPv4Network | IPv6Network

DEFAULT_PORTS = {"http": 80, "https": 443}
# Names that mean "this machine" or "this site" whatever DNS says (RFC 6761, RFC 6762, RFC 8375, ICANN's
# .internal); a name without a dot is completed by the resolver's search list, so it is internal too.
INTERNAL_SUFFIXES = ("localhost", "local", "internal", "localdomain", "home.arpa")
# Whitespace and control characters split a URL differently in different parsers; a backslash is a slash to
# browsers (WHATWG) and part of the host to urllib. None of them belongs in a webhook URL.
UNSAFE = re.compile(r"[\x00-\x20\x7f\\]")
LABEL = re.compile(r"[a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?")

_V4_RANGES: tuple[tuple[str, str], ...] = (
    ("0.0.0.0/8", "an unspecified address"),
    ("10.0.0.0/8", "a private address"),
    ("100.64.0.0/10", "shared address space (carrier-grade NAT)"),
    ("127.0.0.0/8", "a loopback address"),
    ("169.254.0.0/16", "a link-local address (where cloud metadata services answer)"),
    ("172.16.0.0/12", "a private address"),
    ("192.0.0.0/24", "reserved for protocol assignments"),
    ("192.0.2.0/24", "a documentation address"),
    ("192.88.99.0/24", "a 6to4 relay address"),
    ("192.168.0.0/16", "a private address"),
    ("198.18.0.0/15", "a benchmarking address"),
    ("198.51.100.0/24", "a documentation address"),
    ("203.0.113.0/24", "a documentation address"),
    ("224.0.0.0/4", "a multicast address"),
    ("255.255.255.255/32", "the broadcast address"),
    ("240.0.0.0/4", "a reserved address"),
)
_V6_RANGES: tuple[tuple[str, str], ...] = (
    ("::/128", "the unspecified address"),
    ("::1/128", "a loopback address"),
    ("64:ff9b:1::/48", "a local-use NAT64 address"),
    ("100::/64", "a discard-only address"),
    ("2001:2::/48", "a benchmarking address"),
    ("2001:db8::/32", "a documentation address"),
    ("3fff::/20", "a documentation address"),
    ("fc00::/7", "a private (unique local) address"),
    ("fe80::/10", "a link-local address"),
    ("fec0::/10", "a site-local address"),
    ("ff00::/8", "a multicast address"),
)
_RANGES: tuple[tuple[Network, str], ...] = tuple(
    (ip_network(cidr), why) for cidr, why in _V4_RANGES + _V6_RANGES)
# IPv6 prefixes whose last 32 bits are an IPv4 address the packet ends up at: IPv4-compatible (deprecated)
# and the NAT64 well-known prefix.
_EMBEDS_LAST_32 = (IPv6Network("::/96"), IPv6Network("64:ff9b::/96"))


class WebhookUrlInvalid(ThresholdError):
    """The webhook URL cannot be read as an http(s) URL with a host."""

    status, code, title = 422, "webhook_url_invalid", "Invalid webhook URL"


class WebhookTargetForbidden(ThresholdError):
    """The webhook URL reaches an address or name inside a network, not the public internet."""

    status, code, title = 422, "webhook_target_forbidden", "Webhook target not allowed"


class WebhookTargetUnresolvable(ThresholdError):
    """The webhook URL's host name does not resolve to any address."""

    status, code, title = 422, "webhook_target_unresolvable", "Webhook host not found"


@dataclass(frozen=True, slots=True)
class Target:
    """A webhook URL's destination: `host` is the name in ASCII, lower case, or the literal in canonical form."""

    scheme: str
    host: str
    port: int
    address: IPAddress | None  # set when the host is a literal address

    @property
    def host_header(self) -> str:
        """The `Host` header the receiver expects (the port only where it is not the scheme's default)."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return host if self.port == DEFAULT_PORTS[self.scheme] else f"{host}:{self.port}"


def parse(url: str) -> Target:
    """Read a webhook URL's scheme, host and port; WebhookUrlInvalid when it is not an http(s) URL with a host."""
    if UNSAFE.search(url):
        raise WebhookUrlInvalid("A webhook URL must not contain spaces, control characters or backslashes.")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise WebhookUrlInvalid("The webhook URL cannot be read (a bad port or a bad address in brackets).") \
            from exc
    scheme = parts.scheme.lower()
    if scheme not in DEFAULT_PORTS:
        raise WebhookUrlInvalid("A webhook URL must start with http:// or https://.")
    if "@" in parts.netloc:
        raise WebhookUrlInvalid("A webhook URL must not carry a user name or password.")
    if port == 0:
        raise WebhookUrlInvalid("A webhook URL's port must be between 1 and 65535.")
    port = port or DEFAULT_PORTS[scheme]
    host = parts.hostname or ""
    if "[" in parts.netloc:
        v6 = _bracketed(host)
        return Target(scheme, str(v6), port, v6)
    if not host.isascii():
        try:
            # The idna codec maps full-width digits and dots to ASCII, as resolvers do before reading a number.
            host = host.encode("idna").decode("ascii")
        except UnicodeError as exc:
            raise WebhookUrlInvalid("The webhook URL's host is not a valid domain name.") from exc
    host = host.lower().removesuffix(".")
    if not host:
        raise WebhookUrlInvalid("A webhook URL must name a host.")
    v4 = ipv4_literal(host)
    if v4 is not None:
        return Target(scheme, str(v4), port, v4)
    if len(host) > 253 or not all(LABEL.fullmatch(label) for label in host.split(".")):
        raise WebhookUrlInvalid("The webhook URL's host is not a valid domain name.")
    return Target(scheme, host, port, None)


def _bracketed(host: str) -> IPv6Address:
    try:
        return IPv6Address(host)
    except ValueError as exc:
        raise WebhookUrlInvalid("The webhook URL's address in brackets is not an IPv6 address.") from exc


def ipv4_literal(host: str) -> IPv4Address | None:
    """The IPv4 address a host spells in any form resolvers accept (127.1, 0x7f.1, 0177.0.0.1, 2130706433).

    None when the host is a name. A host whose last label is a number is an address or nothing (WHATWG URL):
    "1.2.3.4.5" is refused rather than sent to a resolver that might read it some other way.
    """
    labels = host.split(".")
    final = labels[-1]
    if not (final.isascii() and final.isdigit()) and _number(final) is None:
        return None
    numbers = [_number(label) for label in labels]
    if len(labels) > 4 or any(n is None for n in numbers):
        raise WebhookUrlInvalid(f"The webhook URL's host {host!r} is neither a name nor an IPv4 address.")
    *head, last = [n for n in numbers if n is not None]
    if any(n > 255 for n in head) or last >= 256 ** (5 - len(labels)):
        raise WebhookUrlInvalid(f"The webhook URL's host {host!r} is an IPv4 address out of range.")
    value = last
    for i, n in enumerate(head):
        value += n << (8 * (3 - i))
    return IPv4Address(value)


def _number(label: str) -> int | None:
    digits, base = label, 10
    if label[:2] in ("0x", "0X"):
        digits, base = label[2:], 16
    elif len(label) > 1 and label.startswith("0"):
        digits, base = label[1:], 8
    if digits == "" and base == 16:
        return 0
    allowed = {10: "0123456789", 8: "01234567", 16: "0123456789abcdefABCDEF"}[base]
    if not digits or any(c not in allowed for c in digits):
        return None
    # A number, and far out of range: int() would refuse thousands of digits with an error of its own.
    return 1 << 64 if len(digits) > 32 else int(digits, base)


def networks(cidrs: Sequence[str | Network]) -> tuple[Network, ...]:
    """The operator's allowed networks; ValueError on a CIDR that is not one."""
    return tuple(c if isinstance(c, IPv4Network | IPv6Network) else ip_network(c) for c in cidrs)


def effective(address: IPAddress) -> IPAddress:
    """The address a connection really reaches: an IPv4-mapped IPv6 address is its IPv4 address."""
    if isinstance(address, IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def is_allowed(address: IPAddress, allowed: Sequence[Network]) -> bool:
    """True when the operator allowed a network holding this address."""
    a = effective(address)
    return any(n.version == a.version and a in n for n in allowed)


def refusal(address: IPAddress) -> str | None:
    """Why an address is not a public one, in plain words; None for a globally routable address."""
    a = effective(address)
    for net, why in _RANGES:
        if net.version == a.version and a in net:
            return why
    inner = _embedded(a)
    if inner is not None:
        why_inner = refusal(inner)
        if why_inner is not None:
            return f"an IPv6 address that carries {inner}, {why_inner}"
    if not a.is_global or a.is_reserved or a.is_multicast or a.is_private:
        return "not a public address"
    return None


def _embedded(address: IPAddress) -> IPv4Address | None:
    if not isinstance(address, IPv6Address):
        return None
    if any(address in net for net in _EMBEDS_LAST_32):
        return IPv4Address(int(address) & 0xFFFFFFFF)
    # Teredo (2001::/32) needs no reading: the whole prefix is refused as not public.
    return address.sixtofour


def internal_name(host: str) -> str | None:
    """Why a host name is internal by definition (localhost, *.local, a name without a dot); None if it is not."""
    for suffix in INTERNAL_SUFFIXES:
        if host == suffix or host.endswith("." + suffix):
            return f"a {suffix} name, which only means something inside a network"
    if "." not in host:
        return "a name without a dot, which the resolver completes inside the local network"
    return None


def screen(target: Target, allowed: Sequence[Network]) -> None:
    """Refuse what needs no resolving to refuse: a literal address or, with no allowed network, an internal name."""
    if target.address is not None:
        judge(target, [target.address], allowed)
        return
    why = internal_name(target.host)
    if why is not None and not allowed:
        raise _forbidden(target.host, why)


def judge(target: Target, addresses: Sequence[IPAddress], allowed: Sequence[Network]) -> None:
    """Accept the target only if every address it reaches is public or in an allowed network."""
    if not addresses:
        raise WebhookTargetUnresolvable(f"The webhook host {target.host} does not resolve to any address.")
    for address in addresses:
        if is_allowed(address, allowed):
            continue
        why = refusal(address)
        if why is not None:
            real = effective(address)
            shown = target.host if target.address is not None else f"{target.host} ({address})"
            raise _forbidden(shown if real == address else f"{shown}, that is {real}", why)
    why = internal_name(target.host) if target.address is None else None
    if why is not None and not all(is_allowed(a, allowed) for a in addresses):
        raise _forbidden(target.host, why)


def _forbidden(what: str, why: str) -> WebhookTargetForbidden:
    return WebhookTargetForbidden(
        f"The webhook URL reaches {what}, {why}. Webhooks go only to public internet addresses; "
        "an operator can allow a network of its own receivers.")
