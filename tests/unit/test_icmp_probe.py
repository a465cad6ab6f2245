"""The benches' ICMP prober (simulations/lab/icmp_probe.py) builds echo requests a receiver
accepts: os-ken parses them with a valid checksum, and prints replies as ``ping -D`` does, which
the benches' reader (bench_overlay.Pinger) understands."""
import io
import struct

from os_ken.lib.packet import icmp

from simulations.bench_overlay import Pinger
from simulations.lab import icmp_probe


def test_an_echo_request_has_a_valid_checksum_and_our_id_and_sequence():
    data = icmp_probe.echo_request(0x1234, 7)
    msg, _, _ = icmp.icmp.parser(data)
    assert (msg.type, msg.code) == (icmp.ICMP_ECHO_REQUEST, 0)
    assert (msg.data.id, msg.data.seq) == (0x1234, 7)
    assert icmp_probe.checksum(data) == 0          # a packet with its checksum sums to zero
    assert len(data) == 64


class FakeSocket:
    def __init__(self, packets):
        self.packets = list(packets)

    def recvfrom(self, _size):
        if not self.packets:
            raise OSError("closed")
        return self.packets.pop(0)


def ip_packet(icmp_bytes):
    return struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(icmp_bytes), 0, 0, 64, 1, 0,
                       bytes(4), bytes(4)) + icmp_bytes


def test_only_our_replies_from_the_address_are_printed_as_ping_does():
    reply = bytearray(icmp_probe.echo_request(42, 3))
    reply[0] = icmp_probe.ECHO_REPLY
    other_id = bytearray(icmp_probe.echo_request(43, 4))
    other_id[0] = icmp_probe.ECHO_REPLY
    out = io.StringIO()
    icmp_probe.replies(FakeSocket([
        (ip_packet(bytes(reply)), ("10.0.0.9", 0)),
        (ip_packet(bytes(reply)), ("10.0.0.8", 0)),                   # another address
        (ip_packet(bytes(other_id)), ("10.0.0.9", 0)),                # another prober
        (ip_packet(icmp_probe.echo_request(42, 5)), ("10.0.0.9", 0)),  # a request, not a reply
    ]), "10.0.0.9", 42, out)
    lines = out.getvalue().splitlines()
    assert len(lines) == 1 and lines[0].endswith("64 bytes from 10.0.0.9: icmp_seq=3")
    assert Pinger.REPLY.match(lines[0].encode())
