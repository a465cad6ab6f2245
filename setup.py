"""qnet: network connectivity as a service (Quantum/Neutron-style API, os-ken OpenFlow back-end)."""
from setuptools import setup

setup(
    name="qnet",
    version="0.1.0",
    description="Network connectivity service: tenant REST API, logical model, "
                "os-ken OpenFlow controller for Open vSwitch",
    long_description=open("README.md", encoding="utf-8").read(),
    long_description_content_type="text/markdown",
    python_requires=">=3.11",
    packages=[
        # The service (`qnet serve`, `qnet-manage`) and its API client (`qnet`).
        "controller", "controller.plugins", "rest", "apps", "apps.ofmodel", "topology",
        "tunnel", "qnetclient",
        # The lab and the benches, installed on purpose: `simulations.lab` is behind the
        # `qnet-lab` command (Mininet hypervisors, servers, the seed), `simulations` holds the
        # benches, the scale simulation and the `qnet serve` launcher they share with the
        # tests. The service needs none of it (tests/integration/test_service_standalone.py).
        "simulations", "simulations.lab",
    ],
    # the dashboard's page, script and style sheet (rest/ui.py)
    package_data={"rest": ["ui/*"]},
    install_requires=[
        # The OpenFlow controller framework; 4.2.2 is the version whose quirks
        # docs/architecture.md records (no osken-manager, native hub by default).
        "os-ken==4.2.2",
        "eventlet>=0.33",
        # Open vSwitch's own Python library: its OVSDB IDL replicates each hypervisor's
        # database (apps/ovsdb_manager.py); os-ken's OVSDB client does not work with it.
        "ovs>=2.17",
        "webob>=1.8",
        "sqlalchemy>=2.0,<2.2",
        "netaddr>=0.8",
        "networkx>=3.0",
        # The API client (qnetclient) and the `qnet` CLI on top of it.
        "requests>=2.28",
        # Authorization rules as Neutron declares and overrides them (controller/policy.py):
        # operators get Neutron's rule language and policy files instead of qnet's own ifs.
        "oslo.policy>=4.0",
        # The control channels' CA and certificates (`qnet-manage pki`, controller/pki.py),
        # made in-process rather than with ovs-pki's shell script (not on the controller host).
        "cryptography>=3.4",
        # `auth = keystone`: validates Keystone tokens as Neutron does (rest/keystone.py).
        "keystonemiddleware>=10.0",
        # /metrics in the Prometheus text format (rest/metrics.py): the client library
        # Prometheus itself maintains, rather than a hand-written exposition format.
        "prometheus_client>=0.16",
    ],
    extras_require={
        "postgresql": ["psycopg[binary]>=3.1"],
        # only for the PNG of simulations/bench_scale.py --plot
        "plot": ["matplotlib>=3.5"],
        "test": ["pytest>=7", "hypothesis>=6.0", "openstacksdk>=4.0",
                 "psycopg[binary]>=3.1",
                 # fuzzes a running server from its /openapi.json (tests/fuzz)
                 "schemathesis>=4.0,<5",
                 # the `openstack` command the CLI tests drive (tests/openstack_cli.py)
                 "python-openstackclient>=7.0",
                 # a real Keystone (SQLite, fernet) that the keystone tests start once per
                 # session on loopback (simulations/keystone.py)
                 "keystone>=26.0",
                 # drives Debian's chromium (chromium-driver) in the dashboard tests
                 "selenium>=4.10"],
    },
    entry_points={
        "console_scripts": [
            "qnet=controller.cli:main",
            "qnet-manage=controller.manage:main",
            "qnet-lab=simulations.lab.cli:main",      # the lab, not the service
        ],
        # Back-ends are found by name: `qnet serve --plugin NAME`.
        "qnet.plugins": [
            "noop=controller.plugins.noop:NoopPlugin",
            "openflow=apps.openflow:OpenFlowPlugin",
            "fabric=apps.fabric:FabricPlugin",
        ],
    },
)
