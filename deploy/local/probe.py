#!/usr/bin/env python3
"""Protocol-level readiness probes for the local services (stdlib only).

Usage:
    probe.py amqp HOST PORT      # broker answers the AMQP 0-9-1 handshake
    probe.py mongo HOST PORT     # server answers {ping: 1} with ok: 1
    probe.py mongo MONGODB_URL   # same, host and port taken from the URL
    probe.py http URL            # URL answers with a 2xx status

Exit status 0 means ready; anything else means not (yet) ready, with the
reason on stderr. An open TCP port is not enough: RabbitMQ and FerretDB
accept connections before they can serve them, hence the real handshakes.
FerretDB answers `hello` even while its PostgreSQL is down; `ping` reaches
PostgreSQL, so that is what the mongo probe asks.
"""

import socket
import struct
import sys
import urllib.parse

TIMEOUT = 2.0


def recv_exactly(sock, n):
    buf = b""
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            raise ConnectionError("connection closed after %d of %d bytes" % (len(buf), n))
        buf += chunk
    return buf


def probe_amqp(host, port):
    with socket.create_connection((host, port), timeout=TIMEOUT) as sock:
        sock.sendall(b"AMQP\x00\x00\x09\x01")
        # Method frame header (type, channel, size) + class id + method id.
        head = recv_exactly(sock, 11)
    frame_type, channel, _size, class_id, method_id = struct.unpack(">BHIHH", head)
    if (frame_type, channel, class_id, method_id) != (1, 0, 10, 10):
        raise RuntimeError("not a Connection.Start frame: %r" % head)


def bson_cstring(value):
    return value.encode() + b"\x00"


def bson_ping():
    body = b"\x10" + bson_cstring("ping") + struct.pack("<i", 1)
    body += b"\x02" + bson_cstring("$db") + struct.pack("<i", len("admin") + 1) + bson_cstring("admin")
    return struct.pack("<i", len(body) + 5) + body + b"\x00"


# Sizes of the fixed-length BSON element types; the others carry a length.
FIXED_SIZES = {1: 8, 7: 12, 8: 1, 9: 8, 10: 0, 16: 4, 17: 8, 18: 8, 19: 16, 127: 0, 255: 0}


def bson_top_level(doc):
    """Yield (name, type, raw value bytes) for the top-level elements of doc."""
    pos, end = 4, len(doc) - 1
    while pos < end:
        etype = doc[pos]
        name_end = doc.index(b"\x00", pos + 1)
        name = doc[pos + 1:name_end].decode()
        pos = name_end + 1
        if etype in FIXED_SIZES:
            size = FIXED_SIZES[etype]
        elif etype in (2, 13, 14):  # string, JS code, symbol
            size = 4 + struct.unpack_from("<i", doc, pos)[0]
        elif etype in (3, 4, 15):  # document, array, code with scope
            size = struct.unpack_from("<i", doc, pos)[0]
        elif etype == 5:  # binary
            size = 5 + struct.unpack_from("<i", doc, pos)[0]
        elif etype == 11:  # regex: two cstrings
            size = doc.index(b"\x00", doc.index(b"\x00", pos) + 1) + 1 - pos
        else:
            raise RuntimeError("unsupported BSON type %d in reply" % etype)
        yield name, etype, doc[pos:pos + size]
        pos += size


def probe_mongo(host, port):
    op_msg = 2013
    payload = struct.pack("<I", 0) + b"\x00" + bson_ping()
    request = struct.pack("<iiii", 16 + len(payload), 1, 0, op_msg) + payload
    with socket.create_connection((host, port), timeout=TIMEOUT) as sock:
        sock.sendall(request)
        length, _req_id, _resp_to, opcode = struct.unpack("<iiii", recv_exactly(sock, 16))
        body = recv_exactly(sock, length - 16)
    if opcode != op_msg or body[4] != 0:
        raise RuntimeError("unexpected reply opcode %d" % opcode)
    doc = body[5:5 + struct.unpack_from("<i", body, 5)[0]]
    for name, etype, raw in bson_top_level(doc):
        if name == "ok":
            value = {1: "<d", 16: "<i", 18: "<q"}.get(etype)
            if value and struct.unpack(value, raw)[0] == 1:
                return
            raise RuntimeError("ping answered ok=%r" % raw)
    raise RuntimeError("ping reply has no ok field")


def mongo_address(url):
    """First host and port of a mongodb:// URL (no SRV, no unix sockets)."""
    netloc = urllib.parse.urlsplit(url).netloc.rpartition("@")[2]
    first = netloc.split(",")[0]
    parsed = urllib.parse.urlsplit("//" + first)
    return parsed.hostname or "127.0.0.1", parsed.port or 27017


def probe_http(url):
    import urllib.request  # slow to import: only when needed

    # Bypass any http_proxy from the environment: the services are local.
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    with opener.open(url, timeout=TIMEOUT) as resp:
        if not 200 <= resp.status < 300:
            raise RuntimeError("HTTP %d" % resp.status)


def main(argv):
    kind, args = (argv[1], argv[2:]) if len(argv) > 1 else ("", [])
    probes = {
        ("amqp", 2): lambda: probe_amqp(args[0], int(args[1])),
        ("mongo", 2): lambda: probe_mongo(args[0], int(args[1])),
        ("mongo", 1): lambda: probe_mongo(*mongo_address(args[0])),
        ("http", 1): lambda: probe_http(args[0]),
    }
    probe = probes.get((kind, len(args)))
    if probe is None:
        print(__doc__.strip().split("\n\n")[1], file=sys.stderr)
        return 2
    try:
        probe()
    except Exception as exc:  # any failure just means "not ready"
        print("probe %s: %s: %s" % (kind, type(exc).__name__, exc), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
