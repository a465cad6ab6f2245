"""IP address management: subnet defaults and address choice, as pure functions over netaddr.

Address choice is random within the allocation pools (as Neutron does): with a few candidates
checked per query, allocation costs O(1) however many ports a subnet already has. Only when the
random probes all hit used addresses (a nearly full subnet) do we read the used set and compute the
free one exactly, so exhaustion is detected precisely.
"""
import functools
import random

import netaddr

from controller import errors

#: Random candidates checked per query, round after round, before an exact scan. Few suffice while a
#: subnet has room (at half full, 4 miss together 6% of the time); many more for the next round
#: keep a nearly full subnet off the exact scan (at 90% full, 4 then 32 both miss 2% of the
#: time, where one round of 16 did 18%).
PROBE_ROUNDS = (4, 32)


def parse_cidr(cidr, ip_version=None):
    """Return the canonical IPNetwork for ``cidr`` or raise InvalidInput."""
    try:
        net = netaddr.IPNetwork(cidr)
    except (netaddr.AddrFormatError, ValueError, TypeError):
        raise errors.InvalidInput(error=f"'{cidr}' is not a valid CIDR")
    if "/" not in str(cidr):
        raise errors.InvalidInput(error=f"'{cidr}' is not a valid CIDR: prefix length missing")
    if net.ip != net.network:
        raise errors.InvalidInput(
            error=f"'{cidr}' is not a valid CIDR: host bits set (did you mean {net.cidr}?)")
    if ip_version is not None and net.version != ip_version:
        raise errors.InvalidInput(error=f"CIDR {cidr} is not an IPv{ip_version} network")
    usable = net.size - (2 if net.version == 4 else 1)
    if usable < 1:
        raise errors.InvalidInput(error=f"CIDR {cidr} is too small to hold any address")
    return net


def host_range(net):
    """First and last address a port may get (no network address; no IPv4 broadcast)."""
    last = net.last - 1 if net.version == 4 else net.last
    return netaddr.IPAddress(net.first + 1, net.version), netaddr.IPAddress(last, net.version)


def default_gateway(net):
    return str(host_range(net)[0])


def check_address_in_subnet(ip, net, what="IP address"):
    """Validate that ``ip`` is a usable host address of ``net``; return it canonical."""
    try:
        addr = netaddr.IPAddress(ip)
    except (netaddr.AddrFormatError, ValueError, TypeError):
        raise errors.InvalidInput(error=f"{what} '{ip}' is not a valid IP address")
    first, last = host_range(net)
    if addr.version != net.version or not first <= addr <= last:
        raise errors.InvalidInput(error=f"{what} {ip} is not a usable address of subnet {net}")
    return str(addr)


def build_pools(net, gateway_ip, requested=None):
    """Normalise the allocation pools of a subnet.

    Without ``requested`` the pool is the whole host range minus the gateway. Requested pools
    must lie in the host range, must not overlap each other and must not hold the gateway.
    """
    first, last = host_range(net)
    if not requested:
        pool = netaddr.IPSet(netaddr.IPRange(first, last))
        if gateway_ip:
            pool.remove(netaddr.IPAddress(gateway_ip))
        return [{"start": str(r[0]), "end": str(r[-1])} for r in pool.iter_ipranges()]
    ranges = []
    for p in requested:
        start = check_address_in_subnet(p["start"], net, "allocation pool start")
        end = check_address_in_subnet(p["end"], net, "allocation pool end")
        rng = netaddr.IPRange(start, end) if netaddr.IPAddress(start) <= netaddr.IPAddress(end) \
            else None
        if rng is None:
            raise errors.InvalidInput(error=f"allocation pool {start}-{end}: start after end")
        for other in ranges:
            if netaddr.IPSet(rng) & netaddr.IPSet(other):
                raise errors.InvalidInput(error=f"allocation pools {rng} and {other} overlap")
        if gateway_ip and netaddr.IPAddress(gateway_ip) in rng:
            raise errors.InvalidInput(
                error=f"gateway {gateway_ip} lies inside allocation pool {start}-{end}")
        ranges.append(rng)
    ranges.sort(key=lambda r: r.first)
    return [{"start": str(r[0]), "end": str(r[-1])} for r in ranges]


def pools_contain(pools, ip):
    addr = netaddr.IPAddress(ip)
    return any(netaddr.IPAddress(p["start"]) <= addr <= netaddr.IPAddress(p["end"])
               for p in pools)


def pool_size(pools):
    return pool_bounds(pools)[1]


def random_candidates(pools, count=PROBE_ROUNDS[-1], rng=random):
    """Up to ``count`` distinct random addresses from the pools, uniform over all of them."""
    bounds, total = pool_bounds(pools)
    if total == 0:
        return []
    picks = set()
    for _ in range(count):
        n = rng.randrange(total)
        for lo, hi, version in bounds:
            if n <= hi - lo:
                picks.add(str(netaddr.IPAddress(lo + n, version)))
                break
            n -= hi - lo + 1
    return sorted(picks)


def pool_bounds(pools):
    """``([(first, last, version)], size)`` of the pools as integers.

    Every automatic address choice needs this; parsing the pool strings each time cost more
    than the arithmetic, so the result is cached by the pools' value (not by subnet: a pool
    update simply makes a new key).
    """
    return _pool_bounds(tuple((p["start"], p["end"]) for p in pools))


@functools.lru_cache(maxsize=1024)
def _pool_bounds(pools):
    bounds = []
    for start, end in pools:
        first = netaddr.IPAddress(start)
        bounds.append((int(first), int(netaddr.IPAddress(end)), first.version))
    return tuple(bounds), sum(hi - lo + 1 for lo, hi, _ in bounds)


def first_free(pools, used):
    """The lowest pool address not in ``used``, or None when the pools are full."""
    free = netaddr.IPSet(netaddr.IPRange(p["start"], p["end"]) for p in pools)
    free -= netaddr.IPSet(used)
    for rng in free.iter_ipranges():
        return str(rng[0])
    return None


def random_mac(prefix="fa:16:3e", rng=random):
    """A locally administered unicast MAC under ``prefix`` (Neutron's default base MAC)."""
    tail = ":".join(f"{rng.randrange(256):02x}" for _ in range(6 - len(prefix.split(":"))))
    return f"{prefix}:{tail}"


def normalize_mac(mac):
    try:
        value = netaddr.EUI(mac, dialect=netaddr.mac_unix_expanded)
    except (netaddr.AddrFormatError, ValueError, TypeError):
        raise errors.InvalidInput(error=f"'{mac}' is not a valid MAC address")
    if value.words[0] & 1:
        raise errors.InvalidInput(error=f"'{mac}' is a multicast MAC address")
    if int(value) == 0:
        raise errors.InvalidInput(error=f"'{mac}' is the zero MAC address")
    return str(value)
