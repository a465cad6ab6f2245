"""The service's Prometheus metrics, declared once (docs/observability.md lists them).

The counters and histograms here are module-level -- one ``qnet serve`` is one process -- and
registered in no registry by themselves: each WSGI application (rest/metrics.py) makes its own
registry of these plus a collector that reads the current state (switches, ports by status)
when scraped, so several applications in one process (tests) never clash.

No metric carries a tenant's data: labels are route patterns (``/v2.0/ports/{id}``, never an
id), HTTP methods and statuses, message types and hypervisor names.
"""
from prometheus_client import Counter, Histogram

API_REQUESTS = Counter("qnet_api_requests", "REST API requests answered, by route pattern, "
                       "method and HTTP status.", ("route", "method", "status"), registry=None)
API_LATENCY = Histogram("qnet_api_request_duration_seconds", "Time to answer a REST API "
                        "request, by route pattern and method.", ("route", "method"),
                        registry=None,
                        buckets=(.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10))
OPENFLOW_SENT = Counter("qnet_openflow_messages_sent", "Flow-mods, group-mods and meter-mods "
                        "sent to switches.", ("type",), registry=None)
RESYNCS = Counter("qnet_switch_resyncs", "Switches read back and resynced to their whole "
                  "desired state (a connection, a rejected message, a failed pass).",
                  registry=None)
PASS_DURATION = Histogram("qnet_reconcile_pass_duration_seconds", "Time of one pass of the "
                          "switch-programming worker (fold changes in, send deltas, await "
                          "barriers).", registry=None,
                          buckets=(.001, .005, .01, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60))
PASS_FAILURES = Counter("qnet_reconcile_pass_failures", "Passes that failed (the next one "
                        "resyncs every switch).", registry=None)
PACKET_INS = Counter("qnet_packet_ins", "Packet-ins received from switches.", registry=None)
DHCP_REPLIES = Counter("qnet_dhcp_replies", "DHCP answers sent to ports.", registry=None)
SWITCH_REFUSALS = Counter("qnet_switch_refusals", "Messages switches refused because another "
                          "instance is master (cluster fencing): a role request with a stale "
                          "generation, or a write from a slave connection.", ("reason",),
                          registry=None)

#: Everything above, for a registry to take in.
ALL = (API_REQUESTS, API_LATENCY, OPENFLOW_SENT, RESYNCS, PASS_DURATION, PASS_FAILURES,
       PACKET_INS, DHCP_REPLIES, SWITCH_REFUSALS)


def count_sent(delta):
    """Count the messages a ``ofmsg.Delta`` is sent as, by type."""
    OPENFLOW_SENT.labels("flow_mod").inc(len(delta.adds) + len(delta.deletes))
    OPENFLOW_SENT.labels("group_mod").inc(len(delta.groups) + len(delta.group_deletes))
    OPENFLOW_SENT.labels("meter_mod").inc(len(delta.meters) + len(delta.meter_deletes))
