// Local execution console: executions list (live, with each upload's result), execution page
// (result, graph coloured by what happened, state details, history, previews, metadata) and an
// upload form that signs in to the stage's user pool and goes through the project's HTTP upload
// endpoint with the ID token, as any client of the deployed API does.
"use strict";

const app = document.getElementById("app");
const POLL_MS = 1500;
const STATUSES = ["succeeded", "failed", "caught", "retried", "running", "not-reached"];
const COLOURS = {
  succeeded: "fill:#dafbe1,stroke:#1a7f37,color:#1a7f37",
  failed: "fill:#ffebe9,stroke:#cf222e,color:#cf222e",
  caught: "fill:#fff1e5,stroke:#bc4c00,color:#bc4c00",
  retried: "fill:#fff8c5,stroke:#7d4e00,color:#7d4e00",
  running: "fill:#ddf4ff,stroke:#0969da,color:#0969da",
  "not-reached": "fill:#f6f8fa,stroke:#8c959f,color:#57606a",
};
// Mermaid draws labels at 16 px; the graph is never shrunk below this scale (12.8 px labels):
// where the page is narrower than that, the graph scrolls sideways in its own box.
const MIN_GRAPH_SCALE = 0.8;
// A catch-all shared by at least this many states is drawn only when taken, and its target
// says so: seven dotted edges into QuitMain would double the graph's width.
const SHARED_EXIT_SOURCES = 3;
let stack = null;
let timer = null;
const signedIn = new Map(); // username -> { token, sub, until } while the ID token is valid
let renderCount = 0;

// Tighter than Mermaid's defaults: the drawing fits a laptop's width with labels near full size.
mermaid.initialize({ startOnLoad: false, securityLevel: "strict", flowchart: { htmlLabels: false, nodeSpacing: 15, rankSpacing: 30, padding: 8, wrappingWidth: 120 } });

async function api(path) {
  const response = await fetch(`/_console/api/${path}`);
  if (!response.ok) throw new Error(`${path}: HTTP ${response.status}`);
  return response.json();
}

function el(tag, attributes = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (name.startsWith("on")) node.addEventListener(name.slice(2), value);
    else if (value !== null && value !== undefined && value !== false) node.setAttribute(name, value);
  }
  for (const child of children.flat()) node.append(child instanceof Node ? child : document.createTextNode(String(child ?? "")));
  return node;
}

const badge = (status) => el("span", { class: `badge ${status}`, "data-status": status }, status);
const resultBadge = (result) => el("span", { class: `badge result ${result.result}`, "data-result": result.result, title: result.summary }, result.summary);
const executionLink = (arn, text) => el("a", { href: `#/execution/${encodeURIComponent(arn)}` }, text);
const objectUrl = (bucket, key) => `/_console/api/object?bucket=${encodeURIComponent(bucket)}&key=${encodeURIComponent(key)}`;
const pretty = (value) => el("pre", {}, value === null || value === undefined ? "—" : JSON.stringify(value, null, 2));
const seconds = (value) => (value === null || value === undefined ? "—" : `${value.toFixed(2)} s`);

function route() {
  clearTimeout(timer);
  const match = location.hash.match(/^#\/execution\/(.+)$/);
  if (match) showExecution(decodeURIComponent(match[1]));
  else showList();
}

// ---- executions list --------------------------------------------------------------------
async function showList() {
  const filter = el("select", { id: "status-filter", "aria-label": "Filter by status", onchange: refresh },
    el("option", { value: "" }, "all statuses"),
    ...["RUNNING", "SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED"].map((s) => el("option", { value: s }, s)));
  const resultFilter = el("select", { id: "result-filter", "aria-label": "Filter by result", onchange: refresh },
    el("option", { value: "" }, "all results"), ...stack.results.map((r) => el("option", { value: r }, r)));
  const file = el("input", { type: "file", id: "upload-file", accept: "image/jpeg,image/*", required: true });
  const user = el("input", { type: "text", id: "upload-user", value: "console", required: true, pattern: "[^\\s]{1,128}", size: 12, autocomplete: "username" });
  const message = el("span", { id: "upload-message", role: "status" });
  const form = el("form", { id: "upload-form", onsubmit: (event) => upload(event, file, user, message) },
    el("label", {}, "Photo", file), el("label", {}, "Sign in as", user), el("button", { type: "submit" }, "Upload"), message);
  const body = el("tbody", { id: "executions" });
  app.replaceChildren(
    el("div", { class: "toolbar" }, el("label", {}, "Result", resultFilter), el("label", {}, "Status", filter), form),
    el("table", { class: "executions" }, el("thead", {}, el("tr", {}, ["File / key", "Result", "Status", "Started", "Duration"].map((h) => el("th", { scope: "col" }, h)))), body),
  );
  async function refresh() {
    clearTimeout(timer);
    try {
      const executions = await api(`executions?status=${encodeURIComponent(filter.value)}&result=${encodeURIComponent(resultFilter.value)}`);
      body.replaceChildren(...executions.map((e) => el("tr", { "data-status": e.status, "data-result": e.result.result },
        el("td", { class: "key" }, executionLink(e.arn, e.key || e.name)),
        el("td", { class: "result" }, resultBadge(e.result)),
        el("td", {}, badge(e.status)),
        el("td", { class: "started" }, new Date(e.start).toLocaleTimeString()),
        el("td", {}, seconds(e.seconds)))));
      const filtered = filter.value || resultFilter.value;
      if (!executions.length) body.replaceChildren(el("tr", {}, el("td", { colspan: 5, class: "muted" }, filtered ? "No executions match the filters." : "No executions yet: upload a photo.")));
    } catch (error) {
      body.replaceChildren(el("tr", {}, el("td", { colspan: 5, class: "error" }, error.message)));
    }
    if (!location.hash.startsWith("#/execution/")) timer = setTimeout(refresh, POLL_MS);
  }
  refresh();
}

// A user of the local user pool and an ID token (the console's local sign-in route creates the
// user if needed); reused until a minute before it expires.
async function signIn(username) {
  const known = signedIn.get(username);
  if (known && known.until > Date.now()) return known;
  const response = await fetch("/_console/api/token", {
    method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify({ username }),
  });
  const answer = await response.json();
  if (!response.ok) throw new Error(`Sign-in failed: ${answer.error}`);
  const session = { token: answer.token, sub: answer.sub, until: Date.now() + (answer.expiresIn - 60) * 1000 };
  signedIn.set(username, session);
  return session;
}

async function upload(event, file, user, message) {
  event.preventDefault();
  const photo = file.files[0];
  if (!photo) return;
  message.className = "";
  let session;
  try { session = await signIn(user.value); }
  catch (error) { message.textContent = error.message; message.className = "error"; return; }
  message.textContent = `Signed in as ${user.value}; uploading…`;
  const response = await fetch(stack.uploadUrl, {
    method: "POST", body: photo,
    headers: { "Content-Type": photo.type || "image/jpeg", Authorization: session.token, "X-Filename": photo.name },
  });
  const result = await response.json();
  if (!response.ok) { message.textContent = `Rejected (${response.status}): ${result.error || result.message}`; message.className = "error"; return; }
  message.textContent = `Stored as ${result.key} (signed in as ${user.value}); waiting for its execution…`;
  for (let tries = 0; tries < 60; tries++) {
    const found = (await api("executions")).find((e) => e.key === result.key);
    if (found) { location.hash = `#/execution/${encodeURIComponent(found.arn)}`; return; }
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
  message.textContent = `Stored as ${result.key}, but no execution started.`;
}

// What a Lambda Task's latest attempt used here, and its predicted duration and cost on Lambda.
function usageView(usage) {
  const seconds = (ms) => `${(ms / 1000).toFixed(ms < 10000 ? 2 : 1)} s`;
  const peak = usage.peakMb == null ? "?" : Math.round(usage.peakMb);
  const here = `Here: ${seconds(usage.localMs)}, peak memory ${peak} of ${usage.memoryMb} MB`;
  const lambda = usage.lambdaMs == null ? "" : ` · on Lambda (predicted): ${seconds(usage.lambdaMs)}` +
    (usage.lambdaInitMs ? ` + ${seconds(usage.lambdaInitMs)} start-up` : "") +
    `, ${usage.billedGbSeconds.toFixed(3)} GB-s, $${usage.usd.toFixed(7)}`;
  return el("p", { id: "state-usage" }, here + lambda);
}

// ---- execution page ---------------------------------------------------------------------
async function showExecution(arn) {
  let selected = null;
  let drawn = "";
  const graph = el("div", { id: "graph", role: "img", "aria-label": "State machine graph" });
  const stateList = el("ul", { class: "states", id: "state-list", "aria-label": "States" });
  const details = el("div", { id: "state-details" });
  const closeState = el("button", { type: "button", class: "close", "aria-label": "Close the state details", onclick: () => select(null) }, "×");
  // Shown only while a state is selected, as a sheet at the bottom of the window (style.css):
  // the graph keeps the page's width.
  const statePanel = el("section", { class: "panel", id: "state-panel", "aria-label": "Selected state", hidden: true },
    el("div", { class: "panel-title" }, el("h2", {}, "State"), closeState), details);
  const header = el("div", { id: "execution-header" });
  // What a user came for first (result, previews, record), then how it went (graph, states).
  const summary = el("div", { id: "summary" });
  const extras = el("div", { id: "extras" });
  const graphPanel = el("section", { class: "panel", id: "graph-panel" }, el("h2", {}, "Graph"),
    el("div", { class: "legend" }, STATUSES.map(badge)),
    el("p", { class: "muted hint" }, "Click a state (or its button below) for its input, output and error. ",
      "Dotted: Catch rules; a catch-all shared by many states is drawn only when taken."),
    graph, el("h2", {}, "States"), stateList);
  app.replaceChildren(header, summary, graphPanel, statePanel, extras);
  let execution;
  const statusOf = (name) => (execution.states[name] || { status: "not-reached" }).status;

  function select(name) {
    const previous = selected;
    selected = name;
    for (const button of stateList.querySelectorAll("button")) button.setAttribute("aria-pressed", String(button.dataset.state === name));
    for (const node of graph.querySelectorAll("[data-state]")) node.classList.toggle("selected", node.dataset.state === name);
    statePanel.hidden = !name;
    if (name) {
      showState(name);
      statePanel.scrollIntoView({ block: "nearest" });
    } else {
      stateList.querySelector(`button[data-state="${CSS.escape(previous)}"]`)?.focus();
    }
  }
  function showState(name) {
    const state = execution.states[name];
    details.replaceChildren(el("h3", { id: "selected-state" }, name, " ", badge(statusOf(name))),
      state ? el("div", {},
        el("p", {}, `Type: ${state.type}` + (state.attempts ? ` · attempts: ${state.attempts} (failed: ${state.failures})` : "")),
        state.usage ? usageView(state.usage) : "",
        state.error ? el("div", { id: "state-error" }, el("strong", { class: "error" }, state.error), pretty(tryJson(state.cause))) : "",
        el("div", { class: "io" }, el("div", {}, el("h4", {}, "Input"), pretty(state.input)), el("div", {}, el("h4", {}, "Output"), pretty(state.output))))
        : el("p", { class: "muted" }, "Not reached in this execution."));
  }
  for (const panel of [graphPanel, statePanel]) panel.addEventListener("keydown", (event) => { if (event.key === "Escape" && selected) select(null); });

  async function refresh() {
    try { execution = await api(`execution?arn=${encodeURIComponent(arn)}`); }
    catch (error) { header.replaceChildren(el("p", { class: "error" }, error.message)); return; }
    const names = allStates(stack.definition);
    header.replaceChildren(el("p", {}, el("a", { href: "#/" }, "← executions")),
      el("h2", {}, execution.key || execution.name, " ", el("span", { id: "execution-status" }, badge(execution.status)),
        " ", el("span", { id: "execution-result" }, resultBadge(execution.result))),
      execution.error ? el("p", { class: "error", id: "execution-error" }, `${execution.error}: ${execution.cause || ""}`) : "",
      execution.duplicateOf ? duplicateNotice(execution.duplicateOf) : "");
    const key = JSON.stringify(names.map(statusOf));
    if (key !== drawn) {
      drawn = key;
      await drawGraph(graph, stack.definition, statusOf, (name) => select(name));
      if (selected) for (const node of graph.querySelectorAll("[data-state]")) node.classList.toggle("selected", node.dataset.state === selected);
    }
    stateList.replaceChildren(...names.map((name) => el("li", {}, el("button", {
      type: "button", class: statusOf(name), "data-state": name, "data-status": statusOf(name),
      "aria-pressed": String(name === selected), onclick: () => select(name),
    }, `${name} · ${statusOf(name)}`))));
    if (selected) showState(selected);
    summary.replaceChildren(
      el("section", { class: "panel", id: "outputs-panel" }, el("h2", {}, "Outputs"), execution.previews.length
        ? el("div", { class: "previews", id: "previews" }, execution.previews.map((p) => el("figure", {},
          el("img", { src: objectUrl(p.bucket, p.key), alt: `${p.kind} of the photo` }),
          el("figcaption", {}, `${p.kind}: ${p.key}${p.bytes ? ` (${Math.round(p.bytes / 1024)} KiB)` : ""}`))))
        : el("p", { class: "muted" }, execution.duplicateOf ? "No outputs written: the photo's outputs are those of the upload it duplicates." : "No outputs written.")),
      el("section", { class: "panel", id: "metadata-panel" }, el("h2", {}, "Metadata item (DynamoDB)"), el("div", { id: "metadata" }, metadataView(execution))));
    extras.replaceChildren(
      el("section", { class: "panel" }, el("details", {}, el("summary", {}, `Event history (${execution.history.length} events)`),
        el("table", { id: "history" }, el("tbody", {}, execution.history.map((e) => el("tr", {},
          el("td", {}, e.id), el("td", {}, e.type), el("td", {}, new Date(e.timestamp).toLocaleTimeString()),
          el("td", {}, e.details ? el("pre", {}, JSON.stringify(e.details, null, 1)) : ""))))))),
    );
    if (execution.status === "RUNNING") timer = setTimeout(refresh, POLL_MS);
  }
  refresh();
}

function duplicateNotice(of) {
  const target = of.key || of.photoId || "an earlier upload";
  return el("div", { class: "notice duplicate", id: "duplicate-of" },
    of.thumbnail ? el("img", { src: objectUrl(of.thumbnail.bucket, of.thumbnail.key), alt: "thumbnail of the photo it duplicates" }) : "",
    el("p", {}, "Duplicate of ", of.execution ? executionLink(of.execution, target) : el("strong", {}, target),
      of.match ? ` (${of.match} match)` : "", ": this upload was not processed or recorded again.",
      of.execution || of.otherUser ? "" : " The execution that processed it is no longer listed."));
}

function metadataView(execution) {
  if (execution.metadata) return pretty(execution.metadata);
  const of = execution.duplicateOf;
  if (of && of.item) {
    return el("div", {}, el("p", {}, "No item for this upload. The item recorded for the photo it duplicates, uploaded as ",
      of.execution ? executionLink(of.execution, of.key) : el("strong", {}, of.key || of.photoId), ":"), pretty(of.item));
  }
  return el("p", { class: "muted" }, "No item recorded for this upload.");
}

function tryJson(text) { try { return JSON.parse(text); } catch { return text; } }

// ---- graph ------------------------------------------------------------------------------
function allStates(definition) {
  const names = [];
  (function collect(states) {
    for (const [name, state] of Object.entries(states)) {
      names.push(name);
      for (const branch of state.Branches || []) collect(branch.States);
    }
  })(definition.States);
  return names;
}

function describeRule(rule) {
  if (rule.Or) return rule.Or.map(describeRule).join(" or ");
  if (rule.And) return rule.And.map(describeRule).join(" and ");
  if (rule.Not) return `not ${describeRule(rule.Not)}`;
  const field = (rule.Variable || "").split(".").slice(-2).join(".");
  const test = Object.keys(rule).find((k) => !["Variable", "Next"].includes(k));
  // Strings in typographic quotes: a straight quote would be escaped for Mermaid (#quot;) and
  // shown as `&quot;` in a text label.
  const value = typeof rule[test] === "string" ? `“${rule[test]}”` : JSON.stringify(rule[test]);
  return `${field} ${test} ${value}`;
}

function mermaidText(definition, statusOf) {
  const ids = new Map();
  const id = (name) => { if (!ids.has(name)) ids.set(name, `S${ids.size}`); return ids.get(name); };
  const quote = (text) => `"${String(text).replace(/"/g, "#quot;")}"`;
  const lines = ["flowchart TD", `  start((" ")) --> ${id(definition.StartAt)}`];
  const edges = [];
  const parallel = new Set();  // drawn as subgraphs, which take a style rather than a class
  const shared = sharedExits(definition);
  const label = (name) => (shared.has(name) ? `${name} (catch-all of ${shared.get(name)} states)` : name);
  (function walk(states, indent) {
    for (const [name, state] of Object.entries(states)) {
      if (state.Type === "Parallel") {
        parallel.add(name);
        // Branches are independent chains inside one subgraph: the layout puts them side by side.
        lines.push(`${indent}subgraph ${id(name)} [${quote(`${name} (Parallel)`)}]`, `${indent}  direction TB`);
        for (const branch of state.Branches) walk(branch.States, `${indent}  `);
        lines.push(`${indent}end`);
      } else if (state.Type === "Choice") lines.push(`${indent}${id(name)}{${quote(label(name))}}`);
      else if (state.Type === "Fail" || state.Type === "Succeed") lines.push(`${indent}${id(name)}([${quote(label(name))}])`);
      else lines.push(`${indent}${id(name)}[${quote(label(name))}]`);
      if (state.Next) edges.push(`  ${id(name)} --> ${id(state.Next)}`);
      for (const rule of state.Choices || []) edges.push(`  ${id(name)} -- ${quote(describeRule(rule))} --> ${id(rule.Next)}`);
      if (state.Default) edges.push(`  ${id(name)} -- "default" --> ${id(state.Default)}`);
      for (const katch of state.Catch || []) {
        const errors = katch.ErrorEquals.filter((e) => e !== "States.ALL");
        const taken = statusOf(name) === "caught" && statusOf(katch.Next) !== "not-reached";
        if (!errors.length && shared.has(katch.Next) && !taken) continue;
        edges.push(`  ${id(name)} -. ${quote(errors.length ? `catch ${errors.join(", ")}` : "catch")} .-> ${id(katch.Next)}`);
      }
    }
  })(definition.States, "  ");
  lines.push(...edges);
  for (const [status, colour] of Object.entries(COLOURS)) lines.push(`  classDef ${status} ${colour}`);
  for (const [name, nodeId] of ids) {
    if (parallel.has(name)) lines.push(`  style ${nodeId} ${COLOURS[statusOf(name)]}`);
    else lines.push(`  class ${nodeId} ${statusOf(name)}`);
  }
  return { text: lines.join("\n"), ids };
}

// States that the catch-all (States.ALL) Catch rules of many states lead to, and how many.
function sharedExits(definition) {
  const sources = new Map();
  (function walk(states) {
    for (const state of Object.values(states)) {
      for (const katch of state.Catch || []) {
        if (katch.ErrorEquals.every((e) => e === "States.ALL")) sources.set(katch.Next, (sources.get(katch.Next) || 0) + 1);
      }
      for (const branch of state.Branches || []) walk(branch.States);
    }
  })(definition.States);
  return new Map([...sources].filter(([, count]) => count >= SHARED_EXIT_SOURCES));
}

async function drawGraph(container, definition, statusOf, onSelect) {
  const { text, ids } = mermaidText(definition, statusOf);
  const { svg } = await mermaid.render(`graph${renderCount++}`, text);
  const first = !container.firstChild;
  const scrolled = container.scrollLeft;
  container.innerHTML = svg;
  const drawing = container.querySelector("svg");
  drawing.style.minWidth = `${drawing.viewBox.baseVal.width * MIN_GRAPH_SCALE}px`;
  // Wider than a narrow window: start at the middle, where the workflow's main path runs.
  container.scrollLeft = first ? (container.scrollWidth - container.clientWidth) / 2 : scrolled;
  const byId = new Map([...ids].map(([name, nodeId]) => [nodeId, name]));
  for (const node of container.querySelectorAll("g.node, g.cluster")) {
    const nodeId = (node.id.match(/(?:flowchart-)?(S\d+)(?:-\d+)?$/) || [])[1];
    const name = byId.get(nodeId);
    if (!name) continue;
    node.dataset.state = name;
    node.dataset.status = statusOf(name);
    node.addEventListener("click", (event) => { event.stopPropagation(); onSelect(name); });
  }
}

// ---- start ------------------------------------------------------------------------------
(async function start() {
  stack = await api("stack");
  document.getElementById("stack").textContent = stack.name ? `stack ${stack.name} · stage ${stack.stage}` : "no stack deployed yet";
  if (!stack.name) { app.textContent = "Deploy the project first (python -m localcloud up)."; return; }
  window.addEventListener("hashchange", route);
  route();
})();
