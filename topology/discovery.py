"""Which links LLDP has proved: both ends heard each other, recently.

One LLDP frame heard says that the sender's port reaches the receiver's port. A link
(a, port a) <-> (b, port b) counts only when it was heard in both directions recently (the
controller forgets sightings older than its link timeout, ``forget_before``): a host that
manages to get a frame of one switch port to the controller (by replaying what it received)
still cannot make a link, since it would need the other end's frames too.
"""


class Sightings:
    """Directed LLDP sightings (sender end, receiver end) -> time last heard."""

    def __init__(self):
        self.heard = {}           # ((dpid, port), (dpid, port)) -> monotonic time

    def hear(self, sender, receiver, now):
        """Note that ``sender`` (dpid, port) reached ``receiver``; True when the opposite
        direction was heard too and not forgotten yet (the link is proved)."""
        if sender[0] == receiver[0]:
            return False          # a switch hearing itself: a loop through a host, no link
        self.heard[(sender, receiver)] = now
        return (receiver, sender) in self.heard

    def last_proved(self, a, b):
        """When the link between ends ``a`` and ``b`` was last heard both ways (the older of
        the two sightings), or None."""
        there, back = self.heard.get((a, b)), self.heard.get((b, a))
        return None if there is None or back is None else min(there, back)

    def forget_before(self, when):
        """Drop sightings older than ``when`` (they prove nothing any more)."""
        self.heard = {k: t for k, t in self.heard.items() if t >= when}
