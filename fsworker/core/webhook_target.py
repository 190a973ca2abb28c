"""Where a webhook may be sent: the address rules (issue 13 item 6).

Rules: a webhook's host is read the way the HTTP client reads it — an IPv4 literal in
any form ``inet_aton`` accepts (``0x7f000001``, ``2130706433``, ``0177.0.0.1``,
``127.1``), an IPv6 literal (an IPv4-mapped or NAT64 one is judged by its IPv4
address), or a DNS name, judged by every address it resolves to when a delivery
connects (``webhook_transport``). Then:

- always refused: cloud metadata addresses and names, link-local (169.254.0.0/16,
  fe80::/10), unspecified (0.0.0.0, ::), multicast, broadcast and reserved addresses;
- refused unless the webhook says ``allow_private = true``: loopback (127.0.0.0/8, ::1,
  ``localhost``), the private ranges (10/8, 172.16/12, 192.168/16, fc00::/7), shared
  address space (100.64/10) and every other address that is not globally routable;
- anything else (a public address, a name not yet resolved) is allowed.

Refusals are ``TargetRefused`` with the reason in an operator's words. Pure; no I/O.
"""

from __future__ import annotations

import enum
import ipaddress

from fsworker.core.errors import FsworkerError

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

#: instance metadata services (AWS, GCP, Azure, OpenStack: 169.254.169.254; AWS IPv6;
#: GCP IPv6; Alibaba; Oracle's legacy one)
METADATA_ADDRESSES = frozenset(ipaddress.ip_address(a) for a in (
    "169.254.169.254", "fd00:ec2::254", "fd20:ce::254", "100.100.100.200", "192.0.0.192",
))
METADATA_NAMES = frozenset({"metadata", "metadata.google.internal", "metadata.goog", "instance-data",
                            "instance-data.ec2.internal", "metadata.azure.com"})
_NAT64 = ipaddress.ip_network("64:ff9b::/96")


class AddressClass(enum.StrEnum):
    PUBLIC = "public"  #: allowed
    PRIVATE = "private"  #: allowed only with allow_private = true
    FORBIDDEN = "forbidden"  #: never allowed


class TargetRefused(FsworkerError):
    """A webhook target is an address (or a name for one) fsworker will not send to."""

    def __init__(self, host: str, reason: str) -> None:
        self.host = host
        self.reason = reason
        super().__init__(f"{host}: {reason}")


def parse_host(host: str) -> IPAddress | None:
    """The address an HTTP client connects to for ``host`` (``urlsplit().hostname``:
    lower case, no brackets) when it is a literal, else None (a DNS name)."""
    try:
        return _unwrap(ipaddress.ip_address(host.split("%", 1)[0]))  # "fe80::1%eth0": scope id
    except ValueError:
        pass
    value = inet_aton(host)
    return None if value is None else ipaddress.IPv4Address(value)


def inet_aton(host: str) -> int | None:
    """The IPv4 address glibc's ``inet_aton`` (and so ``getaddrinfo``, and so the HTTP
    client) reads in ``host``, or None: one to four parts separated by '.', each decimal,
    octal (leading 0) or hex (0x); the last part fills the bytes left, so "127.1" is
    127.0.0.1 and "2130706433" is too."""
    parts = host.split(".")
    if not 1 <= len(parts) <= 4:
        return None
    values = []
    for part in parts:
        if part[:2] in ("0x", "0X"):
            digits, base = part[2:], 16
        elif len(part) > 1 and part[0] == "0":
            digits, base = part[1:], 8
        else:
            digits, base = part, 10
        if not digits or not all(c in "0123456789abcdefABCDEF"[:base if base <= 10 else 22] for c in digits):
            return None
        values.append(int(digits, base))
    *head, last = values
    if any(v > 255 for v in head) or last >= 256 ** (4 - len(head)):
        return None
    address = 0
    for v in head:
        address = address << 8 | v
    return address << 8 * (4 - len(head)) | last


def _unwrap(addr: IPAddress) -> IPAddress:
    if isinstance(addr, ipaddress.IPv6Address):
        if addr.ipv4_mapped is not None:
            return addr.ipv4_mapped
        if addr in _NAT64:
            return ipaddress.IPv4Address(addr.packed[-4:])
    return addr


def classify(addr: IPAddress) -> tuple[AddressClass, str]:
    """The class of ``addr`` and why, in an operator's words."""
    addr = _unwrap(addr)
    if addr in METADATA_ADDRESSES:
        return AddressClass.FORBIDDEN, f"{addr} is a cloud metadata address"
    if addr.is_loopback:  # before "reserved": ::1 is in the reserved ::/8
        return AddressClass.PRIVATE, f"{addr} is a loopback address (this machine)"
    for test, what in ((addr.is_link_local, "a link-local address"), (addr.is_unspecified, "the unspecified address"),
                       (addr.is_multicast, "a multicast address"), (addr.is_reserved, "a reserved address")):
        if test:
            return AddressClass.FORBIDDEN, f"{addr} is {what}"
    if addr.is_private or not addr.is_global:
        return AddressClass.PRIVATE, f"{addr} is a private (not globally routable) address"
    return AddressClass.PUBLIC, f"{addr} is a public address"


def check_address(addr: IPAddress, *, allow_private: bool) -> None:
    """TargetRefused unless a webhook may connect to ``addr``."""
    cls, why = classify(addr)
    if cls is AddressClass.FORBIDDEN:
        raise TargetRefused(str(addr), f"{why}; webhooks are never sent there")
    if cls is AddressClass.PRIVATE and not allow_private:
        raise TargetRefused(str(addr), f"{why}; set allow_private = true in this [[webhook]] to send there")


def check_host(host: str, *, allow_private: bool) -> None:
    """TargetRefused for a literal or well-known name a webhook may not use; a DNS name
    passes here and is checked again, address by address, when a delivery connects."""
    name = host.lower().rstrip(".")
    if name in METADATA_NAMES:
        raise TargetRefused(host, "a cloud metadata service name; webhooks are never sent there")
    if name == "localhost" or name.endswith(".localhost"):
        check_address(ipaddress.ip_address("127.0.0.1"), allow_private=allow_private)
        return
    addr = parse_host(name)
    if addr is not None:
        check_address(addr, allow_private=allow_private)
