// qnet dashboard: every request is a REST API call with the user's own credentials, so the
// API's policy is the page's: nothing the API refuses is possible here, nothing it hides is
// shown. No framework: the DOM is built with createElement/textContent (never innerHTML with
// data), and the picture is SVG.
"use strict";

const POLL_MS = 2000;
const SVG = "http://www.w3.org/2000/svg";
const state = {creds: null, data: {}, optional: {}, admin: false, timer: null, drawn: ""};

// -- talking to the API --------------------------------------------------------------------
function headers() {
  const c = state.creds;
  if (c.token) return {"X-Auth-Token": c.token};
  const h = {"X-Project-Id": c.project};
  if (c.admin) h["X-Roles"] = "admin";
  return h;
}

async function api(method, path, body) {
  const init = {method, headers: headers()};
  if (body !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  const resp = await fetch(path, init);
  const data = resp.status === 204 ? null : await resp.json().catch(() => null);
  if (!resp.ok) {
    const err = new Error((data && data.NeutronError && data.NeutronError.message) ||
                          `${method} ${path}: HTTP ${resp.status}`);
    err.status = resp.status;
    throw err;
  }
  return data;
}

function showError(err) {
  const box = document.getElementById("error");
  box.textContent = err ? String(err.message || err) : "";
  box.hidden = !err;
}

// -- collections ---------------------------------------------------------------------------
const COLLECTIONS = {networks: "networks", subnets: "subnets", ports: "ports",
                     "qos/policies": "policies"};
const OPTIONAL = {routers: "routers", floatingips: "floatingips"};

async function load() {
  const data = {};
  await Promise.all(Object.entries(COLLECTIONS).map(async ([path, key]) => {
    data[path] = (await api("GET", `/v2.0/${path}`))[key];
  }));
  await Promise.all(Object.entries(OPTIONAL).map(async ([path, key]) => {
    if (state.optional[path] === false) return;
    try {
      data[path] = (await api("GET", `/v2.0/${path}`))[key];
      state.optional[path] = true;
    } catch (err) {
      if (err.status !== 404) throw err;
      state.optional[path] = false;       // the server has no such resource
    }
  }));
  return data;
}

function byId(list) {
  return Object.fromEntries((list || []).map((item) => [item.id, item]));
}

function cellText(item, column, data) {
  const nets = byId(data.networks);
  const subs = byId(data.subnets);
  if (column === "network") {
    const net = nets[item.network_id];
    return net ? (net.name || net.id) : item.network_id;
  }
  if (column === "subnets") {
    return (item.subnets || []).map((id) => (subs[id] ? subs[id].cidr : id)).join(", ");
  }
  if (column === "fixed_ips") {
    return (item.fixed_ips || []).map((ip) => ip.ip_address).join(", ");
  }
  const value = item[column];
  if (value === null || value === undefined) return "";
  return typeof value === "object" ? JSON.stringify(value) : String(value);
}

function renderList(table, items, data) {
  const columns = table.dataset.columns.split(" ");
  const collection = table.dataset.list;
  table.replaceChildren();
  const head = table.insertRow();
  for (const c of [...columns, ""]) {
    const th = document.createElement("th");
    th.textContent = c;
    head.appendChild(th);
  }
  for (const item of items || []) {
    const row = table.insertRow();
    row.dataset.id = item.id;
    for (const c of columns) row.insertCell().textContent = cellText(item, c, data);
    const del = document.createElement("button");
    del.type = "button";
    del.textContent = "Delete";
    del.className = "delete";
    del.addEventListener("click", () => remove(collection, item));
    row.insertCell().appendChild(del);
  }
}

function fillOptions(select, items) {
  const chosen = select.value;
  select.replaceChildren();
  for (const item of items || []) {
    const opt = document.createElement("option");
    opt.value = item.id;
    const ips = (item.fixed_ips || []).map((ip) => ip.ip_address).join(" ");
    opt.textContent = `${item.name || item.id}${ips ? " (" + ips + ")" : ""}`;
    select.appendChild(opt);
  }
  if ([...select.options].some((o) => o.value === chosen)) select.value = chosen;
}

async function remove(collection, item) {
  try {
    await api("DELETE", `/v2.0/${collection}/${item.id}`);
    showError(null);
    await refresh();
  } catch (err) {
    showError(err);
  }
}

async function create(form) {
  const attrs = {};
  for (const [name, value] of new FormData(form).entries()) {
    if (value !== "") attrs[name] = value;
  }
  if (form.dataset.resource === "subnet") attrs.ip_version = attrs.cidr.includes(":") ? 6 : 4;
  try {
    await api("POST", `/v2.0/${form.dataset.collection}`, {[form.dataset.resource]: attrs});
    showError(null);
    form.reset();
    await refresh();
  } catch (err) {
    showError(err);
  }
}

// -- the topology picture --------------------------------------------------------------------
function svg(tag, attrs, text) {
  const el = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs || {})) el.setAttribute(k, v);
  if (text !== undefined) el.textContent = text;
  return el;
}

// Ports grouped by what uses them: a server (device_id, or the server named in a Nova-style
// attachment .../server/<name>/ethN), a router, or the port alone.
function deviceOf(port, routers) {
  if (port.device_id && routers[port.device_id]) {
    return {key: "router:" + port.device_id, label: "router " +
            (routers[port.device_id].name || port.device_id), router: true};
  }
  if (port.device_id) return {key: "dev:" + port.device_id, label: port.device_id};
  const m = /\/server\/([^/]+)\/[^/]+$/.exec(port.attachment || "");
  if (m) return {key: "dev:" + m[1], label: m[1]};
  return {key: "port:" + port.id, label: port.name || port.id.slice(0, 8)};
}

function drawTopology(data) {
  const picture = document.getElementById("picture");
  const nets = data.networks || [];
  const subs = data.subnets || [];
  const routers = byId(data.routers);
  const fips = {};
  for (const f of data.floatingips || []) if (f.port_id) fips[f.port_id] = f.floating_ip_address;
  const devices = new Map();
  for (const port of data.ports || []) {
    const dev = deviceOf(port, routers);
    if (!devices.has(dev.key)) devices.set(dev.key, {...dev, ports: []});
    devices.get(dev.key).ports.push(port);
  }
  for (const r of data.routers || []) {
    const key = "router:" + r.id;
    if (!devices.has(key)) devices.set(key, {key, label: "router " + (r.name || r.id),
                                             router: true, ports: []});
  }
  const x0 = 220, dx = 190, top = 60, dy = 64;
  const netX = Object.fromEntries(nets.map((n, i) => [n.id, x0 + i * dx]));
  const height = top + Math.max(1, devices.size) * dy + 20;
  picture.setAttribute("width", Math.max(600, x0 + nets.length * dx));
  picture.setAttribute("height", height);
  picture.replaceChildren();
  nets.forEach((net) => {
    const x = netX[net.id];
    const g = svg("g", {"class": "network", "data-network-id": net.id,
                        "data-name": net.name || ""});
    g.appendChild(svg("rect", {x: x - 4, y: top - 14, width: 8, height: height - top,
                               fill: "#6a8fd0", rx: 3}));
    g.appendChild(svg("text", {x: x - 40, y: 14, "font-weight": "bold"}, net.name || net.id));
    const cidrs = subs.filter((s) => s.network_id === net.id).map((s) => s.cidr).join(" ");
    g.appendChild(svg("text", {x: x - 40, y: 30, "class": "cidrs"}, cidrs));
    picture.appendChild(g);
  });
  [...devices.values()].forEach((dev, i) => {
    const y = top + i * dy + 20;
    const g = svg("g", {"class": dev.router ? "device router" : "device",
                        "data-name": dev.label});
    g.appendChild(svg("rect", {x: 10, y: y - 18, width: 150, height: 36, rx: 5}));
    g.appendChild(svg("text", {x: 18, y: y - 2, "font-weight": "bold"}, dev.label));
    g.appendChild(svg("text", {x: 18, y: y + 13},
                      dev.ports.map((p) => p.name || p.id.slice(0, 8)).join(", ")));
    let from = 160;
    const ports = dev.ports.filter((p) => netX[p.network_id] !== undefined)
      .sort((a, b) => netX[a.network_id] - netX[b.network_id]);
    for (const port of ports) {
      const x = netX[port.network_id];
      const colour = {ACTIVE: "#2a2", DOWN: "#c33"}[port.status] || "#e90";
      g.appendChild(svg("line", {x1: from, y1: y, x2: x, y2: y, stroke: colour,
                                 "stroke-width": 3, "class": "link",
                                 "data-port-id": port.id, "data-status": port.status}));
      g.appendChild(svg("circle", {cx: x, cy: y, r: 7, fill: colour, "class": "port-dot",
                                   "data-port-id": port.id, "data-status": port.status},
                        ""));
      const ips = (port.fixed_ips || []).map((ip) => ip.ip_address).join(" ");
      const label = ips + (fips[port.id] ? " \u21c4 " + fips[port.id] : "");
      g.appendChild(svg("text", {x: x + 10, y: y - 8, "class": "port-label"}, label));
      from = x;
    }
    picture.appendChild(g);
  });
}

// -- admin -------------------------------------------------------------------------------------
function table(rows) {
  const t = document.createElement("table");
  t.className = "list";
  const columns = [...new Set(rows.flatMap((r) => Object.keys(r)))];
  const head = t.insertRow();
  for (const c of columns) {
    const th = document.createElement("th");
    th.textContent = c;
    head.appendChild(th);
  }
  for (const r of rows) {
    const row = t.insertRow();
    for (const c of columns) {
      const v = r[c];
      row.insertCell().textContent = v === null || v === undefined ? "" :
        Array.isArray(v) && v.every((x) => typeof x !== "object") ? v.join(", ") :
          typeof v === "object" ? JSON.stringify(v) : String(v);
    }
  }
  return t;
}

async function loadAdmin() {
  const body = document.getElementById("admin-body");
  let topo;
  try {
    topo = (await api("GET", "/v2.0/qnet/topology")).topology;
  } catch (err) {
    body.replaceChildren(document.createTextNode(err.message));
    return;
  }
  const parts = [];
  const titles = {switches: "Hypervisors and switches", tunnels: "Tunnels",
                  links: "Fabric links", ports: "Bound ports", networks: "Networks' paths"};
  for (const [key, value] of Object.entries(topo)) {
    if (!Array.isArray(value)) {
      const p = document.createElement("p");
      p.textContent = `${key}: ${value}`;
      parts.push(p);
      continue;
    }
    const h = document.createElement("h3");
    h.textContent = `${titles[key] || key} (${value.length})`;
    parts.push(h);
    const rows = key === "switches" ? value.map(({ports, ...rest}) =>
      ({...rest, interfaces: (ports || []).length})) : value;
    if (rows.length) {
      const t = table(rows);
      t.dataset.admin = key;
      parts.push(t);
    }
  }
  body.replaceChildren(...parts);
}

// -- trace ------------------------------------------------------------------------------------
async function trace(form) {
  const params = new URLSearchParams();
  for (const [name, value] of new FormData(form).entries()) if (value !== "") params.set(name, value);
  const out = document.getElementById("trace-result");
  try {
    const result = (await api("GET", "/v2.0/qnet/trace?" + params)).trace;
    showError(null);
    const parts = [];
    for (const phase of result.phases) {
      const h = document.createElement("h3");
      h.textContent = phase.packet;
      parts.push(h, table(phase.steps.map((s) => ({
        hypervisor: s.hypervisor, table: s.table, stage: s.stage, flow: s.flow,
        why: s.reason, ...(s.held === false ? {live: "NOT ON THE SWITCH"} : {})}))));
    }
    for (const line of result.summary) {
      const p = document.createElement("p");
      p.className = "verdict verdict-" + line.split(" ")[0];
      p.textContent = line;
      parts.push(p);
    }
    for (const d of result.drift || []) {
      const p = document.createElement("p");
      p.textContent = d.connected ? `live ${d.hypervisor}: ${d.missing.length} flow(s) ` +
        `missing, ${d.extra} extra` : `live ${d.hypervisor}: not connected`;
      parts.push(p);
      if (d.missing.length) parts.push(table(d.missing));
    }
    out.replaceChildren(...parts);
  } catch (err) {
    showError(err);
  }
}

// -- the page ------------------------------------------------------------------------------------
async function refresh() {
  const data = await load();
  state.data = data;
  for (const tableEl of document.querySelectorAll("table[data-list]")) {
    const items = data[tableEl.dataset.list];
    if (items !== undefined) renderList(tableEl, items, data);
  }
  for (const select of document.querySelectorAll("select[data-options]")) {
    fillOptions(select, data[select.dataset.options]);
  }
  for (const el of document.querySelectorAll("[data-needs=routers]")) {
    el.hidden = !state.optional.routers;
  }
  const drawn = JSON.stringify([data.networks, data.subnets, data.ports, data.routers,
                                data.floatingips]);
  if (drawn !== state.drawn) {
    state.drawn = drawn;
    drawTopology(data);
  }
  document.getElementById("updated").textContent =
    "updated " + new Date().toLocaleTimeString();
}

function showTab() {
  const name = (location.hash || "#topology").slice(1);
  for (const el of document.querySelectorAll(".tab")) {
    el.classList.toggle("current", el.id === name);
  }
  for (const a of document.querySelectorAll("#tabs a")) {
    a.classList.toggle("current", a.dataset.tab === name);
  }
  if (name === "admin" && state.admin) loadAdmin();
}

async function poll() {
  try {
    await refresh();
  } catch (err) {
    showError(err);
    if (err.status === 401) return logout();
  }
  state.timer = setTimeout(poll, POLL_MS);
}

async function start(creds) {
  state.creds = creds;
  state.optional = {};
  state.drawn = "";
  try {
    await refresh();
  } catch (err) {
    state.creds = null;
    showError(err);
    return;
  }
  showError(null);
  sessionStorage.setItem("qnet-creds", JSON.stringify(creds));
  try {       // admins may read the back-end's topology; others get 403
    await api("GET", "/v2.0/qnet/topology");
    state.admin = true;
  } catch (err) {
    state.admin = err.status === 404;       // an admin, on a back-end without switches
  }
  for (const el of document.querySelectorAll("[data-needs=admin]")) el.hidden = !state.admin;
  document.getElementById("login").hidden = true;
  document.getElementById("app").hidden = false;
  document.getElementById("tabs").hidden = false;
  document.getElementById("logout").hidden = false;
  document.getElementById("who").textContent = creds.token ? "token" :
    `project ${creds.project}${creds.admin ? " (admin)" : ""}`;
  showTab();
  state.timer = setTimeout(poll, POLL_MS);
}

function logout() {
  clearTimeout(state.timer);
  sessionStorage.removeItem("qnet-creds");
  location.hash = "";
  location.reload();
}

document.addEventListener("DOMContentLoaded", () => {
  const mode = document.body.dataset.auth;
  for (const el of document.querySelectorAll("[data-auth-mode]")) {
    el.hidden = !el.dataset.authMode.split(" ").includes(mode);
  }
  document.getElementById("login-form").addEventListener("submit", (ev) => {
    ev.preventDefault();
    const f = ev.target;
    start(mode === "noauth" ? {project: f.project.value, admin: f.admin.checked}
                            : {token: f.token.value.trim()});
  });
  for (const form of document.querySelectorAll("form.create")) {
    form.addEventListener("submit", (ev) => { ev.preventDefault(); create(form); });
  }
  document.getElementById("trace-form").addEventListener("submit", (ev) => {
    ev.preventDefault();
    trace(ev.target);
  });
  document.getElementById("logout").addEventListener("click", logout);
  window.addEventListener("hashchange", showTab);
  const saved = sessionStorage.getItem("qnet-creds");
  if (saved) start(JSON.parse(saved));
});
