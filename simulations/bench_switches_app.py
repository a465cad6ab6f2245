"""The os-ken app of simulations/bench_switches.py: programs each bridge that connects with its
desired state, the way qnet's core does (read back, diff, send, barrier), one bridge at a
time, and records how long each step took."""
import time

from os_ken.app.ofctl import api
from os_ken.base import app_manager
from os_ken.controller import ofp_event
from os_ken.controller.handler import MAIN_DISPATCHER, set_ev_cls
from os_ken.lib import hub
from os_ken.ofproto import ofproto_v1_3

from apps import ofmsg
from apps.reconcile import read_installed


class SwitchProgrammer(app_manager.OSKenApp):
    OFP_VERSIONS = [ofproto_v1_3.OFP_VERSION]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.desired, self.mode = {}, "bytes"
        self.results = {}
        self.one_at_a_time = hub.Semaphore(1)

    def configure(self, desired, mode):
        self.desired, self.mode = desired, mode

    @set_ev_cls(ofp_event.EventOFPStateChange, MAIN_DISPATCHER)
    def _connected(self, ev):
        if ev.datapath.id in self.desired:
            hub.spawn(self.program, ev.datapath)

    def request(self, dp, msg, reply_cls, multi=False):
        return api.send_msg(self, msg, reply_cls=reply_cls, reply_multi=multi)

    def program(self, dp):
        with self.one_at_a_time:
            t0 = time.time()
            installed = read_installed(self.request, dp)
            delta = ofmsg.changes(installed, self.desired[dp.id])
            t1 = time.time()
            if self.mode == "objects":
                for msg in ofmsg.messages(dp, delta):
                    dp.send_msg(msg)
            else:
                for chunk in ofmsg.wire(dp, delta):
                    dp.send(chunk)
            parser = dp.ofproto_parser
            self.request(dp, parser.OFPBarrierRequest(dp), parser.OFPBarrierReply)
            t2 = time.time()
            self.results[dp.id] = {"dpid": dp.id, "flow_mods": len(delta), "read_s": t1 - t0,
                                   "send_s": t2 - t1, "t_start": t0, "t_end": t2}
