"""Where a cold start's controller time goes: cProfile of bench_scale's cold start.

    python -m simulations.profile_scale --case 1000x20000

The same cold start as ``bench_scale --case NxP --null`` (a restarted controller finds every
VM plugged and empty flow tables, programs every switch and writes every port's status to an
SQLite database through the real core), with switches that count the bytes and keep nothing,
run under cProfile. Prints the stages of the pass (cumulative CPU of the functions that are
each stage) as shares of the whole, then the functions that cost most by their own time.
Profiling slows Python code by roughly 1.5-2x; the shares are what to read, not the seconds.
"""
import argparse
import cProfile
import gc
import pstats
import tempfile
import time

from apps.openflow import OpenFlowPlugin
from simulations.bench_scale import store
from simulations.fakecloud import Scenario

#: (what, file suffix, function name): the stages of a cold-start pass
STAGES = (
    ("desired state: plan (incremental update)", "apps/openflow.py", "plan"),
    ("programming: encode and send (+barriers)", "apps/reconcile.py", "_program"),
    ("  of which encoding to bytes", "apps/ofmsg.py", "wire"),
    ("port status: build the reports", "apps/reconcile.py", "_report_status"),
    ("  of which the core's status write (SQLite)", "controller/ports.py", "report_statuses"),
    ("  of which the plug-in hearing the Changes", "apps/openflow.py", "notify"),
)


def cold_start_profile(n, p):
    """(pstats.Stats of the cold start, its CPU seconds under the profiler, flow-mods sent)."""
    from controller.core import Core
    from controller.db import Database
    plugin = OpenFlowPlugin()
    workdir = tempfile.mkdtemp(prefix="qnet-profile-scale-")
    plugin.core = Core(Database(f"sqlite:///{workdir}/qnet.sqlite"), plugin)
    cloud = Scenario(n, p).build(plugin, null_switches=True)
    store(plugin.core, plugin.model)
    gc.collect()
    profile = cProfile.Profile()
    cpu = time.process_time()
    profile.enable()
    cloud.publish()
    _, sent = cloud.settle()
    profile.disable()
    return pstats.Stats(profile), time.process_time() - cpu, sent


def stage_seconds(stats, suffix, name):
    """Cumulative seconds of the functions called ``name`` in files ending with ``suffix``
    (recursive calls counted once, as cProfile's cumulative time does)."""
    return sum(row[3] for (path, _, func), row in stats.stats.items()
               if func == name and (path.endswith(suffix) or suffix in path))


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--case", default="1000x20000", metavar="NxP")
    ap.add_argument("--top", type=int, default=25)
    args = ap.parse_args(argv)
    n, p = map(int, args.case.split("x"))
    stats, cpu, sent = cold_start_profile(n, p)
    total = stats.total_tt
    print(f"cold start {n} switches x {p} ports: {sent:,} flow-mods, "
          f"{cpu:.1f} s CPU under the profiler ({total:.1f} s profiled)")
    for what, suffix, name in STAGES:
        sec = stage_seconds(stats, suffix, name)
        print(f"  {what:<46} {sec:8.1f} s {100 * sec / total:5.1f} %")
    stats.sort_stats("tottime").print_stats(args.top)


if __name__ == "__main__":
    main()
