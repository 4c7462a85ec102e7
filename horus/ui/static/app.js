// The Horus dashboard: every figure comes from the supervisor's JSON-RPC methods, called with the
// token the operator pasted, so the page can do exactly what that token may. Data is only ever put
// into the page as text (textContent), never as HTML.
"use strict";

const BASE = location.pathname.replace(/\/ui\/?.*$/, "/");
const TOKEN_KEY = "horus.token";
const STATUSES = ["pending", "scheduled", "dispatched", "running", "completed", "failed", "timeout", "cancelled"];
const ENDED = new Set(["completed", "failed", "timeout", "cancelled"]);
const SINCE = { "": "any time", "300": "last 5 minutes", "3600": "last hour", "86400": "last day" };

const state = { token: sessionStorage.getItem(TOKEN_KEY), role: null, timer: null, abort: null, seq: 0, rates: {} };

class RpcFailure extends Error {
  constructor(error) {
    super(error.message || "call failed");
    this.reason = (error.data && error.data.reason) || "";
    this.code = error.code;
  }
}

// -- calls ------------------------------------------------------------------------------------
function headers() {
  return { "Content-Type": "application/json", Authorization: "Bearer " + state.token };
}

async function post(body) {
  const response = await fetch(BASE, { method: "POST", headers: headers(), body: JSON.stringify(body) });
  return response.json();
}

function message(method, params) {
  return { jsonrpc: "2.0", method, params: params || {}, id: ++state.seq };
}

async function rpc(method, params) {
  const answer = await post(message(method, params));
  if (answer.error) {
    if (answer.error.code === -32001) logout(answer.error.message);
    throw new RpcFailure(answer.error);
  }
  return answer.result;
}

// Several calls in one request; each answer is {result} or {error}, in the order asked.
async function batch(calls) {
  if (!calls.length) return [];
  const messages = calls.map(([method, params]) => message(method, params));
  const answers = await post(messages);
  const byId = new Map(answers.map((a) => [a.id, a]));
  return messages.map((m) => byId.get(m.id));
}

// -- building the page ------------------------------------------------------------------------
function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (name === "class") node.className = value;
    else if (name === "on") for (const [event, fn] of Object.entries(value)) node.addEventListener(event, fn);
    else node.setAttribute(name, value === true ? "" : String(value));
  }
  return fill(node, ...children);
}

// Replaces the node's children: nested lists flattened, null left out, anything else as text.
function fill(node, ...children) {
  node.replaceChildren(...children.flat(Infinity).filter((c) => c !== null && c !== undefined)
    .map((c) => (c instanceof Node ? c : document.createTextNode(String(c)))));
  return node;
}

function table(columns, rows, id) {
  return el("table", { id }, el("thead", {}, el("tr", {}, columns.map((c) => el("th", {}, c)))), el("tbody", {}, rows));
}

function when(seconds) {
  if (seconds === null || seconds === undefined) return "—";
  return new Date(seconds * 1000).toISOString().replace("T", " ").slice(0, 19) + "Z";
}

function statusBadge(status) {
  return el("span", { class: "status status-" + status }, status);
}

function button(label, onClick, attrs) {
  return el("button", { type: "button", ...(attrs || {}), on: { click: onClick } }, label);
}

function showError(text) {
  document.getElementById("error").textContent = text || "";
}

function isAdmin() {
  return state.role === "admin";
}

// Runs an action from a button; the server decides, the page shows its refusal.
async function act(fn) {
  try {
    showError("");
    await fn();
    await refresh();
  } catch (exc) {
    showError(exc.message);
  }
}

// -- views ------------------------------------------------------------------------------------
async function runnersView(view) {
  const [runners, queues, stats] = await Promise.all([rpc("runner.list"), rpc("inspect.queues"), rpc("inspect.stats")]);
  const health = await batch(runners.map((r) => ["runner.health", { runner_id: r.runner_id }]));
  const queueOf = new Map(queues.map((q) => [q.runner_id, q]));
  const statsOf = new Map(stats.map((s) => [s.runner_id, s]));
  const now = Date.now() / 1000;
  const rows = runners.map((runner, i) => {
    const h = health[i] && health[i].result;
    const q = queueOf.get(runner.runner_id) || {};
    const s = statsOf.get(runner.runner_id);
    const ended = s ? s.ended : {};
    const done = ended.completed || 0;
    const failed = (ended.failed || 0) + (ended.timeout || 0);
    const before = state.rates[runner.runner_id];
    state.rates[runner.runner_id] = { at: now, done, failed };
    const perMinute = (n, then) => (before && now > before.at ? ((60 * (n - then)) / (now - before.at)).toFixed(1) : "…");
    return el(
      "tr",
      { "data-runner-id": runner.runner_id },
      el("td", {}, runner.runner_id),
      el("td", {}, runner.runner_type),
      el("td", {}, h ? el("span", { class: h.alive ? "ok" : "bad" }, h.alive ? "alive" : "down") : "?"),
      // Worker masters (each with its children), as horus inspect and horus_workers count them.
      el("td", { class: "num" }, q.workers === undefined ? "?" : `${q.workers} (${q.children} children)`),
      el("td", { class: "num" }, h ? h.queue_depth : q.queued),
      el("td", { class: "num" }, h ? h.in_flight : q.in_flight),
      el("td", { class: "num" }, h ? h.scheduled : q.scheduled),
      el("td", { class: "num" }, q.dead === undefined ? "—" : q.dead),
      el("td", { class: "num" }, done),
      el("td", { class: "num" }, failed),
      el("td", { class: "num" }, before ? perMinute(done, before.done) : "…"),
      el("td", { class: "num" }, before ? perMinute(failed, before.failed) : "…"),
    );
  });
  fill(view, 
    el("h1", {}, "Runners"),
    table(
      ["runner", "type", "health", "workers", "queued", "in flight", "scheduled", "dead", "completed", "failed",
        "completed/min", "failed/min"],
      rows,
      "runners",
    ),
    runners.length ? null : el("p", {}, "No runner is registered."),
  );
}

function jobFilters() {
  const params = new URLSearchParams(location.hash.split("?")[1] || "");
  return { runner: params.get("runner") || "", status: params.get("status") || "", since: params.get("since") || "" };
}

function setFilter(name, value) {
  const filters = { ...jobFilters(), [name]: value };
  const query = new URLSearchParams(Object.entries(filters).filter(([, v]) => v)).toString();
  location.hash = "#/jobs" + (query ? "?" + query : "");
}

function select(id, options, value, onChange) {
  const node = el("select", { id, on: { change: (e) => onChange(e.target.value) } },
    Object.entries(options).map(([v, label]) => el("option", { value: v, selected: v === value }, label)));
  return node;
}

async function jobsView(view) {
  const filters = jobFilters();
  const params = { limit: 100 };
  if (filters.runner) params.runner_id = filters.runner;
  if (filters.status) params.status = filters.status;
  if (filters.since) params.created_after = Math.floor(Date.now() / 1000 - Number(filters.since));
  const [runners, page] = await Promise.all([rpc("runner.list"), rpc("job.list", params)]);
  const jobs = page.jobs;
  const rows = jobs.map((job) =>
    el("tr", { "data-job-id": job.job_id },
      el("td", {}, el("a", { href: "#/job/" + encodeURIComponent(job.job_id) }, job.job_id)),
      el("td", {}, job.runner_id),
      el("td", { class: "job-status" }, statusBadge(job.status)),
      el("td", {}, when(job.created_at))));
  const runnerOptions = { "": "every runner" };
  for (const r of runners) runnerOptions[r.runner_id] = r.runner_id;
  const statusOptions = { "": "any status" };
  for (const s of STATUSES) statusOptions[s] = s;
  fill(view, 
    el("h1", {}, "Jobs"),
    el("div", { class: "filters" },
      select("filter-runner", runnerOptions, filters.runner, (v) => setFilter("runner", v)),
      select("filter-status", statusOptions, filters.status, (v) => setFilter("status", v)),
      select("filter-since", SINCE, filters.since, (v) => setFilter("since", v))),
    table(["job", "runner", "status", "created"], rows, "jobs"),
    jobs.length ? null : el("p", {}, "No job matches."),
    page.next_cursor !== null ? el("p", { class: "note" }, "The newest 100 jobs are shown.") : null,
  );
}

async function jobView(view, jobId) {
  const info = await rpc("job.status", { job_id: jobId });
  const result = ENDED.has(info.status) ? await rpc("job.result", { job_id: jobId }) : null;
  const attempts = info.history.map((a) =>
    el("tr", {}, el("td", {}, a.attempt), el("td", {}, statusBadge(a.status)), el("td", {}, when(a.started_at)),
      el("td", {}, when(a.completed_at)), el("td", {}, a.exit_code ?? "—"), el("td", {}, a.error || "")));
  attempts.push(
    el("tr", { class: "current" }, el("td", {}, info.attempts), el("td", {}, statusBadge(info.status)),
      el("td", {}, when(info.started_at)), el("td", {}, when(info.completed_at)),
      el("td", {}, result && result.exit_code !== null ? result.exit_code : "—"),
      el("td", {}, (result && result.error) || "")));
  const facts = [
    ["runner", info.runner_id], ["caller", info.caller_id || "—"], ["context", info.context_id || "—"],
    ["owner", info.owner || "—"], ["deliveries", info.deliveries], ["retries allowed", info.retries],
    ["created", when(info.created_at)], ["progress", info.progress ? `${info.progress.percent}% ${info.progress.message}` : "—"],
  ];
  let log = document.getElementById("log");
  if (!log || log.dataset.jobId !== jobId) {
    log = el("pre", { id: "log", "data-job-id": jobId });
    followLog(jobId, log);
  }
  fill(view, 
    el("h1", {}, "Job ", el("code", { id: "job-id" }, jobId), " ", el("span", { id: "job-status" }, statusBadge(info.status))),
    el("dl", { class: "facts" }, facts.map(([k, v]) => [el("dt", {}, k), el("dd", {}, v)])),
    ENDED.has(info.status) ? null : button("Cancel", () => act(() => rpc("job.cancel", { job_id: jobId })), { id: "cancel" }),
    el("h2", {}, "Attempts"),
    table(["attempt", "status", "started", "ended", "exit code", "error"], attempts, "attempts"),
    result && result.value !== null ? [el("h2", {}, "Value"), el("pre", { id: "value" }, JSON.stringify(result.value, null, 2))] : null,
    el("h2", {}, "Log ", el("span", { id: "log-state", class: "note" }, log.dataset.state || "following")),
    log,
  );
}

// The live log: fetch() streaming, because EventSource cannot send the Authorization header.
async function followLog(jobId, pre) {
  const controller = new AbortController();
  state.abort = controller;
  let cursor = "0-0";
  const mark = (text) => {
    pre.dataset.state = text;
    const node = document.getElementById("log-state");
    if (node) node.textContent = text;
  };
  while (!controller.signal.aborted) {
    let response;
    try {
      response = await fetch(`${BASE}ui/jobs/${encodeURIComponent(jobId)}/log?cursor=${cursor}`,
        { headers: { Authorization: "Bearer " + state.token }, signal: controller.signal });
    } catch (exc) {
      if (controller.signal.aborted) return;
      await pause(2000);
      continue;
    }
    if (!response.ok) {
      mark("unavailable: " + ((await response.json().catch(() => ({}))).message || response.status));
      return;
    }
    const reader = response.body.getReader();
    const decoder = new TextDecoder();
    let buffer = "";
    let again = true;
    try {
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buffer += decoder.decode(value, { stream: true });
        let end;
        while ((end = buffer.indexOf("\n\n")) >= 0) {
          const event = parseEvent(buffer.slice(0, end));
          buffer = buffer.slice(end + 2);
          if (event.id) cursor = event.id;
          if (event.type === "end") {
            mark("ended: " + event.data);
            again = false;
          } else if (event.type === "" && event.data !== null) {
            pre.append(el("span", { class: "line" }, event.data), "\n");
          }
        }
      }
    } catch (exc) {
      if (controller.signal.aborted) return;
    }
    if (!again) return;
    await pause(1000); // the stream reached the server's longest wait, or broke: reopen from the cursor
  }
}

function parseEvent(text) {
  const event = { type: "", id: "", data: null };
  for (const line of text.split("\n")) {
    if (line.startsWith(":")) continue;
    const colon = line.indexOf(":");
    const field = colon < 0 ? line : line.slice(0, colon);
    const value = colon < 0 ? "" : line.slice(colon + 1).replace(/^ /, "");
    if (field === "event") event.type = value;
    else if (field === "id") event.id = value;
    else if (field === "data") event.data = event.data === null ? value : event.data + "\n" + value;
  }
  return event;
}

function pause(ms) {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

async function deadView(view) {
  if (!isAdmin()) {
    fill(view, el("h1", {}, "Dead letters"), el("p", {}, "Dead letters need an admin token."));
    return;
  }
  const runners = await rpc("runner.list");
  const lists = await batch(runners.map((r) => ["dead.list", { runner_id: r.runner_id }]));
  const sections = runners.map((runner, i) => {
    const entries = (lists[i] && lists[i].result) || [];
    const id = runner.runner_id;
    const rows = entries.map((d) =>
      el("tr", { "data-job-id": d.job_id },
        el("td", {}, el("a", { href: "#/job/" + encodeURIComponent(d.job_id) }, d.job_id)),
        el("td", {}, d.status ? statusBadge(d.status) : "expired"), el("td", {}, d.reason), el("td", { class: "num" }, d.deliveries),
        el("td", {}, when(d.dead_at)),
        el("td", {}, button("Retry", () => act(() => rpc("dead.retry", { runner_id: id, job_ids: [d.job_id] })), { class: "retry" }))));
    return el("section", { class: "dead", "data-runner-id": id },
      el("h2", {}, id, " ", el("span", { class: "note" }, `${entries.length} dead-lettered`)),
      entries.length ? [
        table(["job", "status", "why", "deliveries", "dead since", ""], rows),
        button("Retry all", () => act(() => rpc("dead.retry", { runner_id: id, all: true })), { class: "retry-all" }),
        button("Purge", () => {
          if (confirm(`Forget the ${entries.length} dead-lettered jobs of ${id}? They cannot be retried after.`)) {
            act(() => rpc("dead.purge", { runner_id: id }));
          }
        }, { class: "purge danger" }),
      ] : el("p", {}, "None."));
  });
  fill(view, el("h1", {}, "Dead letters"), sections);
}

async function schedulesView(view) {
  const schedules = await rpc("schedule.list");
  const rows = schedules.map((s) => {
    const actions = isAdmin() ? [
      s.paused ? button("Resume", () => act(() => rpc("schedule.resume", { name: s.name })), { class: "resume" })
        : button("Pause", () => act(() => rpc("schedule.pause", { name: s.name })), { class: "pause" }),
      s.allow_run ? button("Run now", () => act(() => rpc("schedule.run", { name: s.name })), { class: "run" }) : null,
    ] : [];
    return el("tr", { "data-schedule": s.name },
      el("td", {}, s.name), el("td", {}, s.expression), el("td", {}, s.timezone), el("td", {}, s.runner_id),
      el("td", { class: "state" }, s.paused ? "paused" : "active"), el("td", {}, when(s.next_at)), el("td", {}, when(s.last_at)),
      el("td", {}, s.last_job_id ? el("a", { href: "#/job/" + encodeURIComponent(s.last_job_id) }, s.last_status || "?") : "—"),
      el("td", {}, actions));
  });
  fill(view, 
    el("h1", {}, "Schedules"),
    table(["name", "when", "zone", "runner", "state", "next", "last", "last job", ""], rows, "schedules"),
    schedules.length ? null : el("p", {}, "No schedule is stored."),
  );
}

// -- routing ----------------------------------------------------------------------------------
const VIEWS = [
  [/^#\/runners$/, runnersView, 2000],
  [/^#\/jobs(\?.*)?$/, jobsView, 1000],
  [/^#\/job\/([^?]+)$/, (view, m) => jobView(view, decodeURIComponent(m[1])), 1000],
  [/^#\/dead$/, deadView, 2000],
  [/^#\/schedules$/, schedulesView, 5000],
];

async function refresh() {
  const hash = location.hash || "#/runners";
  const view = document.getElementById("view");
  for (const [pattern, render] of VIEWS) {
    const m = hash.match(pattern);
    if (m) {
      await render(view, m);
      view.dataset.loaded = hash;
      return;
    }
  }
  location.hash = "#/runners";
}

function route() {
  clearTimeout(state.timer);
  if (state.abort) state.abort.abort();
  state.abort = null;
  if (!state.token) return showLogin("");
  fill(document.getElementById("view"));
  for (const link of document.querySelectorAll("#nav a")) {
    link.classList.toggle("active", link.getAttribute("href") && location.hash.startsWith(link.getAttribute("href")));
  }
  const period = (VIEWS.find(([p]) => (location.hash || "#/runners").match(p)) || [null, null, 2000])[2];
  const tick = async () => {
    try {
      await refresh();
      showError("");
    } catch (exc) {
      showError(exc.message);
    }
    if (state.token) state.timer = setTimeout(tick, period);
  };
  tick();
}

// -- login ------------------------------------------------------------------------------------
function showLogin(text) {
  document.getElementById("login").hidden = false;
  document.getElementById("view").hidden = true;
  document.getElementById("nav").hidden = true;
  document.getElementById("logout").hidden = true;
  document.getElementById("who").textContent = "";
  document.getElementById("login-error").textContent = text;
}

function logout(text) {
  sessionStorage.removeItem(TOKEN_KEY);
  state.token = null;
  state.role = null;
  clearTimeout(state.timer);
  showLogin(text || "");
}

async function enter() {
  try {
    const me = await rpc("token.whoami");
    state.role = me.role;
    document.getElementById("who").textContent = `${me.identity} (${me.role})`;
  } catch (exc) {
    return;
  }
  document.getElementById("login").hidden = true;
  document.getElementById("view").hidden = false;
  document.getElementById("nav").hidden = false;
  document.getElementById("logout").hidden = false;
  for (const node of document.querySelectorAll("[data-role=admin]")) node.hidden = !isAdmin();
  route();
}

async function start() {
  const config = await fetch(BASE + "ui/config.json").then((r) => r.json());
  if (config.coordinator_url) {
    const link = document.getElementById("nav-workflows");
    link.href = config.coordinator_url;
    link.hidden = false;
  }
  document.getElementById("login-form").addEventListener("submit", (event) => {
    event.preventDefault();
    state.token = document.getElementById("token").value.trim();
    document.getElementById("token").value = "";
    sessionStorage.setItem(TOKEN_KEY, state.token);
    enter();
  });
  document.getElementById("logout").addEventListener("click", () => logout(""));
  window.addEventListener("hashchange", () => state.token && route());
  if (state.token) enter();
  else showLogin("");
}

document.addEventListener("DOMContentLoaded", start);
