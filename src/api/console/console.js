// certsentry's console: plain JS over the /v1 API, served by the binary.
// Every value shown comes from certificates (attacker-controlled), so the
// page is built with DOM nodes and text, never HTML strings.
"use strict";

const SEVERITIES = ["low", "medium", "high", "critical"];
const KINDS = ["exact_variant", "homograph", "subdomain", "typo", "combosquat", "suffix_swap", "rule"];
const TRIAGE = ["new", "investigating", "confirmed_malicious", "false_positive", "brand_owned",
  "takedown_requested", "closed"];
const PAGE = 50;

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k === "on") for (const [ev, fn] of Object.entries(v)) node.addEventListener(ev, fn);
    else if (k === "class") node.className = v;
    else if (v !== undefined && v !== null && v !== false) node.setAttribute(k, v === true ? "" : v);
  }
  for (const c of children.flat(Infinity)) {
    if (c === null || c === undefined) continue;
    node.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return node;
}

function select(id, options, value, blank) {
  return el("select", { id },
    blank === undefined ? null : el("option", { value: "" }, blank),
    options.map((o) => el("option", { value: o, selected: o === value }, o)));
}

class ApiError extends Error {}

// the signed-in caller ({name, role, csrf_token}) once known; the session
// itself is an HttpOnly cookie the script never sees
const session = { who: null };

async function api(path, options = {}) {
  const headers = { Accept: "application/json", ...(options.headers || {}) };
  const method = (options.method || "GET").toUpperCase();
  if (method !== "GET" && session.who && session.who.csrf_token) {
    headers["X-CSRF-Token"] = session.who.csrf_token;
  }
  if (options.json !== undefined) {
    headers["Content-Type"] = "application/json";
    options.body = JSON.stringify(options.json);
  }
  const resp = await fetch(path, { ...options, headers, credentials: "same-origin" });
  if (resp.status === 401 && path !== "/v1/session") {
    session.who = null;
    signedIn();
    throw new ApiError("certsentry needs you to sign in with an API token: enter it above");
  }
  if (resp.status === 204) return {};
  const body = await resp.json().catch(() => ({}));
  if (!resp.ok) throw new ApiError(`${body.error || resp.status}${body.detail ? ": " + body.detail : ""}`);
  return body;
}

function when(t) {
  if (t === null || t === undefined || t === "") return "";
  const d = typeof t === "number" ? new Date(t * 1000) : new Date(t);
  return isNaN(d) ? String(t) : d.toISOString().replace("T", " ").replace(/\.\d+Z$/, "Z");
}

function severity(s) {
  return el("span", { class: `sev-${s}` }, s);
}

function show(...nodes) {
  const view = document.getElementById("view");
  view.replaceChildren(...nodes);
}

function failure(e) {
  return el("p", { class: "error" }, e.message || String(e));
}

// ------------------------------------------------------------------ queue

// the brands of a list, or of every tenant's in a bundle ({"tenants": {...}})
function listBrands(list) {
  if (!list.tenants) return Object.keys(list);
  return [...new Set(Object.values(list.tenants).flatMap((l) => Object.keys(l)))].sort();
}

let queue = { filters: {}, before: [], top: null, timer: null, stream: null, tenants: [] };

function queueQuery(extra) {
  const p = new URLSearchParams();
  for (const [k, v] of Object.entries({ ...queue.filters, ...extra })) if (v) p.set(k, v);
  return p.toString();
}

function incidentRow(i, fresh) {
  const box = el("input", { type: "checkbox", "data-id": i.id, "aria-label": `select ${i.domain_unicode || i.domain}` });
  const shown = i.domain_unicode !== i.domain ? `${i.domain_unicode} (${i.domain})` : i.domain;
  return el("tr", { class: fresh ? "fresh" : "" },
    el("td", {}, box),
    el("td", {}, el("a", { href: `#/incident/${i.id}` }, shown)),
    el("td", {}, queue.tenants.length ? `${i.brand} · ${i.tenant || "default"}` : i.brand),
    el("td", {}, i.match ? i.match.kind : ""),
    el("td", {}, String(i.score)),
    el("td", {}, severity(i.severity)),
    el("td", {}, i.triage ? i.triage.state : "new"),
    el("td", {}, when(i.first_seen)),
    el("td", {}, String(i.sightings)));
}

function stopLive() {
  clearInterval(queue.timer);
  if (queue.stream) queue.stream.abort();
  queue.stream = null;
}

async function viewQueue() {
  stopLive();
  const f = queue.filters;
  let brands = [];
  try {
    const list = await api("/v1/lists/current");
    brands = listBrands(list);
    queue.tenants = list.tenants ? Object.keys(list.tenants) : [];
  } catch (_) { /* no list yet */ }
  const form = el("form", { class: "filters", on: { submit: (e) => {
    e.preventDefault();
    for (const k of ["tenant", "brand", "severity", "kind", "triage", "q", "since"]) {
      const input = document.getElementById(`f-${k}`);
      if (!input) continue;
      const v = input.value.trim();
      queue.filters[k] = k === "since" && v ? new Date(v).toISOString() : v;
    }
    queue.before = [];
    viewQueue();
  } } },
    queue.tenants.length ? el("label", {}, "Tenant ", select("f-tenant", queue.tenants, f.tenant, "any")) : null,
    el("label", {}, "Brand ", select("f-brand", brands, f.brand, "any")),
    el("label", {}, "Severity ", select("f-severity", SEVERITIES, f.severity, "any")),
    el("label", {}, "Kind ", select("f-kind", KINDS, f.kind, "any")),
    el("label", {}, "Triage ", select("f-triage", TRIAGE, f.triage, "any")),
    el("label", {}, "Since ", el("input", { id: "f-since", type: "datetime-local" })),
    el("label", {}, "Text ", el("input", { id: "f-q", value: f.q || "", placeholder: "domain or brand" })),
    el("button", { type: "submit" }, "Filter"));
  const tbody = el("tbody");
  const table = el("table", {},
    el("thead", {}, el("tr", {}, ["", "Lookalike", "Brand", "Kind", "Score", "Severity", "Triage", "First seen",
      "Sightings"].map((h) => el("th", {}, h)))), tbody);
  const bulk = el("div", { class: "filters" },
    el("label", {}, "Selected: set triage ", select("bulk-state", TRIAGE, "investigating")),
    el("button", { on: { click: bulkTriage } }, "Apply"));
  const pager = el("div", { class: "filters" });
  show(form, bulk, table, pager);
  try {
    const before = queue.before[queue.before.length - 1];
    const page = await api(`/v1/incidents?${queueQuery({ order: "desc", limit: PAGE, before })}`);
    for (const i of page.incidents) tbody.append(incidentRow(i, false));
    if (!page.incidents.length) tbody.append(el("tr", {}, el("td", { colspan: 9, class: "muted" }, "No incidents.")));
    if (!before) queue.top = page.incidents.length ? page.incidents[0].id : null;
    if (queue.before.length) pager.append(el("button", { on: { click: () => { queue.before = []; viewQueue(); } } }, "Newest"));
    if (page.next) pager.append(el("button", { on: { click: () => { queue.before.push(page.next); viewQueue(); } } }, "Older"));
    if (!before) follow(tbody);
  } catch (e) {
    show(form, failure(e));
  }
}

// whether an incident pushed by the server passes the queue's filters
function passes(i) {
  const f = queue.filters;
  if (f.tenant && (i.tenant || "default") !== f.tenant) return false;
  if (f.brand && i.brand !== f.brand) return false;
  if (f.severity && i.severity !== f.severity) return false;
  if (f.kind && (!i.match || i.match.kind !== f.kind)) return false;
  if (f.triage && (i.triage ? i.triage.state : "new") !== f.triage) return false;
  if (f.since && new Date(i.first_seen) < new Date(f.since)) return false;
  const text = `${i.domain} ${i.domain_unicode} ${i.brand}`.toLowerCase();
  return !f.q || text.includes(f.q.toLowerCase());
}

// new incidents appear at the top without a reload: server-sent events
// from /v1/events (read with fetch, with the session cookie); polling if
// the stream cannot be had
async function follow(tbody) {
  const ctrl = new AbortController();
  queue.stream = ctrl;
  const live = document.getElementById("live");
  const headers = { Accept: "text/event-stream" };
  try {
    const resp = await fetch("/v1/events", { headers, signal: ctrl.signal, credentials: "same-origin" });
    if (!resp.ok || !resp.body) throw new Error(`events: HTTP ${resp.status}`);
    live.textContent = "live";
    const reader = resp.body.pipeThrough(new TextDecoderStream()).getReader();
    let buffer = "";
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buffer += value;
      let end;
      while ((end = buffer.indexOf("\n\n")) >= 0) {
        const block = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        let kind = "message";
        let data = "";
        for (const line of block.split("\n")) {
          if (line.startsWith("event:")) kind = line.slice(6).trim();
          else if (line.startsWith("data:")) data += line.slice(5).trimStart();
        }
        if (kind === "incident") {
          const i = JSON.parse(data);
          queue.top = i.id;
          if (passes(i)) tbody.prepend(incidentRow(i, true));
        } else if (kind === "lagged") {
          await pollNew(tbody);
        }
      }
    }
  } catch (e) {
    if (ctrl.signal.aborted) return;
    live.textContent = "polling";
  }
  if (queue.stream === ctrl) queue.timer = setInterval(() => pollNew(tbody), 5000);
}

async function pollNew(tbody) {
  if (location.hash && location.hash !== "#/") return;
  try {
    const p = queueQuery({ limit: 1000, after: queue.top || undefined });
    const page = await api(`/v1/incidents?${p}`);
    for (const i of page.incidents) {
      tbody.prepend(incidentRow(i, true));
      queue.top = i.id;
    }
    document.getElementById("live").textContent = `live · checked ${when(new Date().toISOString())}`;
  } catch (e) {
    document.getElementById("live").textContent = e.message;
  }
}

async function bulkTriage() {
  const state = document.getElementById("bulk-state").value;
  const ids = [...document.querySelectorAll("input[type=checkbox][data-id]:checked")].map((b) => b.dataset.id);
  for (const id of ids) {
    await api(`/v1/incidents/${id}`, { method: "PATCH", json: { state, actor: "console" } });
  }
  viewQueue();
}

// ------------------------------------------------------------------ incident

// the Unicode script of a character (the ones lookalikes borrow from)
const SCRIPTS = ["Latin", "Cyrillic", "Greek", "Armenian", "Georgian", "Cherokee", "Hebrew", "Arabic",
  "Devanagari", "Thai", "Han", "Hiragana", "Katakana", "Hangul", "Common", "Inherited"];
function scriptOf(ch) {
  return SCRIPTS.find((s) => new RegExp(`^\\p{Script=${s}}$`, "u").test(ch)) || "other script";
}

function chars(unicode, skeleton) {
  // each character; the ones outside ASCII are the lookalike's, highlighted with their code point
  return el("span", { class: "mono" }, [...unicode].map((c) => {
    const cp = c.codePointAt(0);
    return cp > 127
      ? el("span", { class: "diff", title: `U+${cp.toString(16).toUpperCase().padStart(4, "0")} ${scriptOf(c)}` }, c)
      : c;
  }), skeleton ? el("span", { class: "muted" }, `  skeleton: ${skeleton}`) : null);
}

function dl(pairs) {
  return el("dl", {}, pairs.filter(([, v]) => v !== undefined && v !== null && v !== "")
    .map(([k, v]) => [el("dt", {}, k), el("dd", {}, v)]));
}

// what each enricher found, the lines an analyst reads first, then the raw JSON
function enrichmentCard(e) {
  const card = el("div", { class: "card", id: "enrichment" }, el("h3", {}, "Enrichment"));
  if (!e || !Object.keys(e).length) {
    card.append(el("p", { class: "muted" }, "not enriched"));
    return card;
  }
  const list = (v) => (Array.isArray(v) ? v.join(", ") : v);
  const lines = {
    dns: (d) => [["Addresses", list([...(d.a || []), ...(d.aaaa || [])])], ["CNAME", list(d.cname)],
      ["NS", list(d.ns)], ["MX", list(d.mx)], ["SPF", list(d.spf)], ["DMARC", list(d.dmarc)],
      ["Exists", d.exists === false ? "no (NXDOMAIN)" : undefined]],
    rdap: (d) => (d.found === false ? [["Registry", "no record"]] : [["Registrar", d.registrar],
      ["Registered", d.created], ["Expires", d.expires], ["Status", list(d.status)], ["Abuse contact", d.abuse_email]])
      .concat((d.networks || []).map((n) => [`Network of ${n.ip}`, n.found === false ? "no record"
        : `${list(n.cidrs) || n.range || ""} ${n.name || ""} ${n.country || ""} ${n.holder || ""} ${n.abuse_email ? "abuse: " + n.abuse_email : ""}`])),
    asn: (d) => (d.networks || []).map((n) => [n.ip, n.asn ? `AS${n.asn} ${n.as_name || ""} (${n.country || "?"}) ${n.range || ""}` : "unknown"]),
    http: (d) => [["Verdicts", list(d.verdicts)], ["Status", d.status === undefined ? undefined : String(d.status)],
      ["Title", d.title], ["Final URL", d.final_url], ["Redirects", list(d.redirects)], ["Server", d.server],
      ["TLS valid", d.tls_valid === undefined || d.tls_valid === null ? undefined : String(d.tls_valid)],
      ["Distance to the brand's page", d.brand_distance === undefined || d.brand_distance === null ? undefined : String(d.brand_distance)],
      ["Not fetched", d.blocked_host ? `${d.blocked_host}: private address` : undefined]],
    screenshot: (d) => [["Verdicts", list(d.verdicts)], ["File", d.path],
      ["Distance to the brand's look", d.brand_distance === undefined || d.brand_distance === null ? undefined : `${d.brand_distance} of 256 bits`]],
  };
  const facts = [["Checks", e.version === undefined ? undefined : String(e.version)]];
  if (e.evidence && e.evidence.raised_by) facts.push(["Score raised by", list(e.evidence.raised_by)]);
  card.append(dl(facts));
  for (const [name, r] of Object.entries(e)) {
    if (!r || typeof r !== "object" || r.status === undefined) continue;
    const head = el("h4", {}, `${name}: ${r.status}`, r.at ? el("span", { class: "muted" }, ` at ${when(r.at)}`) : null);
    const rows = lines[name] && r.data ? lines[name](r.data) : [];
    card.append(head, dl([...rows, ["Note", r.error]]));
  }
  card.append(el("details", {}, el("summary", {}, "Raw enrichment"), el("pre", {}, JSON.stringify(e, null, 2))));
  return card;
}

async function viewIncident(id) {
  let i;
  try {
    i = await api(`/v1/incidents/${encodeURIComponent(id)}`);
  } catch (e) {
    return show(failure(e));
  }
  const c = i.certificate || {}, m = i.match || {}, ct = i.ct || {};
  const nonAscii = [...(i.domain_unicode || "")].filter((ch) => ch.codePointAt(0) > 127)
    .map((ch) => `${ch} U+${ch.codePointAt(0).toString(16).toUpperCase().padStart(4, "0")} ${scriptOf(ch)}`);
  const what = el("div", { class: "card" },
    el("h2", {}, chars(i.domain_unicode || i.domain, null)),
    dl([["Brand", i.brand], ["Tenant", i.tenant || "default"], ["Punycode", i.domain], ["Registrable domain", i.registrable_domain],
      ["Kind", m.kind], ["Score", String(i.score)], ["Severity", severity(i.severity)],
      ["Why", m.explanation], ["Variant", m.variant], ["Skeleton", m.skeleton],
      ["Characters outside ASCII", nonAscii.join(", ")],
      ["First seen", when(i.first_seen)], ["Last seen", when(i.last_seen)], ["Sightings", String(i.sightings)]]));
  const cert = el("div", { class: "card" }, el("h3", {}, "Certificate"),
    dl([["Subject", (c.subject || {}).aggregated], ["Issuer", (c.issuer || {}).aggregated],
      ["Names", (c.all_domains || []).join(", ")], ["Serial", c.serial_number], ["SHA-1", c.sha1],
      ["SHA-256", c.sha256], ["Valid from", when(c.not_before)], ["Valid until", when(c.not_after)],
      ["Entry", c.update_type], ["CT log", ct.log_name || ct.log_url], ["CT index", ct.cert_index],
      ["Link", ct.cert_link ? el("a", { href: ct.cert_link, rel: "noreferrer noopener", target: "_blank" }, ct.cert_link) : null]]));
  const enrichment = enrichmentCard(i.enrichment);
  const deliveries = el("div", { class: "card" }, el("h3", {}, "Deliveries"), el("p", { class: "muted" }, "…"));
  show(what, triageCard(i), cert, enrichment, deliveries);
  try {
    const page = await api("/v1/deliveries?limit=1000");
    const mine = page.deliveries.filter((d) => d.incident_id === i.id);
    deliveries.replaceChildren(el("h3", {}, "Deliveries"), mine.length
      ? el("table", {}, el("tr", {}, ["Sink", "State", "Attempts", "Last error", ""].map((h) => el("th", {}, h))),
        mine.map((d) => el("tr", {}, el("td", {}, d.sink), el("td", {}, d.state), el("td", {}, String(d.attempts)),
          el("td", {}, d.last_error || ""), el("td", {}, d.state === "failed"
            ? el("button", { on: { click: async () => { await api(`/v1/deliveries/${d.id}/retry`, { method: "POST" }); viewIncident(id); } } }, "Retry")
            : ""))))
      : el("p", { class: "muted" }, "Delivered to every sink (nothing pending or failed)."));
  } catch (e) {
    deliveries.append(failure(e));
  }
}

function triageCard(i) {
  const t = i.triage || {};
  const msg = el("p");
  const form = el("form", { class: "filters", on: { submit: async (e) => {
    e.preventDefault();
    const body = { state: document.getElementById("t-state").value, actor: document.getElementById("t-actor").value || "console" };
    const assignee = document.getElementById("t-assignee").value;
    if (assignee !== (t.assignee || "")) body.assignee = assignee;
    const comment = document.getElementById("t-comment").value;
    if (comment.trim()) body.comment = comment;
    const suppress = document.getElementById("t-suppress").value;
    if (suppress) body.suppress = suppress;
    try {
      await api(`/v1/incidents/${i.id}`, { method: "PATCH", json: body });
      viewIncident(i.id);
    } catch (err) {
      msg.replaceChildren(failure(err));
    }
  } } },
    el("label", {}, "State ", select("t-state", TRIAGE, t.state || "new")),
    el("label", {}, "Assignee ", el("input", { id: "t-assignee", value: t.assignee || "" })),
    el("label", {}, "Comment ", el("input", { id: "t-comment", size: 40 })),
    el("label", {}, "With false positive / brand-owned: ",
      el("select", { id: "t-suppress" }, el("option", { value: "" }, "keep alerting"),
        el("option", { value: "brand" }, `stop alerting for ${i.brand}`),
        el("option", { value: "domain" }, "allowlist the domain (every brand)"))),
    el("label", {}, "You ", el("input", { id: "t-actor", placeholder: "your name",
      value: session.who && session.who.name !== "anonymous" ? session.who.name : undefined })),
    el("button", { type: "submit" }, "Save"));
  const history = (i.triage_history || []).map((h) =>
    el("li", {}, `${when(h.at)} ${h.actor}: `, h.state ? `→ ${h.state} ` : "", h.assignee !== undefined && h.assignee !== null ? `assignee “${h.assignee}” ` : "", h.comment || ""));
  return el("div", { class: "card" }, el("h3", {}, "Triage"), form, msg,
    history.length ? el("ul", {}, history) : el("p", { class: "muted" }, "Not triaged yet."));
}

// ------------------------------------------------------------------ other views

async function viewSuppressions() {
  const removed = location.hash.includes("removed");
  const msg = el("p");
  const form = el("form", { class: "filters", on: { submit: async (e) => {
    e.preventDefault();
    const body = { domain: document.getElementById("s-domain").value, reason: document.getElementById("s-reason").value,
      actor: document.getElementById("s-actor").value || "console" };
    const brand = document.getElementById("s-brand").value;
    if (brand) body.brand = brand;
    try { await api("/v1/suppressions", { method: "POST", json: body }); viewSuppressions(); } catch (err) { msg.replaceChildren(failure(err)); }
  } } },
    el("label", {}, "Domain ", el("input", { id: "s-domain", required: true })),
    el("label", {}, "Brand ", el("input", { id: "s-brand", placeholder: "every brand" })),
    el("label", {}, "Why ", el("input", { id: "s-reason", required: true, size: 30 })),
    el("label", {}, "You ", el("input", { id: "s-actor" })),
    el("button", { type: "submit" }, "Suppress"));
  try {
    const list = (await api(removed ? "/v1/suppressions?removed=true" : "/v1/suppressions")).suppressions;
    show(el("h2", {}, "Suppressions"), form, msg,
      el("p", {}, el("a", { href: removed ? "#/suppressions" : "#/suppressions/removed" }, removed ? "Only those in force" : "With the removed ones (audit)")),
      el("table", {}, el("tr", {}, ["Domain", "Brand", "Why", "By", "When", "Incident", ""].map((h) => el("th", {}, h))),
        list.map((s) => el("tr", {}, el("td", {}, s.domain), el("td", {}, s.brand || "every brand"), el("td", {}, s.reason),
          el("td", {}, s.created_by), el("td", {}, when(s.created_at)),
          el("td", {}, s.incident_id ? el("a", { href: `#/incident/${s.incident_id}` }, "open") : ""),
          el("td", {}, s.removed_at ? `removed ${when(s.removed_at)} by ${s.removed_by}` : el("button", { on: { click: async () => {
            await api(`/v1/suppressions/${s.id}?actor=console`, { method: "DELETE" }); viewSuppressions();
          } } }, "Remove"))))));
  } catch (e) {
    show(form, failure(e));
  }
}

// the list is replaced whole (PUT /v1/lists/current, ?tenant=<id> for a
// tenant's): certsentry checks it and keeps its current list when it
// refuses the new one
async function saveList(list, msg, tenant) {
  try {
    if (tenant) await api(`/v1/lists/current?tenant=${encodeURIComponent(tenant)}`, { method: "PUT", json: list });
    else await api("/v1/lists/current", { method: "PUT", json: list });
    viewBrands();
  } catch (e) {
    msg.replaceChildren(failure(e));
  }
}

// lists: [[tenant or null, its list]]
function addBrandCard(lists) {
  const msg = el("div");
  const preview = el("div");
  const tenants = lists.map(([t]) => t).filter(Boolean);
  const form = el("form", { class: "filters", on: { submit: async (e) => {
    e.preventDefault();
    const domain = document.getElementById("b-domain").value.trim();
    const limit = Number(document.getElementById("b-limit").value) || 200;
    const tenant = tenants.length ? document.getElementById("b-tenant").value : null;
    const list = (lists.find(([t]) => t === tenant) || [null, {}])[1];
    msg.replaceChildren();
    try {
      const generated = await api("/v1/lists/generate?explain=true", { method: "POST", json: { domains: [domain], limit } });
      const [key, variants] = Object.entries(generated)[0];
      const byFuzzer = {};
      for (const v of variants) byFuzzer[v.fuzzer] = (byFuzzer[v.fuzzer] || 0) + 1;
      preview.replaceChildren(
        el("p", {}, `${variants.length} variants of ${key}: `,
          Object.entries(byFuzzer).map(([f, n]) => `${f} ${n}`).join(", ")),
        el("button", { on: { click: () => saveList({ ...list, [key]: variants.map((v) => v.variant) }, msg, tenant) } },
          tenant ? `Save ${key} with these variants for ${tenant}` : `Save ${key} with these variants`),
        el("table", {}, el("tr", {}, ["Variant", "Punycode", "Fuzzer"].map((h) => el("th", {}, h))),
          variants.map((v) => el("tr", {}, el("td", {}, v.variant), el("td", { class: "mono" }, v.punycode || ""),
            el("td", {}, v.fuzzer)))));
    } catch (err) {
      msg.replaceChildren(failure(err));
    }
  } } },
    tenants.length ? el("label", {}, "Tenant ", select("b-tenant", tenants, tenants[0])) : null,
    el("label", {}, "Protected domain ", el("input", { id: "b-domain", required: true, placeholder: "example.com" })),
    el("label", {}, "Variants ", el("input", { id: "b-limit", type: "number", min: 1, max: 100000, value: 200 })),
    el("button", { type: "submit" }, "Preview"));
  return el("div", { class: "card" }, el("h3", {}, "Add a brand"), form, msg, preview);
}

async function viewBrands() {
  try {
    const [list, status] = await Promise.all([api("/v1/lists/current"), api("/v1/status")]);
    const narrowed = {};
    for (const n of (status.list && status.list.narrowed) || []) narrowed[n.brand] = n;
    const msg = el("div");
    // with tenants, each tenant's own list (as its source gave it, where
    // this process reads the lists)
    const tenants = (status.list && status.list.tenants) || [];
    const lists = list.tenants
      ? await Promise.all(Object.keys(list.tenants).map(async (t) =>
        [t, await api(`/v1/lists/current?tenant=${encodeURIComponent(t)}`)]))
      : [[null, list]];
    const table = (tenant, own) => el("table", {},
      el("tr", {}, ["Brand", "Listed variants", "Distinctiveness", "Why", ""].map((h) => el("th", {}, h))),
      Object.entries(own).map(([b, v]) => el("tr", {}, el("td", {}, b), el("td", {}, String(v.length)),
        el("td", {}, narrowed[b] ? narrowed[b].distinctiveness : "distinctive"),
        el("td", {}, narrowed[b] ? narrowed[b].reason || "" : ""),
        el("td", {}, el("button", { on: { click: () => {
          if (!window.confirm(tenant ? `Stop protecting ${b} for ${tenant}?` : `Stop protecting ${b}?`)) return;
          const rest = { ...own };
          delete rest[b];
          saveList(rest, msg, tenant);
        } } }, "Remove")))));
    const about = (t) => (t ? el("p", { class: "muted" }, `${t.brands} brands, ${t.variants} variants, from ${t.source}`,
      t.last_error ? el("span", { class: "error" }, ` · last error: ${t.last_error}`) : null) : null);
    show(el("h2", {}, "Brands"),
      el("p", { class: "muted" }, `${status.list.brands} brands, ${status.list.variants} variants, from ${status.list.source}`,
        status.list.last_error ? el("span", { class: "error" }, ` · last error: ${status.list.last_error}`) : null),
      msg,
      ...lists.flatMap(([tenant, own]) => tenant
        ? [el("h3", {}, `Tenant ${tenant}`), about(tenants.find((t) => t.tenant === tenant)), table(tenant, own)]
        : table(null, own)),
      addBrandCard(lists));
  } catch (e) {
    show(failure(e));
  }
}

function viewTry() {
  const out = el("div");
  const names = el("textarea", { id: "names", rows: 5, cols: 60, placeholder: "one name per line" });
  show(el("h2", {}, "Try a name"), el("form", { on: { submit: async (e) => {
    e.preventDefault();
    try {
      const list = names.value.split(/\s+/).filter(Boolean);
      const { results } = await api("/v1/match", { method: "POST", json: { names: list } });
      out.replaceChildren(el("table", {}, el("tr", {}, ["Name", "Verdict", "Brand", "Kind", "Score", "Why"].map((h) => el("th", {}, h))),
        results.map((r) => el("tr", {}, el("td", {}, r.name),
          el("td", {}, r.error ? "not a name" : r.own_domain ? "own domain" : r.suppressed_by ? `suppressed (#${r.suppressed_by})` : r.incident ? "incident" : r.matched ? "below min_score" : "no match"),
          el("td", {}, r.brand || ""), el("td", {}, r.kind || ""), el("td", {}, r.score === null || r.score === undefined ? "" : String(r.score)),
          el("td", {}, r.explanation || r.error || "")))));
    } catch (err) {
      out.replaceChildren(failure(err));
    }
  } } }, names, el("br"), el("button", { type: "submit" }, "Match")), out);
}

// regex and keyword rules: the configured ones read-only, the console's
// added and removed here (kept in the store, applied at once)
async function viewRules() {
  try {
    const { configured, console: stored } = await api("/v1/rules");
    const what = (r) => (r.regex ? `regex /${r.regex}/` : `${r.threshold} of keywords: ${(r.keywords || []).join(", ")}`);
    const head = (...h) => el("tr", {}, h.map((x) => el("th", {}, x)));
    const out = el("div");
    const name = el("input", { id: "r-name", required: true });
    const brand = el("input", { id: "r-brand", placeholder: "rule:<name>" });
    const sev = select("r-severity", ["low", "medium", "high", "critical"], "medium");
    const kind = select("r-kind", ["keywords", "regex"], "keywords");
    const pattern = el("input", { id: "r-pattern", size: 40, placeholder: "login, verify, account  or  ^secure-.*bank" });
    const threshold = el("input", { id: "r-threshold", type: "number", min: 1, value: 1 });
    const form = el("form", { class: "filters", on: { submit: async (e) => {
      e.preventDefault();
      const rule = { name: name.value, brand: brand.value, severity: sev.value };
      if (kind.value === "regex") rule.regex = pattern.value;
      else {
        rule.keywords = pattern.value.split(",").map((k) => k.trim()).filter(Boolean);
        rule.threshold = Number(threshold.value);
      }
      try {
        await api("/v1/rules", { method: "POST", json: rule });
        viewRules();
      } catch (err) {
        out.replaceChildren(failure(err));
      }
    } } },
      el("label", {}, "Name ", name), el("label", {}, "Brand ", brand), el("label", {}, "Severity ", sev),
      el("label", {}, "Kind ", kind), el("label", {}, "Keywords or regex ", pattern), el("label", {}, "Threshold ", threshold),
      el("button", { type: "submit" }, "Add rule"));
    const remove = (r) => el("button", { type: "button", on: { click: async () => {
      try {
        await api(`/v1/rules/${r.id}`, { method: "DELETE" });
        viewRules();
      } catch (err) {
        out.replaceChildren(failure(err));
      }
    } } }, "Remove");
    show(el("h2", {}, "Rules"),
      el("div", { class: "card" }, el("h3", {}, "Added here"),
        el("table", {}, head("Name", "Brand", "Severity", "Matches", "By", "Since", ""),
          stored.map((r) => el("tr", {}, el("td", {}, r.name), el("td", {}, r.brand || `rule:${r.name}`), el("td", {}, severity(r.severity)),
            el("td", {}, what(r)), el("td", {}, r.created_by), el("td", {}, when(r.created_at)), el("td", {}, remove(r)))))),
      el("div", { class: "card" }, el("h3", {}, "Add a rule"), form, out),
      el("div", { class: "card" }, el("h3", {}, "From the config file"),
        el("p", { class: "muted" }, "[[matcher.rules]] in certsentry's config; edit them there."),
        el("table", {}, head("Name", "Brand", "Severity", "Matches"),
          configured.map((r) => el("tr", {}, el("td", {}, r.name), el("td", {}, r.brand || `rule:${r.name}`), el("td", {}, severity(r.severity)), el("td", {}, what(r)))))));
  } catch (e) {
    show(failure(e));
  }
}

// a bar chart of [time ms, value] points, drawn as SVG elements (no HTML
// from strings, no inline style: the page's CSP allows neither)
function chart(id, title, points, unit) {
  const ns = "http://www.w3.org/2000/svg";
  const svgEl = (tag, attrs, ...kids) => {
    const n = document.createElementNS(ns, tag);
    for (const [k, v] of Object.entries(attrs)) n.setAttribute(k, String(v));
    for (const k of kids) n.append(k);
    return n;
  };
  const [w, h, pad] = [720, 150, 18];
  const max = Math.max(0, ...points.map((p) => p[1]));
  const fmt = (v) => (Number.isInteger(v) ? String(v) : v.toFixed(1));
  const summary = `${title}: peak ${fmt(max)} ${unit}, over ${points.length} buckets`;
  const bw = (w - 2 * pad) / Math.max(1, points.length);
  const bars = points.map(([t, v], i) => {
    const bh = max > 0 ? ((h - 2 * pad) * v) / max : 0;
    return svgEl("rect", { class: "bar", x: (pad + i * bw).toFixed(2), y: (h - pad - bh).toFixed(2),
      width: Math.max(0.5, bw - 0.5).toFixed(2), height: bh.toFixed(2) },
    svgEl("title", {}, `${when(t)}: ${fmt(v)} ${unit}`));
  });
  const label = (x, y, text, anchor) => svgEl("text", { x, y, "text-anchor": anchor || "start", class: "axis" }, text);
  const first = points.length ? when(points[0][0]) : "";
  return el("figure", { id, class: "card" },
    svgEl("svg", { viewBox: `0 0 ${w} ${h}`, width: "100%", role: "img", "aria-label": summary },
      svgEl("title", {}, summary),
      svgEl("line", { class: "axis", x1: pad, y1: h - pad, x2: w - pad, y2: h - pad }),
      ...bars,
      label(pad, 12, `max ${fmt(max)} ${unit}`),
      label(pad, h - 4, first),
      label(w - pad, h - 4, "now", "end")),
    el("figcaption", {}, `${title}: peak ${fmt(max)} ${unit}`));
}

async function viewStatus() {
  try {
    const [s, history] = await Promise.all([api("/v1/status"), api("/v1/status/history?hours=24")]);
    const counters = Object.entries(s.counters || {}).map(([k, v]) => el("tr", {}, el("td", {}, k), el("td", {}, String(v))));
    show(el("h2", {}, "Status"),
      el("div", { class: "card" }, dl([["Version", s.version], ["Source", JSON.stringify(s.source)],
        ["List", `${s.list.brands} brands, ${s.list.variants} variants (${s.list.source})`], ["List error", s.list.last_error],
        ["Incidents", String(s.incidents)]])),
      el("div", { class: "card" }, el("h3", {}, "Sinks"), el("table", {}, el("tr", {}, ["Sink", "Pending", "Failed"].map((h) => el("th", {}, h))),
        (s.sinks || []).map((k) => el("tr", {}, el("td", {}, k.name), el("td", {}, String(k.pending)), el("td", {}, String(k.failed)))))),
      chart("chart-incidents", "New incidents per hour, last 24 h", history.incidents_per_hour, "incidents"),
      chart("chart-names", "Names matched per second, last 24 h (per minute)", history.names_per_second, "names/s"),
      el("div", { class: "card" }, el("h3", {}, "Counters"), el("table", {}, counters)));
  } catch (e) {
    show(failure(e));
  }
}

// ------------------------------------------------------------------ routing

function route() {
  stopLive();
  const hash = location.hash || "#/";
  if (hash.startsWith("#/incident/")) return viewIncident(hash.slice("#/incident/".length));
  if (hash.startsWith("#/suppressions")) return viewSuppressions();
  if (hash === "#/brands") return viewBrands();
  if (hash === "#/try") return viewTry();
  if (hash === "#/rules") return viewRules();
  if (hash === "#/status") return viewStatus();
  return viewQueue();
}

// ------------------------------------------------------------------ sign-in

// show who is signed in (and the sign-in form when nobody is)
function signedIn() {
  const who = session.who;
  document.getElementById("auth").hidden = who !== null;
  const badge = document.getElementById("who");
  badge.replaceChildren();
  if (who) {
    badge.append(`${who.name} (${who.role})`);
    if (who.csrf_token) {
      const out = el("button", { type: "button", id: "sign-out" }, "Sign out");
      out.addEventListener("click", signOut);
      badge.append(" ", out);
    }
  }
}

async function signOut() {
  try {
    await api("/v1/session", { method: "DELETE" });
  } catch (e) {
    show(failure(e));
  }
  session.who = null;
  signedIn();
  stopLive();
  show(el("p", { class: "muted" }, "Signed out."));
}

document.getElementById("auth-form").addEventListener("submit", async (e) => {
  e.preventDefault();
  const field = document.getElementById("token");
  const note = document.getElementById("auth-error");
  note.textContent = "";
  try {
    session.who = await api("/v1/session", { method: "POST", json: { token: field.value } });
    field.value = "";
    signedIn();
    route();
  } catch (err) {
    note.textContent = err.message;
  }
});

async function start() {
  try {
    session.who = await api("/v1/session");
  } catch (e) {
    session.who = null;
  }
  signedIn();
  if (session.who) route();
  else show(el("p", { class: "muted" }, "Sign in to see the queue."));
}

window.addEventListener("hashchange", () => {
  if (session.who) route();
});
start();
