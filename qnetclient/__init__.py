"""Python client of qnet's REST API (v2.0 shape) and the ``qnet`` command line on top of it.

    from qnetclient import Client
    qnet = Client("http://127.0.0.1:9696", token="qnet-...")
    net = qnet.networks.create(name="web-net")
    qnet.subnets.create(network_id=net["id"], cidr="10.0.2.0/24")
    port = qnet.ports.create(network_id=qnet.networks.find("web-net")["id"], name="web-eth0")
    qnet.ports.attach(port["id"], "nova.example.com/demo/server/web/eth0")
"""
from qnetclient.client import Client
from qnetclient.errors import (Ambiguous, BadRequest, ClientError, Conflict, ConnectionFailed,
                               Forbidden, NotFound, Unauthorized)
from qnetclient.settings import Settings

__all__ = ["Client", "Settings", "ClientError", "BadRequest", "Unauthorized", "Forbidden",
           "NotFound", "Conflict", "Ambiguous", "ConnectionFailed"]
