"""qnet hypervisor lab: namespaced OVS "hypervisors" joined by a routed underlay (Mininet).

Use ``start_lab()``; it always tears the lab down. See nodes.py for why each node exists.
"""

from .nodes import Hypervisor, LabError, UnderlayRouter, UnderlaySegment, VM  # noqa: F401
from .topo import Lab, OverlayTopo, start_lab  # noqa: F401
