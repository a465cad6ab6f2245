"""IPAM as pure functions: subnet defaults, pools, candidates, exhaustion."""
import random

import netaddr
import pytest

from controller import errors, ipam


def test_parse_cidr_canonical_and_errors():
    assert str(ipam.parse_cidr("10.0.0.0/24")) == "10.0.0.0/24"
    assert ipam.parse_cidr("2001:db8::/64").version == 6
    for bad in ("10.0.0.0", "10.0.0.1/24", "300.0.0.0/8", "nonsense", "10.0.0.0/32", None):
        with pytest.raises(errors.InvalidInput):
            ipam.parse_cidr(bad)
    with pytest.raises(errors.InvalidInput, match="not an IPv6"):
        ipam.parse_cidr("10.0.0.0/24", 6)


def test_default_gateway_and_pool_exclude_network_broadcast_gateway():
    net = ipam.parse_cidr("10.1.0.0/29")
    gw = ipam.default_gateway(net)
    assert gw == "10.1.0.1"
    pools = ipam.build_pools(net, gw)
    assert pools == [{"start": "10.1.0.2", "end": "10.1.0.6"}]
    assert ipam.pool_size(pools) == 5


def test_gateway_in_the_middle_splits_the_pool():
    net = ipam.parse_cidr("10.1.0.0/28")
    pools = ipam.build_pools(net, "10.1.0.5")
    assert pools == [{"start": "10.1.0.1", "end": "10.1.0.4"},
                     {"start": "10.1.0.6", "end": "10.1.0.14"}]


def test_ipv6_pool_has_no_broadcast_exclusion():
    net = ipam.parse_cidr("2001:db8::/125")
    assert ipam.build_pools(net, None) == [{"start": "2001:db8::1", "end": "2001:db8::7"}]


@pytest.mark.parametrize("pools,message", [
    ([{"start": "10.0.0.10", "end": "10.0.0.5"}], "start after end"),
    ([{"start": "10.0.0.0", "end": "10.0.0.5"}], "not a usable address"),
    ([{"start": "10.0.0.250", "end": "10.0.0.255"}], "not a usable address"),
    ([{"start": "10.0.1.2", "end": "10.0.1.5"}], "not a usable address"),
    ([{"start": "10.0.0.2", "end": "10.0.0.9"}, {"start": "10.0.0.8", "end": "10.0.0.20"}],
     "overlap"),
    ([{"start": "10.0.0.1", "end": "10.0.0.9"}], "gateway"),
])
def test_bad_pools_are_rejected(pools, message):
    with pytest.raises(errors.InvalidInput, match=message):
        ipam.build_pools(ipam.parse_cidr("10.0.0.0/24"), "10.0.0.1", pools)


def test_random_candidates_stay_inside_pools():
    pools = [{"start": "10.0.0.2", "end": "10.0.0.4"}, {"start": "10.0.0.200", "end": "10.0.0.201"}]
    rng = random.Random(7)
    allowed = {"10.0.0.2", "10.0.0.3", "10.0.0.4", "10.0.0.200", "10.0.0.201"}
    seen = set()
    for _ in range(50):
        cands = ipam.random_candidates(pools, rng=rng)
        assert set(cands) <= allowed
        seen |= set(cands)
    assert seen == allowed  # every pool address is reachable


def test_first_free_detects_exhaustion():
    pools = [{"start": "10.0.0.2", "end": "10.0.0.4"}]
    assert ipam.first_free(pools, ["10.0.0.2"]) == "10.0.0.3"
    assert ipam.first_free(pools, ["10.0.0.2", "10.0.0.3", "10.0.0.4"]) is None


def test_check_address_in_subnet():
    net = ipam.parse_cidr("10.0.0.0/24")
    assert ipam.check_address_in_subnet("10.0.0.7", net) == "10.0.0.7"
    for bad in ("10.0.0.0", "10.0.0.255", "10.0.1.1", "fe80::1", "x"):
        with pytest.raises(errors.InvalidInput):
            ipam.check_address_in_subnet(bad, net)


def test_macs():
    mac = ipam.random_mac("fa:16:3e", random.Random(1))
    assert mac.startswith("fa:16:3e:") and len(mac) == 17
    assert ipam.normalize_mac("FA-16-3E-00-00-01") == "fa:16:3e:00:00:01"
    for bad in ("01:00:5e:00:00:01", "00:00:00:00:00:00", "zz:16:3e:00:00:01"):
        with pytest.raises(errors.InvalidInput):
            ipam.normalize_mac(bad)
    assert not netaddr.EUI(mac).words[0] & 1
