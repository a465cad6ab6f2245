"""The dashboard in a real headless Chromium, against the real API on a real core with the
overlay controller and in-process hypervisors (simulations/fakecloud.py): a user logs in with
a token, creates a network, a subnet and a port from the page and sees them drawn; the port
turns ACTIVE on the page when a VM plugs in; another project sees none of it; an admin sees
the hypervisors."""
import threading

import pytest

from controller.context import Context
from rest.app import build_app
from rest.auth import create_token
from simulations.fakecloud import FakeCloud
from simulations.lab.seed import NETWORKS, SERVERS
from tests.browser import ARTIFACTS, Page, http_server


class Site:
    def __init__(self):
        self.cloud = FakeCloud.on_core(hypervisors=2)
        self.core = self.cloud.plugin.core
        self.lock = threading.RLock()
        self.app = build_app(self.core, auth="token")
        self.tokens = {"alice": create_token(self.core.db, "alice"),
                       "bob": create_token(self.core.db, "bob"),
                       "ops": create_token(self.core.db, "ops", is_admin=True)}

    def settle(self):
        with self.lock:
            self.cloud.settle()


@pytest.fixture
def site():
    s = Site()
    with http_server(s.app, s.lock) as url:
        s.url = url
        yield s


def test_create_from_the_page_see_it_drawn_and_go_active(site, browser):
    page = Page(browser, site.url)
    page.login(token=site.tokens["alice"])
    page.create("networks", name="web-net")
    page.wait(lambda: any("web-net" in r for r in page.rows("networks")), "web-net listed")
    page.create("subnets", network_id="web-net", cidr="10.0.2.0/24")
    page.wait(lambda: any("10.0.2.0/24" in r for r in page.rows("subnets")), "the subnet")
    page.create("ports", network_id="web-net", name="web-eth0", device_id="web",
                attachment="vm-web")
    page.wait(lambda: any("web-eth0" in r for r in page.rows("ports")), "the port")
    assert page.error() == ""
    (port,) = site.core.ports.list(Context("alice"))[0]
    assert port["name"] == "web-eth0" and port["attachment"] == "vm-web"

    page.tab("topology")
    dot = f"circle.port-dot[data-port-id='{port['id']}']"
    page.wait(lambda: page.by("g.network[data-name='web-net']"), "web-net drawn")
    page.wait(lambda: page.by(dot), "the port drawn")
    assert page.attribute(dot, "data-status") == "DOWN"
    assert page.by("g.device[data-name='web']"), "the port is grouped under its server"
    assert "10.0.2.0/24" in page.by("g.network[data-name='web-net'] text.cidrs")[0].text

    with site.lock:
        site.cloud.plug("hv1", "tap-web", "vm-web", "alice")
    site.settle()
    page.wait(lambda: page.attribute(dot, "data-status") == "ACTIVE", "the port ACTIVE")
    assert page.attribute(f"line.link[data-port-id='{port['id']}']", "stroke") == "#2a2"

    # what the API refuses, the page cannot do: a shared network is an admin's
    page.tab("networks")
    page.driver.execute_script(
        "document.querySelector('#networks form.create').insertAdjacentHTML('beforeend',"
        " '<input name=\"shared\" value=\"true\">')")
    page.create("networks", name="everyones")
    page.wait(lambda: "not allowed" in page.error(), "the API's refusal")
    assert [n["name"] for n in site.core.networks.list(Context("alice"))[0]] == ["web-net"]

    # delete from the list
    page.tab("ports")
    page.by(f"#ports tr[data-id='{port['id']}'] button.delete")[0].click()
    page.wait(lambda: not page.rows("ports"), "the port gone")
    assert site.core.ports.list(Context("alice"))[0] == []


def test_another_project_sees_nothing_and_an_admin_sees_hypervisors(site, browser):
    alice = Context("alice")
    net = site.core.networks.create(alice, {"name": "alice-net"})
    site.core.ports.create(alice, {"network_id": net["id"], "name": "alice-port"})
    site.settle()        # the hypervisors report to the controller
    page = Page(browser, site.url)
    page.login(token=site.tokens["bob"])
    page.tab("topology")
    page.wait(lambda: page.by("#updated")[0].text, "a first drawing")
    assert page.by("g.network") == [] and page.by("g.device") == []
    for tab in ("networks", "ports"):
        page.tab(tab)
        assert page.rows(tab) == []
    assert not page.by("#tabs a[data-tab=admin]")[0].is_displayed()
    assert "alice" not in page.driver.page_source

    page.login(token=site.tokens["ops"])
    page.tab("admin")
    page.wait(lambda: page.by("table[data-admin=switches] tr"), "the hypervisors")
    text = page.by("table[data-admin=switches]")[0].text
    assert "hv1" in text and "hv2" in text and "172.16.0.1" in text
    flows = page.driver.execute_script(
        "const t = document.querySelector('table[data-admin=switches]');"
        "const col = [...t.rows[0].cells].findIndex(c => c.textContent === 'flows');"
        "return [...t.rows].slice(1).map(r => Number(r.cells[col].textContent));")
    assert len(flows) == 2 and all(n > 0 for n in flows)     # flows per switch


def test_the_seed_topology_is_drawn(site, browser):
    """The seed's fw/web/db of one tenant, bound and ACTIVE; the screenshot is the README's."""
    alice = Context("alice")
    nets = {}
    for name, cidr in NETWORKS.items():
        nets[name] = site.core.networks.create(alice, {"name": name})
        site.core.subnets.create(alice, {"network_id": nets[name]["id"], "cidr": cidr})
    for i, (server, nics) in enumerate(SERVERS.items()):
        for n, net in enumerate(nics):
            site.core.ports.create(alice, {"network_id": nets[net]["id"], "device_id": server,
                                           "name": f"{server}-eth{n}",
                                           "attachment": f"{server}-eth{n}"})
            site.cloud.plug(f"hv{i % 2 + 1}", f"t{server}{n}", f"{server}-eth{n}", "alice")
    site.settle()
    page = Page(browser, site.url)
    page.login(token=site.tokens["alice"])
    page.wait(lambda: len(page.by("circle.port-dot[data-status=ACTIVE]")) == 5,
              "five ACTIVE ports")
    assert sorted(g.get_attribute("data-name") for g in page.by("g.device")) == \
        ["db", "fw", "web"]
    assert sorted(g.get_attribute("data-name") for g in page.by("g.network")) == \
        sorted(NETWORKS)
    import os
    os.makedirs(ARTIFACTS, exist_ok=True)
    page.by("#picture")[0].screenshot(os.path.join(ARTIFACTS, "dashboard-topology.png"))
