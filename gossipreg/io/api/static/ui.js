// gossipreg's page: members, agents, search and live events, from the node's HTTP API only.
// Every record's text goes into the page with textContent (never as markup).
"use strict";
(() => {
  const $ = (id) => document.getElementById(id);
  const KEY = "gossipreg.token";
  const MEMBER_STATES = ["alive", "suspect", "dead", "left"];
  const STATUSES = ["active", "degraded", "unhealthy", "offline"];
  const COLORS = {alive: "#2e9d57", suspect: "#e0a100", dead: "#c62828", left: "#9e9e9e",
    active: "#2e9d57", degraded: "#e0a100", unhealthy: "#e65100", offline: "#616161"};
  const MEMBER_EVENTS = {member_joined: "alive", member_alive: "alive", member_suspect: "suspect",
    member_failed: "dead", member_left: "left"};
  const TYPES = ["agent_registered", "agent_deregistered", "agent_status_changed",
    "runtime_joined", "runtime_left", ...Object.keys(MEMBER_EVENTS)];
  const HISTORY_S = 300, SAMPLE_S = 2, MAX_EVENTS = 200;
  const st = {token: sessionStorage.getItem(KEY), health: null, members: [], agents: [],
    history: [], marks: [], prom: [], lastId: null, stream: null, resumes: 0, select: null, timer: null};

  class AuthError extends Error {}

  function el(tag, text, cls) {
    const e = document.createElement(tag);
    if (text !== undefined && text !== null) e.textContent = String(text);
    if (cls) e.className = cls;
    return e;
  }
  const known = (v, list) => (list.includes(v) ? v : "unknown");
  function badge(word, list) {
    const w = known(word, list);
    return el("span", word, "badge s-" + w);
  }
  function cell(tr, content) {
    const td = el("td");
    if (content instanceof Node) td.append(content); else td.textContent = content ?? "";
    tr.append(td);
    return td;
  }

  async function api(method, path, body, asText) {
    const headers = {};
    if (st.token) headers.Authorization = "Bearer " + st.token;
    if (body !== undefined) headers["Content-Type"] = "application/json";
    const r = await fetch(path, {method, headers, cache: "no-store",
      body: body === undefined ? undefined : JSON.stringify(body)});
    if (r.status === 401) { askToken(); throw new AuthError("token"); }
    let data = null;
    try { data = await (asText ? r.text() : r.json()); } catch (e) { data = null; }
    return {status: r.status, data, headers: r.headers};
  }

  function askToken() {
    const form = $("login");
    if (!form.hidden) return;
    if (st.token) $("login-error").textContent = "That token was refused.";
    st.token = null;
    sessionStorage.removeItem(KEY);
    stopStream();
    form.hidden = false;
    $("main").hidden = true;
    $("summary").textContent = "Waiting for the token…";
    $("token").focus();
  }

  // ------------------------------------------------------------------ reading the API
  async function refresh() {
    const [h, m, a, x] = await Promise.all([api("GET", "/v1/health"),
      api("GET", "/v1/members"), api("GET", "/v1/agents?status=any"),
      api("GET", "/metrics", undefined, true)]);
    if (x.status === 200 && typeof x.data === "string") monitor(x.data);
    st.health = h.data;
    st.members = Array.isArray(m.data) ? m.data : [];
    st.agents = Array.isArray(a.data) ? a.data : [];
    renderAll();
    return [m.headers.get("X-Gossipreg-Event-Id"), a.headers.get("X-Gossipreg-Event-Id")];
  }
  function later() {  // coalesce the refreshes events ask for
    if (st.timer !== null) return;
    st.timer = setTimeout(() => { st.timer = null; refresh().catch(() => {}); }, 150);
  }
  function seqOf(id) {
    const i = (id || "").lastIndexOf("-");
    return i < 0 ? -1 : Number(id.slice(i + 1));
  }

  // ------------------------------------------------------------------ rendering
  function renderAll() {
    renderSummary(); renderMembers(); renderFilters(); renderAgents(); sample();
  }
  function renderSummary() {
    const h = st.health || {};
    $("node-name").textContent = h.node_id ? "· " + h.node_id : "";
    const alive = st.members.filter((m) => m.state === "alive").length;
    $("summary").textContent = `health ${h.status ?? "?"} · health score ${h.health_score ?? "?"}`
      + ` (0 is healthy) · ${alive} of ${st.members.length} members alive · `
      + `${st.agents.length} agents · events: ${streamWords()}`;
  }
  function renderMembers() {
    const self = st.health && st.health.node_id;
    const rows = [...st.members].sort((x, y) => (x.node_id === self ? -1 : y.node_id === self ? 1
      : String(x.node_id).localeCompare(String(y.node_id))));
    $("members").tBodies[0].replaceChildren(...rows.map((m) => {
      const tr = el("tr");
      tr.dataset.id = m.node_id;
      tr.dataset.state = m.state;
      if (m.state === "dead") tr.className = "r-dead";
      cell(tr, badge(m.state, MEMBER_STATES));
      const name = cell(tr, m.node_id);
      if (m.node_id === self) {
        tr.classList.add("self");
        name.append(el("div", `this node · health score ${st.health.health_score}`, "small"));
      }
      cell(tr, m.address); cell(tr, m.incarnation); cell(tr, m.generation);
      return tr;
    }));
  }
  function options(select, values) {
    const keep = select.value;
    select.replaceChildren(el("option", "any"), ...[...values].sort().map((v) => el("option", v)));
    select.options[0].value = "";
    select.value = values.has(keep) ? keep : "";
  }
  const tagsOf = (a) => new Set([...(a.tags || []), ...(a.skills || []).flatMap((s) => s.tags || [])]);
  function renderFilters() {
    options($("f-runtime"), new Set(st.agents.map((a) => a.runtime_id)));
    options($("f-tag"), new Set(st.agents.flatMap((a) => [...tagsOf(a)])));
  }
  function fmtLoad(v) {
    if (typeof v === "number") return v <= 1 ? Math.round(v * 100) + "%" : String(v);
    if (v && typeof v === "object") {
      const n = v.active_tasks ?? v.active, max = v.max_concurrency ?? v.max;
      if (n !== undefined && max !== undefined) return `${n} / ${max}`;
      return JSON.stringify(v);
    }
    return v === null || v === undefined ? "—" : String(v);
  }
  const fmtVerified = (v) => (v === true ? "verified" : v === false ? "not verified"
    : v === null || v === undefined ? "—" : String(v));
  function ago(unix) {
    if (!unix) return "—";
    const s = Math.max(0, Math.round(Date.now() / 1000 - unix));
    return s < 90 ? `${s} s ago` : `${Math.round(s / 60)} min ago`;
  }
  function lines(td, items) {
    for (const t of items) td.append(el("div", t));
  }
  function renderAgents() {
    const opt = {load: st.agents.some((a) => "load" in a),
      verified: st.agents.some((a) => "card_verified" in a)};
    const heads = ["Status", "Name", "Agent id", "Runtime", "Owner node", "Capabilities / skills",
      "Tags", "Endpoints", ...(opt.load ? ["Load"] : []), ...(opt.verified ? ["Card"] : []),
      "Last heartbeat"];
    $("agents").tHead.rows[0].replaceChildren(...heads.map((h) => {
      const th = el("th", h); th.scope = "col"; return th;
    }));
    const fs = $("f-status").value, fr = $("f-runtime").value, ft = $("f-tag").value;
    const shown = st.agents.filter((a) => (!fs || a.status === fs) && (!fr || a.runtime_id === fr)
      && (!ft || tagsOf(a).has(ft)));
    $("agent-count").textContent = `showing ${shown.length} of ${st.agents.length}`;
    $("agents").tBodies[0].replaceChildren(...shown.map((a) => {
      const tr = el("tr");
      tr.dataset.id = a.agent_id;
      tr.dataset.status = a.status;
      cell(tr, badge(a.status, STATUSES));
      const name = cell(tr, a.name);
      if (a.description) name.append(el("div", a.description, "small"));
      cell(tr, el("code", a.agent_id));
      cell(tr, a.runtime_id); cell(tr, a.node_id);
      const caps = cell(tr, (a.capabilities || []).join(", "));
      const skills = (a.skills || []).map((s) => s.name || s.id).filter(Boolean);
      if (skills.length) caps.append(el("div", "skills: " + skills.join(", "), "small"));
      cell(tr, [...tagsOf(a)].join(", "));
      lines(cell(tr, ""), (a.endpoints || []).map((e) => [e.url, e.protocolBinding,
        e.protocolVersion].filter(Boolean).join(" · ")));
      if (opt.load) cell(tr, fmtLoad(a.load));
      if (opt.verified) cell(tr, fmtVerified(a.card_verified));
      cell(tr, `${ago(a.last_heartbeat_unix)} · ${a.heartbeat_count ?? 0} beats`);
      return tr;
    }));
  }

  // ------------------------------------------------------------------ the picture
  function counts(list, key, words) {
    const c = Object.fromEntries(words.map((w) => [w, 0]));
    for (const x of list) if (x[key] in c) c[x[key]] += 1;
    return c;
  }
  function sample() {
    const now = Date.now() / 1000, last = st.history[st.history.length - 1];
    const s = {t: now, m: counts(st.members, "state", MEMBER_STATES),
      a: counts(st.agents, "status", STATUSES)};
    if (last && now - last.t < 1) st.history[st.history.length - 1] = {...s, t: last.t};
    else st.history.push(s);
    while (st.history.length && now - st.history[0].t > HISTORY_S) st.history.shift();
    drawTimeline(now);
  }
  const SVG = "http://www.w3.org/2000/svg";
  function svg(tag, attrs, text) {
    const e = document.createElementNS(SVG, tag);
    for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, String(v));
    if (text !== undefined) e.textContent = text;
    return e;
  }
  function drawTimeline(now) {
    const W = 900, left = 110, right = 12, bandH = 64, top = 14, gap = 34;
    const plotW = W - left - right, H = top + 2 * bandH + gap + 40;
    // The window grows with the page's age, from one minute up to HISTORY_S.
    const span = Math.min(HISTORY_S, Math.max(60, now - (st.history[0]?.t ?? now)));
    const step = span <= 90 ? 15 : span <= 180 ? 30 : 60;
    const x = (t) => left + plotW * (1 - (now - t) / span);
    const root = svg("svg", {viewBox: `0 0 ${W} ${H}`, role: "img",
      "aria-labelledby": "timeline-title"});
    root.append(svg("title", {id: "timeline-title"},
      "Members by state and agents by status since this page opened (up to five minutes), "
      + "with member failures, joins and leaves marked"));
    const shown = st.history.filter((s, j) => now - (st.history[j + 1]?.t ?? now) <= span);
    const bands = [["Members", "m", MEMBER_STATES], ["Agents", "a", STATUSES]];
    bands.forEach(([label, key, words], i) => {
      const y0 = top + i * (bandH + gap), max = Math.max(1, ...shown.map(
        (s) => words.reduce((n, w) => n + s[key][w], 0)));
      root.append(svg("text", {x: 4, y: y0 + 14}, label));
      root.append(svg("text", {x: 4, y: y0 + 30}, `max ${max}`));
      root.append(svg("rect", {x: left, y: y0, width: plotW, height: bandH, fill: "#f4f5f7"}));
      for (let t = step; t < span; t += step) {
        root.append(svg("line", {x1: x(now - t), x2: x(now - t), y1: y0, y2: y0 + bandH,
          stroke: "#c5cad1", "stroke-dasharray": "2 3"}));
      }
      shown.forEach((s, j) => {
        const next = shown[j + 1], x1 = Math.max(left, x(s.t));
        const x2 = next ? x(next.t) : x(now) + 1;
        let y = y0 + bandH;
        for (const w of words) {
          const h = (bandH * s[key][w]) / max;
          if (h > 0) {
            root.append(svg("rect", {x: x1.toFixed(1), y: (y - h).toFixed(1),
              width: Math.max(1, x2 - x1 + 0.5).toFixed(1), height: h.toFixed(1),
              fill: COLORS[w], "shape-rendering": "crispEdges"}));
          }
          y -= h;
        }
      });
      const latest = shown[shown.length - 1];
      let lx = left;
      for (const w of words) {  // the legend: colour, word and the count now
        root.append(svg("rect", {x: lx, y: y0 + bandH + 6, width: 10, height: 10,
          fill: COLORS[w]}));
        const t = `${w} ${latest ? latest[key][w] : 0}`;
        root.append(svg("text", {x: lx + 14, y: y0 + bandH + 15}, t));
        lx += 24 + t.length * 6.5;
      }
    });
    for (const mk of st.marks) {  // a triangle over the members band per failure, join, leave
      if (now - mk.t > span) continue;
      const mx = x(mk.t), tri = svg("path", {d: `M${mx - 5} 2 L${mx + 5} 2 L${mx} 11 Z`,
        fill: COLORS[mk.state]});
      tri.append(svg("title", {}, mk.text));
      root.append(tri);
    }
    for (let t = 0; t <= span; t += step) {
      const label = t === 0 ? "now" : t % 60 ? `-${t} s` : `-${t / 60} min`;
      root.append(svg("text", {x: x(now - t) - (t ? 16 : 22), y: H - 8}, label));
    }
    $("timeline").replaceChildren(root);
    const s = st.history[st.history.length - 1];
    const words = (c, list) => list.filter((w) => c[w]).map((w) => `${c[w]} ${w}`).join(", ")
      || "none";
    $("timeline-text").textContent = s ? `Now: members ${words(s.m, MEMBER_STATES)}; agents `
      + `${words(s.a, STATUSES)}. Sampled every ${SAMPLE_S} s while this page is open; `
      + "triangles mark members failing (red), joining (green) and leaving (grey)." : "";
  }

  // ------------------------------------------------------------------ the monitoring list
  const PROM = /^([a-zA-Z_:][\w:]*)(\{.*\})?\s+(\S+)$/;
  const by = (name, label, values) => values.map((v) => [v, `${name}{${label}="${v}"}`]);
  const MONITOR = [
    ["Agents that appeared here", by("gossipreg_agent_registrations_total", "origin",
      ["own", "peer"])],
    ["Agents that went, by cause", by("gossipreg_agent_deregistrations_total", "cause",
      ["deregistered", "heartbeat_expired", "owner_failed", "owner_left", "owner_restarted",
        "moved"])],
    ["Heartbeats of this node's agents (the owner's figures)", by("gossipreg_heartbeats_total",
      "outcome", ["received", "missed", "expired"])],
    ["Runtimes", [["now", "gossipreg_runtimes"], ["joined", "gossipreg_runtimes_joined_total"],
      ["left", "gossipreg_runtimes_left_total"]]],
    ["Event buffers", [["waiting", "gossipreg_event_queue_depth"],
      ["subscribers", "gossipreg_event_subscribers"], ["dropped", "gossipreg_events_dropped_total"]]],
  ];
  function monitor(text) {
    const now = Date.now() / 1000, fig = new Map();
    for (const line of text.split("\n")) {
      const m = PROM.exec(line);
      if (m) fig.set(m[1] + (m[2] || ""), Number(m[3]));
    }
    st.prom.push({t: now, fig});
    while (st.prom.length > 2 && now - st.prom[1].t >= 60) st.prom.shift();
    const old = st.prom[0].fig, rows = [...MONITOR];
    const surfaces = [...fig.keys()].filter((k) => k.startsWith(
      "gossipreg_search_duration_seconds_count")).map((k) => k.slice(k.indexOf("{")));
    rows.push(["Search latency (answers · mean ms)", surfaces.map((l) => [l.slice(10, -2),
      "gossipreg_search_duration_seconds_count" + l, "gossipreg_search_duration_seconds_sum" + l])]);
    for (const kind of ["select", "send"]) {  // once the node serves POST /v1/select, /v1/send
      const keys = [...fig.keys()].filter((k) => k.startsWith(`gossipreg_${kind}_total{`));
      if (keys.length) rows.push([`${kind} outcomes`, keys.map((k) => [k.slice(k.indexOf('"') + 1,
        -2), k])]);
    }
    const mean = (c, sm, f) => (f.get(c) ? ` · ${(1000 * f.get(sm) / f.get(c)).toFixed(2)} ms` : "");
    $("monitor").tBodies[0].replaceChildren(...rows.map(([title, parts]) => {
      const tr = el("tr"), th = el("th", title);
      th.scope = "row";
      tr.append(th);
      cell(tr, parts.map(([w, k, sm]) => `${w} ${fig.get(k) ?? 0}${sm ? mean(k, sm, fig) : ""}`)
        .join(" · "));
      cell(tr, parts.filter(([, k]) => k.includes("_total") || k.includes("_count")).map(
        ([w, k]) => `${w} +${(fig.get(k) ?? 0) - (old.get(k) ?? 0)}`).join(" · "));
      return tr;
    }));
  }

  // ------------------------------------------------------------------ live events
  function streamWords() {
    if (!st.stream) return "connecting";
    return st.stream.readyState === 1 ? "live" + (st.resumes ? ` (resumed ${st.resumes}×)`
      : "") : "reconnecting";
  }
  function stopStream() {
    if (st.stream) st.stream.close();
    st.stream = null;
  }
  function reconnect() {  // a ticket opens one stream: buy another, resume after the last id
    stopStream();
    renderSummary();
    setTimeout(() => {
      st.resumes += 1;
      openStream(st.lastId).catch((e) => { if (!(e instanceof AuthError)) reconnect(); });
    }, 1000);
  }
  async function openStream(since) {
    stopStream();
    const t = await api("POST", "/v1/events/ticket");
    const q = new URLSearchParams({ticket: t.data.ticket, types: TYPES.join(",")});
    if (since) q.set("since", since);
    const es = new EventSource("/v1/events?" + q.toString());
    st.stream = es;
    es.onopen = () => renderSummary();
    es.onerror = () => { if (st.stream === es) reconnect(); };
    for (const type of [...TYPES, "reset"]) es.addEventListener(type, (ev) => onEvent(type, ev));
  }
  function onEvent(type, ev) {
    if (ev.lastEventId) {
      if (st.lastId && seqOf(ev.lastEventId) <= seqOf(st.lastId)
          && type !== "reset" && sameStream(ev.lastEventId)) return;  // already shown
      st.lastId = ev.lastEventId;
    }
    let data = {};
    try { data = JSON.parse(ev.data); } catch (e) { data = {}; }
    logEvent(type, data);
    later();
  }
  const sameStream = (id) => id.slice(0, id.lastIndexOf("-"))
    === (st.lastId || "").slice(0, (st.lastId || "").lastIndexOf("-"));
  function logEvent(type, d) {
    const meta = d.metadata || {};
    let subject = d.agent_id || meta.node_id || d.runtime_id || "";
    let change = "", cause = meta.cause || "";
    if (type === "agent_status_changed") change = `${meta.old_status} → ${meta.new_status}`;
    else if (type === "agent_registered") change = `→ ${meta.status ?? "active"}`;
    else if (type === "agent_deregistered") change = "→ gone";
    else if (type in MEMBER_EVENTS) {
      const m = st.members.find((x) => x.node_id === meta.node_id);
      change = `${m ? m.state : "new"} → ${MEMBER_EVENTS[type]}`;
      if (m) m.state = MEMBER_EVENTS[type];
      if (type !== "member_suspect" && type !== "member_alive") {
        st.marks.push({t: Date.now() / 1000, state: MEMBER_EVENTS[type],
          text: `${meta.node_id} ${type.slice(7)} at ${new Date().toTimeString().slice(0, 8)}`});
        if (st.marks.length > 100) st.marks.shift();
      }
      if (meta.source) cause = "reported by " + meta.source;
    } else if (type === "reset") {
      subject = "stream"; cause = meta.reason || "";
      change = "listed again";
    } else if (type.startsWith("runtime_")) subject = d.runtime_id || "";
    if (meta.reason && type !== "reset") cause += ` (${meta.reason})`;
    if (meta.source && type === "agent_status_changed") cause += ` by ${meta.source}`;
    const tr = el("tr");
    tr.dataset.type = type;
    const when = d.timestamp ? new Date(d.timestamp) : new Date();
    cell(tr, when.toTimeString().slice(0, 8));
    cell(tr, type.replace(/_/g, " "));
    cell(tr, subject);
    cell(tr, change);
    cell(tr, cause);
    const body = $("events").tBodies[0];
    body.prepend(tr);
    while (body.rows.length > MAX_EVENTS) body.lastElementChild.remove();
  }

  // ------------------------------------------------------------------ search and selection
  async function findSelect() {
    try {
      const r = await fetch("/v1/openapi.json", {cache: "no-store"});
      const op = ((await r.json()).paths || {})["/v1/select"];
      if (!op || !op.post) return null;
      const props = op.post.requestBody?.content?.["application/json"]?.schema?.properties || {};
      return "text" in props || !("query" in props) ? "text" : "query";
    } catch (e) { return null; }
  }
  async function search(text) {
    const out = $("search-out"), body = $("results").tBodies[0];
    const filter = {};  // the filters above apply to the search too
    if ($("f-status").value) filter.status = [$("f-status").value];
    if ($("f-runtime").value) filter.runtime = [$("f-runtime").value];
    if ($("f-tag").value) filter.tags = [$("f-tag").value];
    const query = Object.keys(filter).length ? {text, filter} : {text};
    const r = await api("POST", "/ard/v1/search", {query, pageSize: 10});
    const results = (r.data && r.data.results) || [];
    const scope = filter.status ? "" : " active";
    $("search-note").textContent = r.status !== 200
      ? (r.data && (r.data.message || r.data.error)) || `error ${r.status}`
      : results.length ? `${results.length}${scope} agents ranked (score 0–100)`
        : `no${scope} agent matches`;
    $("results").hidden = !results.length;
    let pick = null;
    if (st.select) {
      const s = await api("POST", "/v1/select", {[st.select]: text});
      const d = s.data, list = Array.isArray(d) ? d : (d && (d.candidates || d.results)) || [];
      pick = list[0] || (d && d.selected) || null;
      $("select-out").textContent = s.status < 300 && pick
        ? `A selection (POST /v1/select) would pick ${pick.agent_id ?? pick.name ?? "?"}`
          + (pick.why ? ` — ${pick.why}` : "")
        : `POST /v1/select: ${(d && (d.error || d.message)) || "no pick"}`;
    } else $("select-out").textContent = "";
    body.replaceChildren(...results.map((e, i) => {
      const md = e.metadata || {}, tr = el("tr");
      tr.dataset.id = md.agentId || "";
      if (pick && pick.agent_id === md.agentId) tr.className = "pick";
      cell(tr, i + 1); cell(tr, e.score); cell(tr, e.displayName);
      cell(tr, el("code", md.agentId)); cell(tr, badge(md.status, STATUSES));
      return tr;
    }));
    out.hidden = false;
  }

  // ------------------------------------------------------------------ start
  async function start() {
    try {
      $("login").hidden = true;
      $("main").hidden = false;
      const positions = await refresh();
      performance.mark("gossipreg-tables-filled");  // read by sim/bench/page.py
      // Resume from the older of the two listings' positions: nothing is missed.
      const since = positions.filter(Boolean).sort((a, b) => seqOf(a) - seqOf(b))[0];
      st.lastId = since || null;
      await openStream(st.lastId);
      st.select = await findSelect();
    } catch (e) {
      if (!(e instanceof AuthError)) $("summary").textContent = "Cannot reach the node: " + e;
    }
  }
  $("login").addEventListener("submit", (ev) => {
    ev.preventDefault();
    st.token = $("token").value.trim();
    sessionStorage.setItem(KEY, st.token);
    $("token").value = "";
    $("login-error").textContent = "";
    start();
  });
  $("search").addEventListener("submit", (ev) => {
    ev.preventDefault();
    const text = $("q").value.trim();
    if (text) search(text).catch(() => {});
  });
  for (const id of ["f-status", "f-runtime", "f-tag"]) $(id).addEventListener("change", renderAgents);
  setInterval(() => { if (!$("main").hidden) refresh().catch(() => {}); }, SAMPLE_S * 1000);
  start();
})();
