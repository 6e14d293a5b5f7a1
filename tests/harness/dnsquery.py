"""A minimal DNS A-record query over UDP (RFC 1035), standard library only.

Why: the real-node test checks that CoreDNS answers Service names, from a client inside
the node's network namespace; no dig/nslookup is installed on the host, and the packet
format for one A question fits in a few pure, unit-tested functions.
"""

from __future__ import annotations

import socket
import struct


class DnsError(RuntimeError):
    """The server answered with an error code or a malformed message."""


def build_query(name: str, query_id: int) -> bytes:
    """One A/IN question with recursion desired."""
    header = struct.pack("!HHHHHH", query_id, 0x0100, 1, 0, 0, 0)
    labels = b"".join(
        bytes([len(part)]) + part.encode("ascii") for part in name.rstrip(".").split(".")
    )
    return header + labels + b"\x00" + struct.pack("!HH", 1, 1)


def _skip_name(message: bytes, offset: int) -> int:
    while True:
        if offset >= len(message):
            raise DnsError("truncated name")
        length = message[offset]
        if length & 0xC0 == 0xC0:  # compression pointer ends the name
            return offset + 2
        if length == 0:
            return offset + 1
        offset += 1 + length


def parse_a_records(message: bytes, query_id: int) -> list[str]:
    """The IPv4 addresses in the answer section; DnsError on rcode != 0 or a wrong id."""
    if len(message) < 12:
        raise DnsError("message shorter than a header")
    qid, flags, qdcount, ancount = struct.unpack("!HHHH", message[:8])
    if qid != query_id:
        raise DnsError(f"answer id {qid} does not match query id {query_id}")
    rcode = flags & 0x000F
    if rcode != 0:
        raise DnsError(f"server answered rcode {rcode}" + (" (NXDOMAIN)" if rcode == 3 else ""))
    offset = 12
    for _ in range(qdcount):
        offset = _skip_name(message, offset) + 4
    addresses = []
    for _ in range(ancount):
        offset = _skip_name(message, offset)
        rtype, _rclass, _ttl, rdlength = struct.unpack("!HHIH", message[offset : offset + 10])
        offset += 10
        if rtype == 1 and rdlength == 4:
            addresses.append(socket.inet_ntoa(message[offset : offset + 4]))
        offset += rdlength
    return addresses


def resolve(server: str, name: str, timeout: float = 2.0, attempts: int = 3) -> list[str]:
    """A records of name from server:53 over UDP (retried: UDP may drop the first try)."""
    query_id = 0x5053
    last: Exception | None = None
    for _ in range(attempts):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            sock.settimeout(timeout)
            try:
                sock.sendto(build_query(name, query_id), (server, 53))
                message, _ = sock.recvfrom(4096)
            except OSError as exc:
                last = exc
                continue
        return parse_a_records(message, query_id)
    raise DnsError(f"no answer from {server} for {name}: {last}")
