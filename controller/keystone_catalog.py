"""``qnet-manage keystone register``: qnet in Keystone's catalog as the ``network`` service.

Clients (openstacksdk, the ``openstack`` command, Nova) find the network API by looking up the
``network`` service in the catalog of their token, so qnet registers the same way Neutron does:
one service of type ``network`` and an endpoint per interface. Running it again changes an
endpoint whose URL differs and adds what is missing, so it can follow a move of the API.
"""
SERVICE_TYPE = "network"
INTERFACES = ("public", "internal", "admin")


def identity_url(auth_url):
    """Keystone's v3 API root from an auth URL given with or without /v3."""
    url = auth_url.rstrip("/")
    return url if url.endswith("/v3") else url + "/v3"


def register(session, auth_url, url, region="RegionOne", name="qnet",
             interfaces=INTERFACES):
    """Make the ``network`` service's endpoints in ``region`` point at ``url``; returns the
    lines that say what was done. ``session`` is a keystoneauth1 session of an admin."""
    api = identity_url(auth_url)
    done = []
    services = session.get(f"{api}/services", params={"type": SERVICE_TYPE}).json()["services"]
    if services:
        service = services[0]
        done.append(f"service {service['name']} ({SERVICE_TYPE}) exists: {service['id']}")
    else:
        service = session.post(f"{api}/services", json={"service": {
            "type": SERVICE_TYPE, "name": name, "enabled": True,
            "description": "qnet network connectivity (Neutron v2.0 API)"}}).json()["service"]
        done.append(f"service {name} ({SERVICE_TYPE}) created: {service['id']}")
    if session.get(f"{api}/regions/{region}", raise_exc=False).status_code == 404:
        session.post(f"{api}/regions", json={"region": {"id": region}})
        done.append(f"region {region} created")
    endpoints = session.get(f"{api}/endpoints", params={"service_id": service["id"]}).json()[
        "endpoints"]
    for interface in interfaces:
        found = [e for e in endpoints
                 if e["interface"] == interface and e.get("region_id") == region]
        if found and found[0]["url"] == url:
            done.append(f"{interface} endpoint {url} exists")
        elif found:
            session.patch(f"{api}/endpoints/{found[0]['id']}", json={"endpoint": {"url": url}})
            done.append(f"{interface} endpoint {found[0]['url']} -> {url}")
        else:
            session.post(f"{api}/endpoints", json={"endpoint": {
                "service_id": service["id"], "interface": interface, "url": url,
                "region_id": region, "enabled": True}})
            done.append(f"{interface} endpoint {url} created")
    return done
