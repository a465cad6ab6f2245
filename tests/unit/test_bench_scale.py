"""The scale benchmark in a tiny configuration: it runs, its switches read real bytes, and its
status reports reach the database (the figures themselves are the bench's business)."""
from simulations import bench_scale


def test_a_tiny_scale_run_reports_every_port_active_in_the_database():
    out = bench_scale.run_case(4, 40, repeat=1)
    assert out["active_in_db"] == 40
    assert out["cold_flow_mods"] > 0 and out["flows_max"] > 0
    assert out["add_switches"] >= 1 and out["add_flow_mods"] > 0


def test_the_controller_alone_run_counts_the_messages_it_sent():
    out = bench_scale.run_case(4, 40, repeat=0, null=True)
    assert out["cold_flow_mods"] > 0


def test_the_cold_start_profile_finds_every_stage_it_names():
    from simulations import profile_scale
    stats, _, sent = profile_scale.cold_start_profile(4, 40)
    assert sent > 0
    for what, suffix, name in profile_scale.STAGES:
        assert profile_scale.stage_seconds(stats, suffix, name) > 0, what
