"""Flow matches in canonical form, and the relations between them a switch needs.

A canonical match is a sorted tuple of (field, int value, int mask or None), with masked values
normalised: two flow-mods with the same match compare equal whatever os-ken form they used.
"""
from os_ken.ofproto import ofproto_v1_3 as ofp
from os_ken.ofproto import ofproto_v1_3_parser as parser

from apps.ofmodel.errors import Reject
from apps.ofmodel.fields import FIELDS, canon_name, value_mask

# Match prerequisites: field -> ((required field, allowed values), ...). Every clause must hold,
# with the required field matched exactly in the flow's match.
_IP = frozenset((0x0800, 0x86dd))
_PREREQS = {
    'ip_dscp': (('eth_type', _IP),), 'ip_ecn': (('eth_type', _IP),),
    'ip_proto': (('eth_type', _IP),),
    'ipv4_src': (('eth_type', {0x0800}),), 'ipv4_dst': (('eth_type', {0x0800}),),
    'ipv6_src': (('eth_type', {0x86dd}),), 'ipv6_dst': (('eth_type', {0x86dd}),),
    'ipv6_flabel': (('eth_type', {0x86dd}),), 'ipv6_exthdr': (('eth_type', {0x86dd}),),
    'tcp_src': (('ip_proto', {6}),), 'tcp_dst': (('ip_proto', {6}),),
    'tcp_flags': (('ip_proto', {6}),),
    'udp_src': (('ip_proto', {17}),), 'udp_dst': (('ip_proto', {17}),),
    'sctp_src': (('ip_proto', {132}),), 'sctp_dst': (('ip_proto', {132}),),
    'icmpv4_type': (('eth_type', {0x0800}), ('ip_proto', {1})),
    'icmpv4_code': (('eth_type', {0x0800}), ('ip_proto', {1})),
    'icmpv6_type': (('eth_type', {0x86dd}), ('ip_proto', {58})),
    'icmpv6_code': (('eth_type', {0x86dd}), ('ip_proto', {58})),
    'ipv6_nd_target': (('icmpv6_type', {135, 136}),),
    'ipv6_nd_sll': (('icmpv6_type', {135}),), 'ipv6_nd_tll': (('icmpv6_type', {136}),),
    'arp_op': (('eth_type', {0x0806, 0x8035}),), 'arp_spa': (('eth_type', {0x0806, 0x8035}),),
    'arp_tpa': (('eth_type', {0x0806, 0x8035}),), 'arp_sha': (('eth_type', {0x0806, 0x8035}),),
    'arp_tha': (('eth_type', {0x0806, 0x8035}),),
    'mpls_label': (('eth_type', {0x8847, 0x8848}),), 'mpls_tc': (('eth_type', {0x8847, 0x8848}),),
    'mpls_bos': (('eth_type', {0x8847, 0x8848}),), 'pbb_isid': (('eth_type', {0x88e7}),),
    'vlan_pcp': (('vlan_vid', 'present'),),
}


def prereq_missing(name, match_dict):
    """Return a text describing the missing prerequisite of `name`, or None."""
    for req, allowed in _PREREQS.get(name, ()):
        vm = match_dict.get(req)
        if allowed == 'present':
            if vm is None or not (vm[0] & ofp.OFPVID_PRESENT) or (
                    vm[1] is not None and not vm[1] & ofp.OFPVID_PRESENT):
                return '%s needs a VLAN (vlan_vid with OFPVID_PRESENT)' % name
            continue
        if vm is None or vm[1] is not None or vm[0] not in allowed:
            return '%s needs %s in %s' % (name, req, sorted(allowed))
    return None


def compile_match(match):
    """Canonical match of an OFPMatch, a dict or (name, value) pairs; Reject if malformed."""
    if match is None:
        items = ()
    elif isinstance(match, parser.OFPMatch):
        if match._composed_with_old_api():
            buf = bytearray()
            match.serialize(buf, 0)
            match = parser.OFPMatch.parser(bytes(buf), 0)
        items = match.items()
    elif isinstance(match, dict):
        items = match.items()
    else:
        items = match
    out = {}
    for name, value in items:
        name = canon_name(name)
        if name not in FIELDS:
            raise Reject('OFPET_BAD_MATCH', 'OFPBMC_BAD_FIELD', 'unknown field %s' % name)
        if name in out:
            raise Reject('OFPET_BAD_MATCH', 'OFPBMC_DUP_FIELD', 'duplicate field %s' % name)
        try:
            v, m = value_mask(name, value)
        except (ValueError, TypeError) as e:
            raise Reject('OFPET_BAD_MATCH', 'OFPBMC_BAD_VALUE', str(e)) from None
        if m is not None:
            full = (1 << FIELDS[name][1]) - 1
            if m == full:
                m = None
            elif m == 0:
                continue
            else:
                v &= m
        out[name] = (v, m)
    return tuple(_intern((k, v, m)) for k, (v, m) in sorted(out.items()))


_INTERNED = {}


def _intern(triple):
    # (field, value, mask) triples repeat across flows and switches (metadata, in_port, MACs
    # present on every switch of a network): share them to keep large simulations small.
    t = _INTERNED.get(triple)
    if t is None:
        if len(_INTERNED) >= 1 << 20:
            _INTERNED.clear()
        t = _INTERNED[triple] = triple
    return t


def match_dict(cmatch):
    """{field: (value, mask)} of a canonical match."""
    return {k: (v, m) for k, v, m in cmatch}


def covers(general, specific):
    """True if every packet matching `specific` matches `general` (non-strict flow-mod match)."""
    if not general:
        return True
    spec = match_dict(specific)
    for name, v, m in general:
        sv = spec.get(name)
        if sv is None:
            return False
        s_val, s_mask = sv
        if m is None:
            if s_mask is not None or s_val != v:
                return False
        else:
            if s_mask is not None and (s_mask & m) != m:
                return False
            if (s_val & m) != v:
                return False
    return True


def overlaps(a, b):
    """True if some packet could match both canonical matches."""
    bd = match_dict(b)
    for name, v, m in a:
        o = bd.get(name)
        if o is None:
            continue
        ov, om = o
        mask = (m if m is not None else -1) & (om if om is not None else -1)
        if (v ^ ov) & mask:
            return False
    return True
