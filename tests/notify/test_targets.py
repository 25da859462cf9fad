"""Judging webhook targets: every spelling of an inside address is refused, public ones pass, operators allow."""

from __future__ import annotations

import socket
from ipaddress import IPv4Address, IPv4Network, IPv6Address, ip_address, ip_network

import pytest
from hypothesis import given
from hypothesis import strategies as st

from threshold.notify import targets
from threshold.notify.targets import (
    IPAddress,
    Target,
    WebhookTargetForbidden,
    WebhookTargetUnresolvable,
    WebhookUrlInvalid,
)

INSIDE_V4 = [ip_network(n) for n in ("0.0.0.0/8", "10.0.0.0/8", "100.64.0.0/10", "127.0.0.0/8", "169.254.0.0/16",
                                     "172.16.0.0/12", "192.0.0.0/24", "192.0.2.0/24", "192.168.0.0/16",
                                     "198.18.0.0/15", "198.51.100.0/24", "203.0.113.0/24", "224.0.0.0/4",
                                     "240.0.0.0/4")]
ALLOW_LOOPBACK = targets.networks(["127.0.0.0/8"])


def refused(url: str, allowed: tuple[str, ...] = ()) -> WebhookTargetForbidden:
    """The refusal of a URL whose host needs no resolving."""
    with pytest.raises(WebhookTargetForbidden) as caught:
        targets.screen(targets.parse(url), targets.networks(allowed))
    return caught.value


@pytest.mark.parametrize(("url", "reaches", "why"), [
    ("http://169.254.169.254/latest/meta-data/", "169.254.169.254", "link-local"),
    ("http://127.0.0.1:9/", "127.0.0.1", "loopback"),
    ("http://[::1]/", "::1", "loopback"),
    ("http://0.0.0.0/", "0.0.0.0", "unspecified"),
    ("http://[::]/", "::", "unspecified"),
    ("http://2130706433/", "127.0.0.1", "loopback"),
    ("http://0177.0.0.1/", "127.0.0.1", "loopback"),
    ("http://0x7f.1/", "127.0.0.1", "loopback"),
    ("http://127.1/", "127.0.0.1", "loopback"),
    ("http://10.0.0.1/", "10.0.0.1", "private"),
    ("http://172.31.255.255/", "172.31.255.255", "private"),
    ("http://192.168.1.1/", "192.168.1.1", "private"),
    ("http://100.64.0.1/", "100.64.0.1", "shared address space"),
    ("http://224.0.0.251/", "224.0.0.251", "multicast"),
    ("http://255.255.255.255/", "255.255.255.255", "broadcast"),
    ("http://240.0.0.1/", "240.0.0.1", "reserved"),
    ("http://192.0.2.10/", "192.0.2.10", "documentation"),
    ("http://198.18.0.1/", "198.18.0.1", "benchmarking"),
    ("http://[fd12:3456::1]/", "fd12:3456::1", "unique local"),
    ("http://[fe80::1]/", "fe80::1", "link-local"),
    ("http://[ff02::1]/", "ff02::1", "multicast"),
    ("http://[2001:db8::1]/", "2001:db8::1", "documentation"),
    ("http://[::ffff:127.0.0.1]/", "::ffff:7f00:1, that is 127.0.0.1", "loopback"),
    ("http://[::ffff:a9fe:a9fe]/", "::ffff:a9fe:a9fe, that is 169.254.169.254", "link-local"),
    ("http://[64:ff9b::a9fe:a9fe]/", "64:ff9b::a9fe:a9fe", "carries 169.254.169.254, a link-local"),
    ("http://[2002:a00:1::]/", "2002:a00:1::", "carries 10.0.0.1, a private"),
    ("http://[::10.0.0.1]/", "::a00:1", "carries 10.0.0.1, a private"),
    ("http://[2001::1]/", "2001::1", "not a public address"),
])
def test_inside_addresses_are_refused_in_every_spelling(url: str, reaches: str, why: str) -> None:
    err = refused(url)
    assert err.code == "webhook_target_forbidden" and err.status == 422
    assert f"reaches {reaches}, " in err.detail and why in err.detail


@pytest.mark.parametrize("url", ["http://localhost/", "http://LOCALHOST./", "https://api.localhost/",
                                 "http://printer.local/", "http://metadata.google.internal/computeMetadata/v1/",
                                 "http://router.home.arpa/", "http://intranet:8080/"])
def test_internal_names_are_refused_by_name_before_any_lookup(url: str) -> None:
    err = refused(url)
    assert "only means something inside a network" in err.detail or "without a dot" in err.detail


@pytest.mark.parametrize(("url", "why"), [
    ("ftp://partner.example/hooks", "http:// or https://"),
    ("javascript:alert(1)", "http:// or https://"),
    ("https:///hooks", "must name a host"),
    ("https://user:pass@partner.example/", "user name or password"),
    ("https://@partner.example/", "user name or password"),
    ("https://partner.example:0/", "between 1 and 65535"),
    ("https://partner.example:70000/", "cannot be read"),
    ("https://partner.example\\@127.0.0.1/", "backslashes"),
    ("https://partner .example/", "spaces"),
    ("https://1.2.3.4.5/", "neither a name nor an IPv4 address"),
    ("https://1.2.3.08/", "neither a name nor an IPv4 address"),
    ("https://1.256.0.0/", "out of range"),
    ("https://4294967296/", "out of range"),
    ("https://1." + "9" * 5000 + "/", "out of range"),
    ("https://[::1/", "cannot be read"),
    ("https://[partner.example]/", "cannot be read|not an IPv6 address"),
    ("https://a..b.example/", "not a valid domain name"),
])
def test_malformed_urls_are_invalid_with_a_reason(url: str, why: str) -> None:
    with pytest.raises(WebhookUrlInvalid, match=why) as caught:
        targets.parse(url)
    assert caught.value.code == "webhook_url_invalid" and caught.value.status == 422


@pytest.mark.parametrize(("url", "host_header"), [
    ("https://8.8.8.8/hooks", "8.8.8.8"),
    ("http://1.1.1.1:8080/", "1.1.1.1:8080"),
    ("https://[2606:4700:4700::1111]/", "[2606:4700:4700::1111]"),
    ("https://[2002:808:808::1]:443/", "[2002:808:808::1]"),
])
def test_public_addresses_pass(url: str, host_header: str) -> None:
    target = targets.parse(url)
    targets.screen(target, ())
    assert target.host_header == host_header


def test_a_public_name_passes_when_every_address_it_resolves_to_is_public() -> None:
    target = targets.parse("https://Hooks.Partner.Example./in")
    assert target == Target("https", "hooks.partner.example", 443, None)
    targets.screen(target, ())
    targets.judge(target, [ip_address("93.184.215.14"), ip_address("2606:2800:21f:cb07:6820:80da:af6b:8b2c")], ())


def test_one_inside_address_among_public_ones_refuses_the_name() -> None:
    target = targets.parse("https://hooks.partner.example/")
    with pytest.raises(WebhookTargetForbidden, match=r"hooks\.partner\.example \(10\.1\.2\.3\), a private address"):
        targets.judge(target, [ip_address("93.184.215.14"), ip_address("10.1.2.3")], ())


def test_a_name_without_addresses_is_unresolvable() -> None:
    with pytest.raises(WebhookTargetUnresolvable) as caught:
        targets.judge(targets.parse("https://gone.partner.example/"), [], ())
    assert caught.value.code == "webhook_target_unresolvable" and caught.value.status == 422


def test_the_allow_list_lets_its_networks_through_and_nothing_else() -> None:
    targets.screen(targets.parse("http://127.0.0.1:8080/"), ALLOW_LOOPBACK)
    targets.screen(targets.parse("http://[::ffff:127.0.0.1]/"), ALLOW_LOOPBACK)
    for url in ("http://10.0.0.1/", "http://169.254.169.254/", "http://[::1]/"):
        with pytest.raises(WebhookTargetForbidden):
            targets.screen(targets.parse(url), ALLOW_LOOPBACK)
    # Networks of one family never hold the other's addresses, whatever the bits say.
    assert not targets.is_allowed(IPv4Address("0.0.0.1"), targets.networks(["::/96"]))


def test_an_internal_name_passes_only_where_all_its_addresses_are_allowed() -> None:
    target = targets.parse("http://localhost:8080/hooks")
    targets.screen(target, ALLOW_LOOPBACK)
    targets.judge(target, [ip_address("127.0.0.1")], ALLOW_LOOPBACK)
    with pytest.raises(WebhookTargetForbidden, match=r"::1"):
        targets.judge(target, [ip_address("127.0.0.1"), ip_address("::1")], ALLOW_LOOPBACK)
    # A .internal name resolving to a public address is still an internal name.
    with pytest.raises(WebhookTargetForbidden, match="internal name"):
        targets.judge(targets.parse("https://hooks.internal/"), [ip_address("93.184.215.14")], ALLOW_LOOPBACK)


def test_an_allow_list_entry_that_is_not_a_network_is_an_error() -> None:
    with pytest.raises(ValueError, match="has host bits set"):
        targets.networks(["127.0.0.1/8"])


# Every way a resolver (glibc's inet_aton, WHATWG URL) reads a number in an IPv4 host: per part decimal, octal
# with a leading 0, or hex with 0x; 1 to 4 parts, the last one holding the remaining bytes.
def _spell(value: int, base: str) -> str:
    if base == "oct":
        return "0" + format(value, "o")
    if base == "hex":
        return "0x" + format(value, "x")
    if base == "HEX":
        return "0X" + format(value, "X")
    return str(value)


@st.composite
def ipv4_spellings(draw: st.DrawFn, addresses: st.SearchStrategy[IPv4Address]) -> tuple[IPv4Address, str]:
    """An address and one of its spellings as a URL host."""
    address = draw(addresses)
    raw = address.packed
    parts = draw(st.integers(1, 4))
    values = [*raw[:parts - 1], int.from_bytes(raw[parts - 1:], "big")]
    bases = draw(st.lists(st.sampled_from(["dec", "oct", "hex", "HEX"]), min_size=parts, max_size=parts))
    return address, ".".join(_spell(v, b) for v, b in zip(values, bases, strict=True))


@st.composite
def inside_v4(draw: st.DrawFn) -> IPv4Address:
    """An address from one of the ranges that are not the public internet."""
    net = draw(st.sampled_from(INSIDE_V4))
    assert isinstance(net, IPv4Network)
    return net[draw(st.integers(0, net.num_addresses - 1))]


@given(ipv4_spellings(st.builds(IPv4Address, st.integers(0, 2**32 - 1))))
def test_ipv4_spellings_read_as_the_system_resolver_reads_them(spelled: tuple[IPv4Address, str]) -> None:
    address, host = spelled
    assert targets.ipv4_literal(host) == address
    assert IPv4Address(socket.inet_aton(host)) == address


@given(ipv4_spellings(inside_v4()), st.sampled_from(["http", "https"]), st.integers(1, 65535))
def test_every_spelling_of_an_inside_ipv4_address_is_refused(spelled: tuple[IPv4Address, str], scheme: str,
                                                               port: int) -> None:
    address, host = spelled
    with pytest.raises(WebhookTargetForbidden, match=f"reaches {address}, "):
        targets.screen(targets.parse(f"{scheme}://{host}:{port}/hooks"), ())


def _v6_carrying(address: IPv4Address, form: str) -> IPAddress:
    n = int(address)
    if form == "mapped":
        return IPv6Address((0xFFFF << 32) | n)
    if form == "compatible":
        return IPv6Address(n)
    if form == "nat64":
        return IPv6Address((0x64FF9B << 96) | n)
    return IPv6Address((0x2002 << 112) | (n << 80))  # 6to4


@given(inside_v4(), st.sampled_from(["mapped", "compatible", "nat64", "6to4"]), st.booleans())
def test_ipv6_addresses_that_carry_an_inside_ipv4_address_are_refused(address: IPv4Address, form: str,
                                                                       dotted: bool) -> None:
    v6 = _v6_carrying(address, form)
    host = str(v6)
    if dotted and form in ("mapped", "compatible"):
        host = ("::ffff:" if form == "mapped" else "::") + str(address)
    refused(f"http://[{host}]/")


@given(st.builds(IPv4Address, st.integers(0, 2**32 - 1)))
def test_an_address_judged_public_is_global_and_so_is_its_mapped_form(address: IPv4Address) -> None:
    mapped = IPv6Address((0xFFFF << 32) | int(address))
    assert (targets.refusal(address) is None) == (targets.refusal(mapped) is None)
    if targets.refusal(address) is None:
        assert address.is_global and not any(address in n for n in INSIDE_V4)
