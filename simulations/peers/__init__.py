"""The peers qnet's benchmarks compare against, started on this machine from this repository:
OVN on qnet's own lab (``ovn.py``) and the OpenStack Neutron API (``neutron.sh``). Installed
by ``make peers``; never needed by ``make test``."""
