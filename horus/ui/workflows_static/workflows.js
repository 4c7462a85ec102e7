// The coordinator's workflows page. Vanilla JS, no dependency. Every piece of data is shown
// with textContent or as SVG text nodes, never as markup. The token lives in sessionStorage
// (this tab only) and goes out as an Authorization header: no cookie, so no CSRF.
"use strict";

(function () {
  const TOKEN_KEY = "horus.coordinator.token";
  const POLL_MS = 1000;
  const SVG = "http://www.w3.org/2000/svg";
  const TERMINAL = new Set(["completed", "failed", "skipped", "cancelled"]);

  const state = {
    token: sessionStorage.getItem(TOKEN_KEY) || "",
    role: "",
    cancelRole: null, // the role workflow.cancel needs, from the OpenRPC document
    timer: null,
    generation: 0, // bumped at each navigation: answers for an older view are dropped
    nodes: new Map(), // step id -> {group, title, status} of the drawn DAG
    rpcId: 0,
    shown: "", // the JSON last rendered: an unchanged answer leaves the page as it is
  };

  const $ = (id) => document.getElementById(id);

  class Refused extends Error {
    constructor(message, reason, httpStatus) {
      super(message);
      this.reason = reason || "";
      this.httpStatus = httpStatus || 0;
    }
  }

  function authHeaders() {
    return { Authorization: "Bearer " + state.token };
  }

  async function rpc(method, params) {
    state.rpcId += 1;
    const response = await fetch("/", {
      method: "POST",
      headers: { ...authHeaders(), "Content-Type": "application/json" },
      body: JSON.stringify({ jsonrpc: "2.0", id: state.rpcId, method: method, params: params || {} }),
      referrerPolicy: "no-referrer",
      credentials: "omit",
    });
    const reply = await response.json();
    if (reply.error) {
      const reason = reply.error.data ? reply.error.data.reason : "";
      throw new Refused(reply.error.message, reason, response.status);
    }
    return reply.result;
  }

  async function getJson(path) {
    const response = await fetch(path, { headers: authHeaders(), referrerPolicy: "no-referrer", credentials: "omit" });
    const body = await response.json().catch(() => ({}));
    if (!response.ok) {
      const error = body.error || {};
      throw new Refused(error.message || "HTTP " + response.status, error.data ? error.data.reason : "", response.status);
    }
    return body;
  }

  // -- small DOM helpers ------------------------------------------------------------------
  function cell(row, text, className) {
    const td = document.createElement("td");
    td.textContent = text === null || text === undefined ? "" : String(text);
    if (className) td.className = className;
    row.appendChild(td);
    return td;
  }

  function when(seconds) {
    if (seconds === null || seconds === undefined) return "—";
    return new Date(seconds * 1000).toISOString().replace("T", " ").slice(0, 19) + " UTC";
  }

  function statusClass(status) {
    return /^[a-z_]+$/.test(status || "") ? "status-" + status : "status-unknown";
  }

  function badge(element, status) {
    element.textContent = status;
    element.className = "badge " + statusClass(status);
  }

  function notice(text) {
    const box = $("notice");
    box.textContent = text || "";
    box.hidden = !text;
  }

  function show(section) {
    for (const id of ["login", "list", "workflow"]) $(id).hidden = id !== section;
    const loggedIn = section !== "login";
    $("logout").hidden = !loggedIn;
    $("who").hidden = !loggedIn;
  }

  function may(role, required) {
    return required !== null && (role === "admin" || role === required);
  }

  // -- session ----------------------------------------------------------------------------
  function stopPolling() {
    if (state.timer !== null) clearTimeout(state.timer);
    state.timer = null;
  }

  function logout(message) {
    stopPolling();
    state.generation += 1;
    state.token = "";
    state.role = "";
    sessionStorage.removeItem(TOKEN_KEY);
    show("login");
    notice(message || "");
    $("token").value = "";
    $("token").focus();
  }

  async function startSession() {
    const session = await getJson("/ui/api/session");
    state.role = session.role;
    $("who").textContent = session.identity + " (" + session.role + ")";
    if (state.cancelRole === null) {
      try {
        const response = await fetch("/openrpc.json", { referrerPolicy: "no-referrer", credentials: "omit" });
        const doc = await response.json();
        const cancel = (doc.methods || []).find((m) => m.name === "workflow.cancel");
        state.cancelRole = cancel ? cancel["x-role"] || "user" : null;
      } catch (_error) {
        state.cancelRole = null; // no button; the method is still there for the CLI
      }
    }
  }

  async function onLogin(event) {
    event.preventDefault();
    state.token = $("token").value.trim();
    if (!state.token) return;
    try {
      await startSession();
    } catch (error) {
      logout("Token refused: " + error.message);
      return;
    }
    sessionStorage.setItem(TOKEN_KEY, state.token);
    notice("");
    route();
  }

  function failed(error) {
    if (error instanceof Refused && error.reason === "unauthenticated") {
      logout("Logged out: " + error.message);
      return true;
    }
    notice(error.message || String(error));
    return false;
  }

  function schedule(generation, poll) {
    if (generation !== state.generation) return;
    state.timer = setTimeout(poll, POLL_MS);
  }

  // -- the list ---------------------------------------------------------------------------
  function unchanged(data) {
    const text = JSON.stringify(data);
    if (text === state.shown) return true;
    state.shown = text;
    return false;
  }

  function renderList(page) {
    if (unchanged(page)) return;
    const rows = $("workflow-rows");
    rows.replaceChildren();
    for (const wf of page.workflows) {
      const row = document.createElement("tr");
      row.className = "link";
      row.dataset.workflow = wf.workflow_id;
      cell(row, wf.name || "(no name)");
      cell(row, wf.workflow_id, "mono");
      const status = cell(row, "");
      const span = document.createElement("span");
      badge(span, wf.status);
      status.appendChild(span);
      cell(row, when(wf.created_at), "nowrap");
      cell(row, when(wf.ended_at), "nowrap");
      cell(row, wf.steps, "num");
      row.addEventListener("click", () => {
        location.hash = "#/workflow/" + encodeURIComponent(wf.workflow_id);
      });
      rows.appendChild(row);
    }
    $("list-empty").hidden = page.workflows.length > 0;
    $("list-more").hidden = page.next_cursor === null;
  }

  function showList() {
    show("list");
    const generation = state.generation;
    const poll = async () => {
      try {
        const params = { limit: 100 };
        const status = $("status-filter").value;
        if (status) params.status = status;
        const page = await rpc("workflow.list", params);
        if (generation !== state.generation) return;
        renderList(page);
        notice("");
      } catch (error) {
        if (generation !== state.generation || failed(error)) return;
      }
      schedule(generation, poll);
    };
    poll();
  }

  // -- one workflow -----------------------------------------------------------------------
  function svg(name, attributes) {
    const element = document.createElementNS(SVG, name);
    for (const [key, value] of Object.entries(attributes || {})) element.setAttribute(key, String(value));
    return element;
  }

  function drawDag(layout) {
    const root = svg("svg", {
      width: layout.width,
      height: layout.height,
      viewBox: "0 0 " + layout.width + " " + layout.height,
      class: "dag-svg",
      role: "img",
      "aria-label": "workflow steps",
    });
    const marker = svg("marker", {
      id: "arrow",
      viewBox: "0 0 10 10",
      refX: 10,
      refY: 5,
      markerWidth: 7,
      markerHeight: 7,
      orient: "auto-start-reverse",
    });
    marker.appendChild(svg("path", { d: "M0,0 L10,5 L0,10 z", class: "arrow" }));
    const defs = svg("defs");
    defs.appendChild(marker);
    root.appendChild(defs);
    const edges = svg("g", { class: "edges" });
    for (const edge of layout.edges) {
      const path = svg("path", { d: edge.path, class: "edge", "marker-end": "url(#arrow)" });
      path.dataset.source = edge.source;
      path.dataset.target = edge.target;
      edges.appendChild(path);
    }
    root.appendChild(edges);
    const nodes = svg("g", { class: "nodes" });
    state.nodes = new Map();
    for (const node of layout.nodes) {
      const group = svg("g", { class: "node", transform: "translate(" + node.x + "," + node.y + ")" });
      group.dataset.step = node.id;
      const title = svg("title");
      title.textContent = node.id;
      group.appendChild(title);
      group.appendChild(svg("rect", { width: node.width, height: node.height, rx: 6 }));
      const label = svg("text", { x: 10, y: 18, class: "label" });
      label.textContent = node.label;
      group.appendChild(label);
      const status = svg("text", { x: 10, y: 35, class: "step-status" });
      group.appendChild(status);
      nodes.appendChild(group);
      state.nodes.set(node.id, { group: group, title: title, status: status });
    }
    root.appendChild(nodes);
    $("dag").replaceChildren(root);
  }

  function stepText(step) {
    if (step.status === "dispatched" && step.job_status) return "dispatched · " + step.job_status;
    if (step.attempt > 1) return step.status + " · attempt " + step.attempt;
    return step.status;
  }

  function paint(info) {
    if (unchanged(info)) return;
    $("wf-name").textContent = info.name || "(no name)";
    badge($("wf-status"), info.status);
    $("wf-id").textContent = info.workflow_id;
    $("wf-policy").textContent = info.policy;
    $("wf-started").textContent = when(info.created_at);
    $("wf-ended").textContent = when(info.ended_at);
    $("wf-submitter").textContent = info.submitter;
    const counts = new Map();
    for (const step of info.steps) counts.set(step.status, (counts.get(step.status) || 0) + 1);
    const parts = [info.steps.length + " steps"];
    for (const [status, count] of [...counts.entries()].sort()) parts.push(count + " " + status);
    $("wf-counts").textContent = parts.join(", ");
    $("wf-cancel").hidden = !(info.status === "running" && may(state.role, state.cancelRole));
    const rows = $("step-rows");
    rows.replaceChildren();
    for (const step of info.steps) {
      const drawn = state.nodes.get(step.id);
      if (drawn) {
        drawn.group.setAttribute("class", "node " + statusClass(step.status));
        drawn.group.dataset.status = step.status;
        drawn.status.textContent = stepText(step);
        drawn.title.textContent = step.id + " — " + stepText(step) + (step.error ? "\n" + step.error : "");
      }
      const row = document.createElement("tr");
      row.dataset.step = step.id;
      cell(row, step.id, "mono nowrap");
      cell(row, step.runner_id);
      const status = cell(row, "");
      const span = document.createElement("span");
      badge(span, step.status);
      status.appendChild(span);
      cell(row, step.attempt, "num");
      cell(row, step.job_status ? step.job_id + " (" + step.job_status + ")" : step.job_id, "mono");
      cell(row, when(step.started_at), "nowrap");
      cell(row, when(step.ended_at), "nowrap");
      cell(row, step.error, "error");
      rows.appendChild(row);
    }
  }

  function ended(info) {
    return info.status !== "running" && info.steps.every((s) => TERMINAL.has(s.status));
  }

  function showWorkflow(workflowId) {
    show("workflow");
    $("dag").replaceChildren();
    $("step-rows").replaceChildren();
    $("wf-name").textContent = workflowId;
    $("wf-cancel").hidden = true;
    $("wf-cancel").dataset.workflow = workflowId;
    const generation = state.generation;
    const poll = async () => {
      try {
        const info = await rpc("workflow.status", { workflow_id: workflowId });
        if (generation !== state.generation) return;
        paint(info);
        notice("");
        if (ended(info)) return; // nothing changes any more
      } catch (error) {
        if (generation !== state.generation || failed(error)) return;
      }
      schedule(generation, poll);
    };
    const first = async () => {
      try {
        const drawing = await getJson("/ui/api/workflows/" + encodeURIComponent(workflowId) + "/dag");
        if (generation !== state.generation) return;
        drawDag(drawing.layout);
        paint(drawing.workflow);
        if (ended(drawing.workflow)) return;
      } catch (error) {
        if (generation !== state.generation || failed(error)) return;
        if (error.httpStatus === 404) return;
      }
      schedule(generation, state.nodes.size ? poll : first);
    };
    first();
  }

  async function onCancel() {
    const workflowId = $("wf-cancel").dataset.workflow;
    if (!workflowId || !window.confirm("Cancel workflow " + workflowId + "? Its running steps' jobs are cancelled.")) {
      return;
    }
    try {
      const outcome = await rpc("workflow.cancel", { workflow_id: workflowId });
      notice("Workflow " + outcome.workflow_id + ": " + outcome.status);
    } catch (error) {
      failed(error);
    }
  }

  // -- routing ----------------------------------------------------------------------------
  function route() {
    stopPolling();
    state.generation += 1;
    state.shown = "";
    if (!state.token || !state.role) {
      show("login");
      return;
    }
    const match = /^#\/workflow\/(.+)$/.exec(location.hash);
    if (match) showWorkflow(decodeURIComponent(match[1]));
    else showList();
  }

  async function boot() {
    $("login-form").addEventListener("submit", onLogin);
    $("logout").addEventListener("click", () => logout(""));
    $("wf-cancel").addEventListener("click", onCancel);
    $("status-filter").addEventListener("change", route);
    window.addEventListener("hashchange", route);
    if (state.token) {
      try {
        await startSession();
      } catch (error) {
        logout("Logged out: " + error.message);
        return;
      }
    }
    route();
  }

  boot();
})();
