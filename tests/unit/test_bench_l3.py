"""The L3 bench's datapath-work figure reads Open vSwitch's own counters: the parser must add
up every thread's packets and recirculations, or the "passes per packet" it prints for qnet
and OVN would compare nothing."""
from simulations import bench_l3

# ``ovs-appctl dpif-netdev/pmd-stats-show`` of Open vSwitch 3.1 (userspace datapath): the main
# thread, which polls the lab's veth ports, and one PMD thread for good measure
STATS = """\
pmd thread numa_id 0 core_id 1:
  packets received: 100
  packet recirculations: 50
  avg. datapath passes per packet: 1.50
  emc hits: 150
main thread:
  packets received: 724004
  packet recirculations: 155917
  avg. datapath passes per packet: 1.22
  phwol hits: 0
  emc hits: 879552
  megaflow hits: 363
  avg. packets per output batch: 19.39
"""


class FakeHypervisor:
    def __init__(self, stats):
        self.stats, self.asked = stats, []

    def appctl(self, *args):
        self.asked.append(args)
        return self.stats


def test_passes_add_each_threads_packets_and_recirculations_over_hypervisors():
    hvs = [FakeHypervisor(STATS), FakeHypervisor("main thread:\n  packets received: 10\n"
                                                 "  packet recirculations: 10\n")]
    received, passes = bench_l3.datapath_passes(hvs)
    assert received == 100 + 724004 + 10
    assert passes == received + 50 + 155917 + 10
    assert all(hv.asked == [("dpif-netdev/pmd-stats-show",)] for hv in hvs)


def test_round_ratios_pair_each_qnet_round_with_the_ovn_round_beside_it():
    qnet = [dict.fromkeys(bench_l3.TRANSFERS, 600.0), dict.fromkeys(bench_l3.TRANSFERS, 700.0)]
    ovn = [dict.fromkeys(bench_l3.TRANSFERS, 500.0), dict.fromkeys(bench_l3.TRANSFERS, 800.0)]
    ratios = bench_l3.paired_ratios(qnet, ovn)
    assert set(ratios) == set(bench_l3.TRANSFERS)
    assert all(v == [1.2, 0.875] for v in ratios.values())
