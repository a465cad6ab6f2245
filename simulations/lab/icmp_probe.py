"""An ICMP echo prober with a fixed cadence, for the benches' "how soon does it answer" figures.

    python simulations/lab/icmp_probe.py ADDRESS [--interval 0.001] [--deadline 8]

It sends an echo request every ``interval`` seconds to ADDRESS until ``deadline`` seconds have
passed (at most deadline / interval requests), whether or not anything answers, and prints a
line per reply as ``ping -D`` does: ``[<epoch seconds>] 64 bytes from ADDRESS: icmp_seq=N``.

Why not ``ping -i 0.002``: iputils ping sleeps 10 ms (its MININTERVAL) between requests while
earlier ones are unanswered, so a bench that waits for the first reply after a change (a
floating IP associated, a port plugged) saw it up to 10 ms late, on every side alike: the
figures were quantised in 10 ms steps. Here the first reply comes at most ``interval`` after
the path opens.

Only the standard library (it runs in a lab namespace with any Python 3); root (a raw socket).
"""
import argparse
import os
import socket
import struct
import sys
import threading
import time

ECHO_REQUEST, ECHO_REPLY = 8, 0
PAYLOAD = bytes(56)                    # ping's default size: 64 bytes of ICMP


def checksum(data):
    if len(data) % 2:
        data += b"\0"
    total = sum(struct.unpack(f"!{len(data) // 2}H", data))
    total = (total >> 16) + (total & 0xFFFF)
    total += total >> 16
    return ~total & 0xFFFF


def echo_request(ident, seq):
    header = struct.pack("!BBHHH", ECHO_REQUEST, 0, 0, ident, seq)
    return struct.pack("!BBHHH", ECHO_REQUEST, 0, checksum(header + PAYLOAD), ident,
                       seq) + PAYLOAD


def replies(sock, address, ident, out):
    """Print every echo reply of ours from ``address``, stamped when it was read."""
    while True:
        try:
            data, (src, _) = sock.recvfrom(2048)
        except OSError:
            return                                        # the socket was closed
        stamp = time.time()
        ihl = (data[0] & 0x0F) * 4
        kind, _, _, rid, seq = struct.unpack("!BBHHH", data[ihl:ihl + 8])
        if src == address and kind == ECHO_REPLY and rid == ident:
            out.write(f"[{stamp:.6f}] {len(data) - ihl} bytes from {src}: icmp_seq={seq}\n")
            out.flush()


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("address")
    p.add_argument("--interval", type=float, default=0.001)
    p.add_argument("--deadline", type=float, default=8.0)
    a = p.parse_args(argv)
    ident = os.getpid() & 0xFFFF
    sock = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)
    threading.Thread(target=replies, args=(sock, a.address, ident, sys.stdout),
                     daemon=True).start()
    start = time.monotonic()
    seq = 0
    while time.monotonic() - start < a.deadline:
        seq = (seq + 1) & 0xFFFF
        sock.sendto(echo_request(ident, seq), (a.address, 0))
        time.sleep(a.interval)
    sock.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
