"""The logical model of qnet: networks, subnets and ports, IPAM, tenancy and the plug-in contract.

Nothing in this package knows about HTTP or OpenFlow: the REST layer (rest/) calls it, and the
selected plug-in (controller.plugins, apps/) is told about every change it commits.
"""
