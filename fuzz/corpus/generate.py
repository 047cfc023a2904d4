#!/usr/bin/env python3
"""Writes the seed corpus of every fuzz target into fuzz/corpus/<target>/.

Seeds follow each target's input layout (see fuzz/src/lib.rs): stream targets start with the
piece lengths (`00` = one piece, `01 01` = one byte at a time) and a selector byte, then the
payload. Payloads: the byte strings of shared/spec/hostile-inputs.md, valid greetings and
commands, and loopback captures of libzmq (pyzmq) clients talking to a raw TCP socket that
plays the server: a NULL DEALER (greeting, READY, a message), a PLAIN client (greeting, HELLO)
and a CURVE client whose HELLO is boxed to the fuzz targets' fixed server key (so the
curve_server_handshake target opens it and answers with a WELCOME).

Run from anywhere: `python3 fuzz/corpus/generate.py` (needs pyzmq for the captures; without it
the captures are skipped and the files already checked in are kept). File names are the
SHA-1 of the content, as libFuzzer names corpus files, so re-running adds nothing twice.
"""

import hashlib
import os
import socket
import struct
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
FIXED_SERVER_SECRET = b"sockwire-fuzz-fixed-server-key!!"
FIXED_CLIENT_SECRET = b"sockwire-fuzz-fixed-client-key!!"


def write(target, data):
    d = os.path.join(HERE, target)
    os.makedirs(d, exist_ok=True)
    name = hashlib.sha1(data).hexdigest()
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


def g64(mech=b"NULL", as_server=0, major=3, minor=1, pad=b"\x00" * 8):
    g = bytearray(64)
    g[0] = 0xFF
    g[1:9] = pad
    g[9] = 0x7F
    g[10] = major
    g[11] = minor
    g[12 : 12 + len(mech)] = mech
    g[32] = as_server
    return bytes(g)


def frame(body, more=False, command=False):
    flags = (1 if more else 0) | (4 if command else 0)
    if len(body) > 255:
        return bytes([flags | 2]) + struct.pack(">Q", len(body)) + body
    return bytes([flags, len(body)]) + body


def cmd(name, data=b""):
    return frame(bytes([len(name)]) + name + data, command=True)


def props(*pairs):
    out = b""
    for n, v in pairs:
        out += bytes([len(n)]) + n + struct.pack(">I", len(v)) + v
    return out


def ready(socket_type=b"PUSH", *extra):
    return cmd(b"READY", props((b"Socket-Type", socket_type), *extra))


WHOLE = b"\x00"
BYTEWISE = b"\x01\x01"
SEVENS = b"\x02\x07\x00"  # 7 bytes, then the rest


def stream_seeds(target, selectors, payloads):
    """Each payload under each selector, whole; under the first selector also cut."""
    for i, sel in enumerate(selectors):
        for p in payloads:
            for cut in (WHOLE, BYTEWISE, SEVENS) if i == 0 else (WHOLE,):
                write(target, cut + bytes([sel]) + p)


# --- hostile byte strings (shared/spec/hostile-inputs.md) ---
SNEAKY = b"\x01\x00" + b"\x08\x00sneaky\x00"  # G3
V1 = b"\xff" + b"\x00" * 8 + b"\x7f\x01"  # G4
V2 = b"\xff" + b"\x00" * 8 + b"\x7f\x02"
F1 = [bytes([f, 0]) for f in (0x08, 0x10, 0x20, 0x40, 0x80, 0xF8)]
F2 = [b"\x05\x00", b"\x07\x00"]
F3 = b"\x02\xff\xff\xff\xff\xff\xff\xff\xf0"
F4 = b"\x02\x00\x00\x00\x00\x40\x00\x00\x00" + b"0123456789"
F6 = b"\x02" + struct.pack(">Q", 5) + b"hello"
F7 = b"\x01\x00" * 200
F8 = b"\x00\x03abc"
C1 = b"\x04\x05\x04ABCD"
C2 = [b"\x04\x03\x09AB", b"\x04\x01\x00"]
C3 = [
    cmd(b"READY", b"\x0bSocket-Type\xff\xff\xff\xff"),
    cmd(b"READY", b"\xffSocket-Type"),
    cmd(b"READY", b"\x0bSocket-Type\x80\x00\x00\x00REQ"),
]
C6 = [
    ready(b"REQ", (b"Socket-Type", b"DEALER")),
    cmd(b"READY", props((b"socket-type", b"REQ"))),
]
C7 = [ready(b"DEALER", (b"Identity", b"\x00abc")), ready(b"DEALER", (b"Identity", b"x" * 256))]
C8 = [ready(b"PUSH"), cmd(b"HELLO")]
C9 = [cmd(b"PING", b"\x00\x01" + b"c" * 40), cmd(b"PING", b"\xff\xff"), cmd(b"PONG", b"ctx")]
SUBS = [cmd(b"SUBSCRIBE", b"topic"), cmd(b"CANCEL", b"topic"), cmd(b"CANCEL"), frame(b"\x01topic")]
ERRORS = [cmd(b"ERROR", b"\x03400"), cmd(b"ERROR", b"\x13Invalid socket type"), cmd(b"ERROR", b"\x09x")]
MESSAGES = [frame(b"a", more=True) + frame(b"b"), frame(b""), frame(b"x" * 300)]


def main():
    # zmtp_greeting
    greets = [
        g64(),
        g64(b"PLAIN"),
        g64(b"CURVE", 1),
        g64(minor=0),
        g64(major=4),
        g64(pad=b"\x01" * 8),
        g64(b"null"),
        g64(b"NULL", 1),
        SNEAKY,
        V1,
        V2,
        V1 + b"\x00" * 9000,
    ]
    for g in greets:
        for cut in (WHOLE, BYTEWISE, SEVENS):
            write("zmtp_greeting", cut + g)

    # zmtp_frame_decoder: every cap selector 0..7
    frames = F1 + F2 + [F3, F4, F6, F7, F8] + MESSAGES + C8 + C9
    stream_seeds("zmtp_frame_decoder", range(8), frames + [b"".join(frames[-6:])])

    # zmtp_command: bodies (for the parser) and frames (for the connection), data phase
    # (even selectors) and handshake phase (odd), over several socket pairs.
    bodies = [
        b"\x05READY" + props((b"Socket-Type", b"REQ"), (b"Identity", b"id")),
        b"\x05ERROR\x03400",
        b"\x04PING\x00\x0aabc",
        b"\x04PONG" + b"p" * 16,
        b"\x09SUBSCRIBE" + b"t",
        b"\x06CANCEL",
        b"\x04ABCD",
        b"\x0bSocket-Type\x00\x00\x00\x03REQ",
    ]
    cmds = [C1] + C2 + C3 + C6 + C7 + C8 + C9 + SUBS + ERRORS + [F8, F2[0]]
    stream_seeds("zmtp_command", [0, 1, 2, 3, 4, 5, 8, 9], bodies + cmds)

    # null_handshake: selector bit 0 prepends a valid greeting.
    after = [ready(b"PUSH") + frame(b"hello"), F8, ready(b"PUB"), ready(b"REQ")]
    after += C3 + C6 + C7 + C9 + ERRORS + [ready(b"PUSH") + ready(b"PUSH")]
    stream_seeds("null_handshake", [1, 3, 7, 9, 17, 49], after)
    stream_seeds("null_handshake", [0, 2, 16], [g64() + a for a in after[:4]] + [SNEAKY, V1, g64(b"PLAIN")])

    # plain_handshake: bit 0 client, bit 1 greeting, bit 2 valid first command, bit 3 deny.
    hello = cmd(b"HELLO", b"\x05admin\x06secret")
    server_after = [
        hello + cmd(b"INITIATE", props((b"Socket-Type", b"REQ"))),
        cmd(b"HELLO", b"\x05admin\xffsecret"),  # M2
        cmd(b"HELLO", b"\xff"),
        cmd(b"INITIATE", props((b"Socket-Type", b"REQ"))),  # M3
        cmd(b"INITIATE", props((b"Socket-Type", b"REQ"))) + frame(b"early"),
    ]
    client_after = [
        cmd(b"WELCOME") + ready(b"REP"),
        ready(b"REP"),
        cmd(b"ERROR", b"\x03400"),
        cmd(b"WELCOME") + cmd(b"WELCOME"),
    ]
    stream_seeds("plain_handshake", [2, 6, 10, 14], server_after)
    stream_seeds("plain_handshake", [3, 7, 15], client_after)

    # curve_server_handshake: raw (bit 0 clear; bit 1 prepends a greeting) and structured.
    m4 = cmd(b"HELLO")
    m5 = cmd(b"HELLO", b"\x02\x00" + b"\x00" * 190)
    m7 = cmd(b"INITIATE")
    stream_seeds("curve_server_handshake", [2], [m4, m5, m7, F8, cmd(b"READY")])
    stream_seeds("curve_server_handshake", [0], [g64(b"CURVE") + m4, g64(b"CURVE", 1), g64()])
    for n in range(6):
        write("curve_server_handshake", WHOLE + b"\x01" + hashlib.sha256(bytes([n])).digest() * 8)
    # The structured mode with valid metadata and nothing wrong: mostly zero bytes.
    write("curve_server_handshake", WHOLE + b"\x01" + b"\x00" * 64)

    # curve_client_handshake: bit 0 after a real WELCOME, bit 1 greeting.
    stream_seeds(
        "curve_client_handshake",
        [1, 2],
        [cmd(b"READY", b"\x00" * 40), cmd(b"ERROR", b"\x03400"), cmd(b"WELCOME", b"\x00" * 160), F8],
    )

    # curve_message: raw (bit 0 clear) and structured, both directions (bit 1).
    stream_seeds("curve_message", [0, 2], [b"\x00\x05hello", cmd(b"MESSAGE"), cmd(b"MESSAGE", b"\x00" * 40)])
    for n in range(6):
        write("curve_message", WHOLE + bytes([1 | (n & 2)]) + hashlib.sha256(bytes([n])).digest() * 4)

    # z85 (RFC 32 vectors, keys, wrong lengths, all zero, invalid characters)
    for s in [
        b"HelloWorld",
        bytes([0x86, 0x4F, 0xD2, 0x6F, 0xB5, 0x59, 0xF7, 0x5B]),
        b"rq:rM>}U?@Lns47E1%kR.o@n%FcmmsL/@{H8]yf7",
        b"JTKVSB%%)wK0E.X)V>+}o?pNmC{O&4W4b!Ni{Lh6",
        b"0" * 40,
        b"0" * 39,
        b"rq:rM>}U?@Lns47E1%kR.o@n%FcmmsL/@{H8]yf7\x00",
        b"%nSk2" * 8,
        b"-" * 40,
        b"\"" * 40,
        FIXED_SERVER_SECRET,
        b"\x00" * 32,
    ]:
        write("z85", s)

    # sub_trie: arbitrary-driven; a few shapes, one with a 1 MiB topic op.
    for s in [b"\x00\x03abc\x01\x03abc", b"\x00\x00" * 8, b"\x04A\xff\xff\x0f\xff", bytes(range(64))]:
        write("sub_trie", s)

    # endpoint_parse
    for s in [
        "tcp://127.0.0.1:5555",
        "tcp://[::1]:*",
        "tcp://*:0",
        "tcp://localhost:1",
        "tcp://[fe80::1%eth0]:5",
        "tcp://host:99999",
        "tcp://:5",
        "ipc:///tmp/sock",
        "ipc://relative/path",
        "ipc://@abstract",
        "inproc://name",
        "udp://0.0.0.0:7001",
        "ws://x:1",
        "tcp//x",
        "",
    ]:
        write("endpoint_parse", s.encode())

    captures()


def serve_once(greeting_and_more, wait=0.6):
    """A raw TCP server that sends `greeting_and_more` on accept and returns what it reads."""
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(1)
    port = srv.getsockname()[1]
    got = bytearray()

    def run():
        conn, _ = srv.accept()
        conn.sendall(greeting_and_more)
        conn.settimeout(0.2)
        end = time.time() + wait
        while time.time() < end:
            try:
                b = conn.recv(65536)
            except socket.timeout:
                continue
            if not b:
                break
            got.extend(b)
        conn.close()
        srv.close()

    t = threading.Thread(target=run)
    t.start()
    return port, t, got


def captures():
    try:
        import zmq
        from zmq.utils import z85
    except ImportError:
        print("pyzmq missing: captures skipped", file=sys.stderr)
        return
    ctx = zmq.Context()

    # NULL DEALER: greeting, READY, one message.
    port, t, got = serve_once(g64() + ready(b"ROUTER"))
    s = ctx.socket(zmq.DEALER)
    s.setsockopt(zmq.LINGER, 0)
    s.setsockopt(zmq.IDENTITY, b"capture")
    s.connect(f"tcp://127.0.0.1:{port}")
    s.send(b"hello from libzmq")
    t.join()
    s.close()
    null_capture = bytes(got)
    for cut in (WHOLE, BYTEWISE, SEVENS):
        write("null_handshake", cut + b"\x00" + null_capture)
        write("zmtp_greeting", cut + null_capture)
    stream_seeds("zmtp_command", [1], [null_capture[64:]])

    # PLAIN client: greeting, HELLO (the server greeting says as-server).
    port, t, got = serve_once(g64(b"PLAIN", 1))
    s = ctx.socket(zmq.REQ)
    s.setsockopt(zmq.LINGER, 0)
    s.setsockopt(zmq.PLAIN_USERNAME, b"admin")
    s.setsockopt(zmq.PLAIN_PASSWORD, b"secret")
    s.connect(f"tcp://127.0.0.1:{port}")
    t.join()
    s.close()
    for sel in (0, 8):
        for cut in (WHOLE, BYTEWISE, SEVENS):
            write("plain_handshake", cut + bytes([sel]) + bytes(got))

    # CURVE client whose HELLO is boxed to the fixed server key.
    if zmq.has("curve"):
        server_public = zmq.curve_public(z85.encode(FIXED_SERVER_SECRET))
        client_secret = z85.encode(FIXED_CLIENT_SECRET)
        client_public = zmq.curve_public(client_secret)
        port, t, got = serve_once(g64(b"CURVE", 1))
        s = ctx.socket(zmq.REQ)
        s.setsockopt(zmq.LINGER, 0)
        s.setsockopt(zmq.CURVE_SERVERKEY, server_public)
        s.setsockopt(zmq.CURVE_PUBLICKEY, client_public)
        s.setsockopt(zmq.CURVE_SECRETKEY, client_secret)
        s.connect(f"tcp://127.0.0.1:{port}")
        t.join()
        s.close()
        for cut in (WHOLE, BYTEWISE, SEVENS):
            write("curve_server_handshake", cut + b"\x00" + bytes(got))
            write("curve_server_handshake", cut + b"\x02" + bytes(got)[64:])
        write("z85", server_public)
    ctx.term()


if __name__ == "__main__":
    main()
