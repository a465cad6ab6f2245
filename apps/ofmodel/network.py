"""Many switch models in one process, each behind its ModelDatapath."""
from apps.ofmodel.datapath import ModelDatapath
from apps.ofmodel.switch import SwitchModel


class SwitchNetwork:
    """``add_switch(dpid, ports)`` -> ModelDatapath; ``network[dpid]`` -> its SwitchModel."""

    def __init__(self):
        self.switches = {}
        self.datapaths = {}

    def add_switch(self, dpid, ports=(), **dp_kwargs):
        sw = self.switches[dpid] = SwitchModel(dpid, ports)
        dp = self.datapaths[dpid] = ModelDatapath(sw, **dp_kwargs)
        return dp

    def __getitem__(self, dpid):
        return self.switches[dpid]

    def __len__(self):
        return len(self.switches)
