"""The flow tables of one switch: entries kept in lookup order, and the flow-mod operations
(add/replace, modify, select, delete) with OpenFlow 1.3's strict and non-strict matching."""
import bisect
import collections
import itertools

from os_ken.ofproto import ofproto_v1_3 as ofp
from os_ken.ofproto import ofproto_v1_3_parser as parser

from apps.ofmodel.dump import format_entry
from apps.ofmodel.errors import Reject
from apps.ofmodel.fields import field_to_user
from apps.ofmodel.match import covers, overlaps

MAX_TABLE = 254

# flags a switch keeps with a flow (OFPFF_CHECK_OVERLAP and OFPFF_RESET_COUNTS act on the add)
_KEPT_FLAGS = ofp.OFPFF_SEND_FLOW_REM | ofp.OFPFF_NO_PKT_COUNTS | ofp.OFPFF_NO_BYT_COUNTS


def actions_of(instructions):
    """Every action of the apply-/write-actions instructions."""
    for inst in instructions:
        if isinstance(inst, parser.OFPInstructionActions):
            yield from inst.actions


def conjunctions_of(entry):
    """((clause, n_clauses, id), ...) of an entry's ``conjunction`` actions (clause 0-based, as
    on the wire: ovs-ofctl's ``conjunction(id,k/n)`` has clause k-1)."""
    return tuple((a.clause, a.n_clauses, a.id) for a in actions_of(entry.instructions)
                 if isinstance(a, parser.NXActionConjunction))


class FlowEntry:
    """One flow entry. ``match`` is the canonical tuple ((field, int value, int mask|None), ...);
    ``instructions`` the os-ken instruction objects (in specification order)."""
    __slots__ = ('table_id', 'priority', 'match', 'cookie', 'instructions', 'idle_timeout',
                 'hard_timeout', 'flags', 'seq')

    def __init__(self, table_id, priority, match, cookie, instructions, idle_timeout=0,
                 hard_timeout=0, flags=0, seq=0):
        self.table_id = table_id
        self.priority = priority
        self.match = match
        self.cookie = cookie
        self.instructions = instructions
        self.idle_timeout = idle_timeout
        self.hard_timeout = hard_timeout
        self.flags = flags
        self.seq = seq

    def sort_key(self):
        return (-self.priority, self.seq)

    def matches(self, pkt):
        for name, v, m in self.match:
            pv = pkt.get(name, 0)
            if m is None:
                if pv != v:
                    return False
            elif pv & m != v:
                return False
        return True

    def is_table_miss(self):
        return self.priority == 0 and not self.match

    def user_match(self):
        """The match as os-ken OFPMatch keyword arguments."""
        return {k: field_to_user(k, v) if m is None else
                (field_to_user(k, v), field_to_user(k, m)) for k, v, m in self.match}

    def ofp_match(self):
        return parser.OFPMatch(**self.user_match())

    def outputs_to(self, port):
        for a in actions_of(self.instructions):
            if isinstance(a, parser.OFPActionOutput) and a.port == port:
                return True
        return False

    def uses_group(self, group_id):
        for a in actions_of(self.instructions):
            if isinstance(a, parser.OFPActionGroup) and a.group_id == group_id:
                return True
        return False

    def uses_meter(self, meter_id):
        for inst in self.instructions:
            if isinstance(inst, parser.OFPInstructionMeter) and inst.meter_id == meter_id:
                return True
        return False

    def __repr__(self):
        return 'FlowEntry(%s)' % format_entry(self)


class _Table:
    __slots__ = ('entries', 'index')

    def __init__(self):
        self.entries = []   # sorted by (-priority, seq)
        self.index = {}     # (priority, match) -> entry


class FlowTables:
    """Tables 0..254 of one switch; a table exists while it holds an entry."""
    __slots__ = ('tables', '_seq')

    def __init__(self):
        self.tables = {}
        self._seq = itertools.count()

    def add(self, table_id, fm, match, instructions):
        """OFPFC_ADD: a new entry, or the one of the same priority and match replaced."""
        table = self.tables.get(table_id)
        if table is None:
            table = self.tables[table_id] = _Table()
        key = (fm.priority, match)
        old = table.index.get(key)
        if old is None and fm.flags & ofp.OFPFF_CHECK_OVERLAP:
            for e in table.entries:
                if e.priority == fm.priority and overlaps(match, e.match):
                    raise Reject('OFPET_FLOW_MOD_FAILED', 'OFPFMFC_OVERLAP',
                                 'overlaps %s' % format_entry(e))
        flags = fm.flags & _KEPT_FLAGS
        if old is not None:
            old.cookie = fm.cookie
            old.instructions = instructions
            old.idle_timeout = fm.idle_timeout
            old.hard_timeout = fm.hard_timeout
            old.flags = flags
            return
        e = FlowEntry(table_id, fm.priority, match, fm.cookie, instructions, fm.idle_timeout,
                      fm.hard_timeout, flags, next(self._seq))
        table.index[key] = e
        bisect.insort(table.entries, e, key=FlowEntry.sort_key)

    def modify(self, table_id, fm, match, instructions, strict):
        """OFPFC_MODIFY(_STRICT): new instructions for the entries selected (cookie-masked)."""
        table = self.tables.get(table_id)
        if table is None:
            return
        if strict:
            e = table.index.get((fm.priority, match))
            targets = [e] if e is not None else []
        else:
            targets = [e for e in table.entries if covers(match, e.match)]
        for e in targets:
            if (e.cookie ^ fm.cookie) & fm.cookie_mask:
                continue
            e.instructions = instructions

    def select(self, table_id, match, priority, cookie, cookie_mask, out_port, out_group):
        """The entries a delete or stats request selects (strict when priority is given)."""
        if table_id == ofp.OFPTT_ALL:
            tables = sorted(self.tables.items())
        else:
            t = self.tables.get(table_id)
            tables = [(table_id, t)] if t is not None else []
        for tid, table in tables:
            if priority is not None:
                e = table.index.get((priority, match))
                cands = [e] if e is not None else []
            else:
                cands = [e for e in table.entries if covers(match, e.match)]
            for e in cands:
                if cookie_mask and (e.cookie ^ cookie) & cookie_mask:
                    continue
                if out_port is not None and out_port != ofp.OFPP_ANY and not e.outputs_to(out_port):
                    continue
                if (out_group is not None and out_group != ofp.OFPG_ANY
                        and not e.uses_group(out_group)):
                    continue
                yield e

    def delete(self, table_id, match, priority, cookie, cookie_mask, out_port, out_group):
        doomed = list(self.select(table_id, match, priority, cookie, cookie_mask, out_port,
                                  out_group))
        self.remove(doomed)
        return doomed

    def remove(self, doomed):
        by_table = collections.defaultdict(set)
        for e in doomed:
            by_table[e.table_id].add(id(e))
        for tid, ids in by_table.items():
            table = self.tables[tid]
            table.entries = [e for e in table.entries if id(e) not in ids]
            for e in doomed:
                if e.table_id == tid:
                    table.index.pop((e.priority, e.match), None)
            if not table.entries:
                del self.tables[tid]

    def iter_flows(self, table_id=None):
        if table_id is not None and table_id != ofp.OFPTT_ALL:
            t = self.tables.get(table_id)
            return iter(t.entries if t else ())
        return itertools.chain.from_iterable(self.tables[t].entries for t in sorted(self.tables))

    def count(self, table_id=None):
        if table_id is not None:
            t = self.tables.get(table_id)
            return len(t.entries) if t else 0
        return sum(len(t.entries) for t in self.tables.values())

    def lookup_conjunctive(self, table_id, pkt):
        """The entry a switch uses for `pkt` in `table_id`, conjunctive matches included:
        entries with ``conjunction`` actions above the best ordinary match count when, at one
        priority, every clause of a conjunction id matched; the table is then looked up again
        with ``conj_id`` set to the lowest such id (higher priorities first)."""
        t = self.tables.get(table_id)
        if t is None:
            return None
        clauses = {}          # priority -> {conj id: (n, set of matched clauses)}
        hard = None
        for e in t.entries:
            if not e.matches(pkt):
                continue
            conj = conjunctions_of(e)
            if not conj:
                hard = e
                break
            at = clauses.setdefault(e.priority, {})
            for clause, n, conj_id in conj:
                at.setdefault(conj_id, (n, set()))[1].add(clause)
        for priority in sorted(clauses, reverse=True):
            done = sorted(i for i, (n, seen) in clauses[priority].items() if len(seen) == n)
            if done:
                saved = pkt.get('conj_id')
                pkt['conj_id'] = done[0]
                try:
                    return self._lookup_plain(t, pkt)
                finally:
                    if saved is None:
                        del pkt['conj_id']
                    else:
                        pkt['conj_id'] = saved
        return hard

    @staticmethod
    def _lookup_plain(t, pkt):
        for e in t.entries:
            if e.matches(pkt) and not conjunctions_of(e):
                return e
        return None

    def lookup(self, table_id, pkt):
        """Highest-priority entry of `table_id` matching `pkt` (a dict of int field values)."""
        t = self.tables.get(table_id)
        if t is None:
            return None
        return next((e for e in t.entries if e.matches(pkt)), None)
