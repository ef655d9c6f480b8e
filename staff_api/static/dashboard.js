// The staff dashboard: an employee form, a grid of employees, and charts of both services' logs.
//
// Plain browser JavaScript, no framework and no build step: read it top to bottom. A file of its
// own, not a <script> in the page, because the page's Content-Security-Policy runs only scripts
// served by the staff API. Every address is relative ("employees", not "/employees"), so the
// page works at / and under a prefix (/staff/). Text from the API is always put in the page with
// textContent, never innerHTML: a name such as "<img onerror=...>" stays a name.
"use strict";

const $ = (id) => document.getElementById(id);
const PER_PAGE = 10;
const REFRESH_MS = 5000;  // how often the charts ask for fresh log summaries
const FORM_FIELDS = ["name", "email", "role", "cep", "number", "complement"];
const ADDRESS_FIELDS = ["logradouro", "bairro", "localidade", "uf"];
// Where the CEP API's log summary is: dashboard.py writes it into the page.
const CEP_LOGS_URL = document.querySelector('meta[name="cep-api-logs"]').content;

const grid = {page: 1, q: "", uf: "", pages: 1};
let editing = null;  // the employee being edited, or null when the form creates one
let lastCep = "";    // the 8 digits whose address the form shows (or is fetching)


// --- Calling the APIs ---------------------------------------------------------------------

// A token per service, kept for this browser tab only (sessionStorage is gone when it closes).
const TOKEN_KEYS = {staff: "cep-staff.staff-token", cep: "cep-staff.cep-token"};
const tokenAsked = {};     // service -> the pending question, so that parallel 401s ask once
const tokenDeclined = {};  // service -> true once "Not now" was clicked

// fetch() with the service's token, JSON in and out. Answers {status, headers, data}; a 401 asks
// for the token once and tries again with it. A network failure answers status 0.
async function call(service, method, url, body) {
  const headers = {Accept: "application/json"};
  const token = sessionStorage.getItem(TOKEN_KEYS[service]);
  if (token) headers.Authorization = "Bearer " + token;
  const options = {method, headers};
  if (body !== undefined) {
    headers["Content-Type"] = "application/json";
    options.body = JSON.stringify(body);
  }
  let response;
  try {
    response = await fetch(url, options);
  } catch (error) {  // refused connection, CORS refusal, offline
    return {status: 0, headers: new Headers(), data: null};
  }
  if (response.status === 401 && !tokenDeclined[service]) {
    // Another call may have been given a new token while this one waited for its answer.
    const changed = sessionStorage.getItem(TOKEN_KEYS[service]) !== token;
    if (changed || await askToken(service, token)) return call(service, method, url, body);
  }
  const data = response.status === 204 ? null : await response.json().catch(() => null);
  return {status: response.status, headers: response.headers, data};
}

// Ask for a service's token, once however many calls were refused; one question at a time.
let tokenQueue = Promise.resolve();
function askToken(service, refused) {
  if (!tokenAsked[service]) {
    tokenAsked[service] = tokenQueue = tokenQueue.then(() => showTokenForm(service, refused));
  }
  return tokenAsked[service];
}

// Show the token form (not window.prompt: it can be labelled, and a password field hides the
// token); resolve true once a token is typed, false on "Not now".
function showTokenForm(service, refused) {
  return new Promise((resolve) => {
    const form = $("token-form");
    const name = service === "staff" ? "the staff API (STAFF_API_TOKEN)" : "the CEP API's logs (CEP_API_TOKEN)";
    $("token-title").textContent = service === "staff" ? "The staff API needs a token" : "The CEP API needs a token";
    $("token-why").textContent = (refused ? "That token was refused. " : "") + "Type the token of " + name + ".";
    $("token-input").value = "";
    form.hidden = false;
    $("token-input").focus();
    const finish = (token) => {
      form.hidden = true;
      form.onsubmit = $("token-cancel").onclick = null;
      delete tokenAsked[service];
      if (token) sessionStorage.setItem(TOKEN_KEYS[service], token);
      else tokenDeclined[service] = true;
      resolve(Boolean(token));
    };
    form.onsubmit = (event) => { event.preventDefault(); finish($("token-input").value.trim()); };
    $("token-cancel").onclick = () => finish("");
  });
}

// The sentence an error answer carries, or a fallback when there is none.
function errorMessage(answer, fallback) {
  if (answer.status === 0) return fallback + " (the service did not answer)";
  return (answer.data && answer.data.error && answer.data.error.message) || `${fallback} (HTTP ${answer.status})`;
}

function say(element, text, ok) {
  element.textContent = text;
  element.className = ok ? "message-ok" : "message-error";
}


// --- The form: address from the CEP, create or edit -----------------------------------------

function cepDigits(text) {
  const match = /^\s*(\d{5})-?(\d{3})\s*$/.exec(text);
  return match ? match[1] + match[2] : null;
}

function showAddress(address) {
  for (const name of ADDRESS_FIELDS) $("a-" + name).value = (address && address[name]) || "";
}

// As soon as the CEP field holds a whole CEP, show its address (before the form is sent).
async function lookUpCep() {
  const digits = cepDigits($("f-cep").value);
  if (digits === lastCep) return;
  lastCep = digits || "";
  showAddress(null);
  const status = $("cep-status");
  if (!digits) {
    status.textContent = "Type a CEP to see its address.";
    status.className = "";
    return;
  }
  status.textContent = "Looking up the CEP…";
  status.className = "";
  const answer = await call("staff", "GET", "addresses/" + digits);
  if (digits !== lastCep) return;  // the CEP changed while we waited: a newer lookup answers
  const cache = answer.headers.get("X-Cep-Cache");
  const how = cache ? ` (cache: ${cache})` : "";
  if (answer.status === 200) {
    showAddress(answer.data);
    say(status, `Address found${how}.`, true);
  } else if (answer.status === 404) {
    say(status, `Unknown CEP: ${errorMessage(answer, "no such CEP")}${how}`);
  } else if (answer.status === 503) {
    say(status, "The CEP service is down and this CEP is not cached: its address cannot be checked now.");
  } else {
    say(status, errorMessage(answer, "The address could not be looked up"));
  }
}

function clearFieldErrors() {
  for (const name of FORM_FIELDS) {
    $("e-" + name).textContent = "";
    $("f-" + name).removeAttribute("aria-invalid");
  }
}

// Put a 422's messages next to their inputs; what has no input of its own goes under the form.
function showFieldErrors(fields) {
  const others = [];
  for (const [name, why] of Object.entries(fields || {})) {
    if (FORM_FIELDS.includes(name)) {
      $("e-" + name).textContent = why;
      $("f-" + name).setAttribute("aria-invalid", "true");
    } else {
      others.push(`${name}: ${why}`);
    }
  }
  return others.join("; ");
}

function resetForm() {
  editing = null;
  $("employee-form").reset();
  clearFieldErrors();
  lastCep = "";
  showAddress(null);
  $("cep-status").textContent = "";
  $("form-title").textContent = "New employee";
  $("save").textContent = "Create employee";
  $("cancel-edit").hidden = true;
}

function startEditing(employee) {
  resetForm();
  editing = employee;
  for (const name of FORM_FIELDS) $("f-" + name).value = employee[name] || "";
  lastCep = cepDigits(employee.cep) || "";
  showAddress(employee.address);
  $("form-title").textContent = `Edit employee #${employee.id}`;
  $("save").textContent = "Save changes";
  $("cancel-edit").hidden = false;
  $("form-message").textContent = "";
  $("f-name").focus();
}

async function submitForm(event) {
  event.preventDefault();
  clearFieldErrors();
  const body = {};
  for (const name of FORM_FIELDS) body[name] = $("f-" + name).value.trim();
  // PUT: the form holds every field of the employee, so it replaces them all.
  const answer = editing
    ? await call("staff", "PUT", "employees/" + editing.id, body)
    : await call("staff", "POST", "employees", body);
  const message = $("form-message");
  if (answer.status === 201 || answer.status === 200) {
    const cache = answer.headers.get("X-Cep-Cache");
    const verb = answer.status === 201 ? "Created" : "Saved";
    resetForm();
    say(message, `${verb} employee #${answer.data.id}, ${answer.data.name}` +
        (cache ? ` (address from the cache: ${cache}).` : "."), true);
    await loadGrid();
  } else if (answer.status === 503) {
    say(message, "The CEP service is down and this CEP is not cached: nothing was saved. Try again later.");
  } else {
    const fields = answer.data && answer.data.error && answer.data.error.fields;
    const others = showFieldErrors(fields);
    say(message, errorMessage(answer, "Not saved") + (others ? ` (${others})` : ""));
  }
}


// --- The grid: paging, search, UF filter, edit and delete -----------------------------------

async function loadGrid() {
  const query = new URLSearchParams({page: grid.page, per_page: PER_PAGE});
  if (grid.q) query.set("q", grid.q);
  if (grid.uf) query.set("uf", grid.uf);
  const answer = await call("staff", "GET", "employees?" + query);
  if (answer.status !== 200) {
    say($("grid-message"), errorMessage(answer, "The employees could not be loaded"));
    return;
  }
  const {items, page, per_page: perPage, total} = answer.data;
  grid.pages = Math.max(1, Math.ceil(total / perPage));
  if (items.length === 0 && page > 1) {  // the last row of the last page was deleted
    grid.page = grid.pages;
    return loadGrid();
  }
  $("grid-message").textContent = total ? "" : "No employees match.";
  $("grid-message").className = "";
  $("page-info").textContent = `Page ${page} of ${grid.pages} (${total} employees)`;
  $("prev").disabled = page <= 1;
  $("next").disabled = page >= grid.pages;
  $("grid").tBodies[0].replaceChildren(...items.map(gridRow));
}

function cell(text) {
  const td = document.createElement("td");
  td.textContent = text;
  return td;
}

function button(text, label, onClick, className) {
  const b = document.createElement("button");
  b.type = "button";
  b.textContent = text;
  b.setAttribute("aria-label", label);  // "Edit Ana Souza", not just "Edit", for screen readers
  if (className) b.className = className;
  b.addEventListener("click", onClick);
  return b;
}

function gridRow(employee) {
  const row = document.createElement("tr");
  const a = employee.address || {};
  const street = [a.logradouro, employee.number, employee.complement].filter(Boolean).join(", ");
  row.append(cell(employee.id), cell(employee.name), cell(employee.email), cell(employee.role),
             cell(employee.cep), cell(`${street} — ${a.bairro ? a.bairro + ", " : ""}${a.localidade}/${a.uf}`));
  const actions = document.createElement("td");
  actions.className = "actions";
  const normal = () => actions.replaceChildren(
    button("Edit", `Edit ${employee.name}`, () => startEditing(employee)), " ",
    button("Delete", `Delete ${employee.name}`, confirmDelete));
  // Deleting asks first, in the row itself: a second button that says what it will do.
  function confirmDelete() {
    actions.replaceChildren(
      button("Yes, delete", `Yes, delete ${employee.name}`, () => deleteEmployee(employee), "danger"), " ",
      button("Keep", `Keep ${employee.name}`, normal));
    actions.querySelector("button").focus();
  }
  normal();
  row.append(actions);
  return row;
}

async function deleteEmployee(employee) {
  const answer = await call("staff", "DELETE", "employees/" + employee.id);
  if (answer.status === 204 || answer.status === 404) {  // 404: someone else deleted it first
    if (editing && editing.id === employee.id) resetForm();
    say($("grid-message"), `Deleted employee #${employee.id}, ${employee.name}.`, true);
    await loadGrid();
  } else {
    say($("grid-message"), errorMessage(answer, "Not deleted"));
  }
}


// --- Charts: inline SVG drawn here, from GET logs/summary of both services ------------------

const SVG = "http://www.w3.org/2000/svg";
const WIDTH = 640, HEIGHT = 240;
const PLOT = {left: 52, right: 12, top: 14, bottom: 40};  // room for the axes' labels
const MINUTE = 60000;
const STATUS_CLASSES = ["2xx", "3xx", "4xx", "5xx"];

function svg(name, attributes, parent) {
  const element = document.createElementNS(SVG, name);
  for (const [key, value] of Object.entries(attributes)) element.setAttribute(key, value);
  if (parent) parent.append(element);
  return element;
}

function svgText(parent, x, y, text, attributes) {
  svg("text", {x, y, ...attributes}, parent).textContent = text;
}

function niceMax(value) {
  if (!(value > 0)) return 1;
  const step = 10 ** Math.floor(Math.log10(value));
  return [1, 2, 2.5, 5, 10].map((m) => m * step).find((m) => m >= value);
}

function clock(time) {
  return new Date(time).toLocaleTimeString([], {hour: "2-digit", minute: "2-digit"});
}

// Clear `chart`, draw its axes for minutes [start, end] and values [0, yMax]; answer the scales.
function frame(chart, start, end, yMax, yTitle) {
  chart.replaceChildren();
  const right = WIDTH - PLOT.right, bottom = HEIGHT - PLOT.bottom;
  const slot = (right - PLOT.left) / ((end - start) / MINUTE + 1);  // one minute's width
  const x = (time) => PLOT.left + ((time - start) / MINUTE + 0.5) * slot;
  const y = (value) => bottom - (value / yMax) * (bottom - PLOT.top);
  for (const fraction of [0, 0.5, 1]) {
    const value = yMax * fraction;
    svg("line", {x1: PLOT.left, x2: right, y1: y(value), y2: y(value), class: "grid-line"}, chart);
    svgText(chart, PLOT.left - 6, y(value) + 4, Number(value.toPrecision(3)), {class: "tick", "text-anchor": "end"});
  }
  const middle = start + Math.round((end - start) / 2 / MINUTE) * MINUTE;
  for (const [time, anchor] of [[start, "start"], [middle, "middle"], [end, "end"]]) {
    svgText(chart, x(time), bottom + 15, clock(time), {class: "tick", "text-anchor": anchor});
  }
  svg("line", {x1: PLOT.left, x2: PLOT.left, y1: PLOT.top, y2: bottom, class: "axis"}, chart);
  svg("line", {x1: PLOT.left, x2: right, y1: bottom, y2: bottom, class: "axis"}, chart);
  svgText(chart, (PLOT.left + right) / 2, HEIGHT - 6, "minute (local time)", {class: "axis-title", "text-anchor": "middle"});
  svgText(chart, 12, (PLOT.top + bottom) / 2, yTitle,
          {class: "axis-title", "text-anchor": "middle", transform: `rotate(-90 12 ${(PLOT.top + bottom) / 2})`});
  return {x, y, slot};
}

function note(chart, text, className) {
  svgText(chart, WIDTH / 2, HEIGHT / 2, text, {class: className, "text-anchor": "middle"});
}

// A marker at (x, y): circles for the staff API, squares for the CEP API (not colour alone).
function marker(parent, shape, x, y, className) {
  return shape === "square"
    ? svg("rect", {x: x - 3.5, y: y - 3.5, width: 7, height: 7, class: "marker " + className}, parent)
    : svg("circle", {cx: x, cy: y, r: 3.5, class: "marker " + className}, parent);
}

// One legend entry: a small SVG sample of the line or bar, then its name in words.
function legendItem(list, text, draw) {
  const item = document.createElement("li");
  const sample = svg("svg", {viewBox: "0 0 34 14", "aria-hidden": "true"}, item);
  draw(sample);
  item.append(text);
  list.append(item);
}

function minuteRows(summary) {
  return ((summary && summary.series) || []).map((row) => ({...row, time: Date.parse(row.minute)}));
}

function drawLatency(staff, cep, start, end) {
  const chart = $("chart-latency"), legend = $("legend-latency");
  const lines = [];
  for (const [service, summary, shape] of [["staff", staff, "circle"], ["cep", cep, "square"]]) {
    if (!summary) continue;
    for (const percentile of ["p50", "p95"]) {
      lines.push({service, percentile, shape, rows: minuteRows(summary).filter((r) => r[percentile + "_ms"] != null)});
    }
  }
  const yMax = niceMax(Math.max(0, ...lines.flatMap((l) => l.rows.map((r) => r[l.percentile + "_ms"]))));
  const {x, y} = frame(chart, start, end, yMax, "milliseconds");
  legend.replaceChildren();
  for (const line of lines.filter((l) => l.rows.length)) {
    const className = `${line.service} ${line.percentile}`;
    const key = line.percentile + "_ms";
    const d = line.rows.map((r, i) => `${i ? "L" : "M"}${x(r.time).toFixed(1)} ${y(r[key]).toFixed(1)}`).join(" ");
    svg("path", {d, class: "series " + className}, chart);
    for (const r of line.rows) {
      const dot = marker(chart, line.shape, x(r.time), y(r[key]), className);
      svg("title", {}, dot).textContent = `${line.service} ${line.percentile} at ${clock(r.time)}: ${r[key]} ms`;
    }
    const name = line.service === "staff" ? "staff API" : "CEP API";
    const looks = `${line.percentile === "p50" ? "solid" : "dashed"} line, ${line.shape === "circle" ? "circles" : "squares"}`;
    legendItem(legend, `${name} ${line.percentile} (${looks})`, (sample) => {
      svg("path", {d: "M2 7 L32 7", class: "series " + className}, sample);
      marker(sample, line.shape, 17, 7, className);
    });
  }
  if (!cep) legendItem(legend, "CEP API logs unavailable", () => {});
  if (!lines.some((l) => l.rows.length)) note(chart, "No requests logged yet", "empty-note");
}

// Bars per minute: `keys` stacked (status classes) or side by side (hits, misses).
function drawBars(chart, legend, summary, start, end, keys, stacked, names) {
  const rows = minuteRows(summary);
  const height = (r) => stacked ? keys.reduce((sum, k) => sum + (r[k] || 0), 0) : Math.max(...keys.map((k) => r[k] || 0));
  const yMax = niceMax(Math.max(0, ...rows.map(height)));
  const {x, y, slot} = frame(chart, start, end, yMax, "requests per minute");
  const width = Math.max(2, slot * 0.8) / (stacked ? 1 : keys.length);
  for (const r of rows) {
    let base = 0;
    keys.forEach((key, i) => {
      const value = r[key] || 0;
      if (!value) return;
      const left = x(r.time) - (stacked ? width / 2 : width * keys.length / 2 - i * width);
      const top = y(base + value), h = y(base) - top;
      const bar = svg("path", {d: `M${left.toFixed(1)} ${top.toFixed(1)}h${width.toFixed(1)}v${h.toFixed(1)}h${(-width).toFixed(1)}Z`,
                               class: "bar " + names[key].className}, chart);
      svg("title", {}, bar).textContent = `${names[key].text} at ${clock(r.time)}: ${value}`;
      if (stacked) base += value;
    });
  }
  legend.replaceChildren();
  for (const key of keys) {
    legendItem(legend, names[key].text, (sample) => svg("path", {d: "M8 1h18v12h-18Z", class: "bar " + names[key].className}, sample));
  }
  if (!rows.some((r) => height(r) > 0)) note(chart, "No requests logged yet", "empty-note");
}

const STATUS_NAMES = {
  "2xx": {text: "2xx success (solid)", className: "s2xx"},
  "3xx": {text: "3xx redirect or not modified (dotted)", className: "s3xx"},
  "4xx": {text: "4xx client error (hatched)", className: "s4xx"},
  "5xx": {text: "5xx server error (cross-hatched)", className: "s5xx"},
};
const CACHE_NAMES = {hits: {text: "hits (solid, left)", className: "hits"},
                     misses: {text: "misses (hatched, right)", className: "misses"}};

function drawRoutes(staff, cep) {
  const rows = [];
  for (const [service, summary] of [["staff API", staff], ["CEP API", cep]]) {
    for (const r of (summary && summary.routes) || []) {
      const tr = document.createElement("tr");
      const ms = [r.p50_ms, r.p95_ms, r.p99_ms, r.max_ms].map((v) => v == null ? "" : v.toFixed(1));
      tr.append(...[service, r.method, r.route, r.count, r.errors, ...ms].map(cell));
      rows.push(tr);
    }
  }
  $("routes").tBodies[0].replaceChildren(...rows);
  const cache = staff && staff.cache, wait = staff && staff.cep_api_wait;
  $("cache-summary").textContent = [
    cache ? `CEP cache: ${cache.hits} hits, ${cache.misses} misses` +
            (cache.hit_ratio == null ? "." : `, hit ratio ${Math.round(cache.hit_ratio * 100)}%.`) : "",
    wait && wait.count ? `Waiting on the CEP API: ${wait.count} calls, p50 ${wait.p50_ms.toFixed(1)} ms, ` +
                         `p95 ${wait.p95_ms.toFixed(1)} ms.` : "",
  ].join(" ");
}

function cepLogsUrl() {
  const url = new URL(CEP_LOGS_URL, document.baseURI);
  url.searchParams.set("minutes", "60");
  return url.href;
}

async function refreshCharts() {
  const [staffAnswer, cepAnswer] = await Promise.all([
    call("staff", "GET", "logs/summary?minutes=60"),
    call("cep", "GET", cepLogsUrl()),
  ]);
  const staff = staffAnswer.status === 200 ? staffAnswer.data : null;
  const cep = cepAnswer.status === 200 ? cepAnswer.data : null;
  // Both services on one time axis: the hour up to the latest minute either has logged.
  const times = [...minuteRows(staff), ...minuteRows(cep)].map((r) => r.time);
  const end = times.length ? Math.max(...times) : Math.floor(Date.now() / MINUTE) * MINUTE;
  const start = end - 59 * MINUTE;
  drawLatency(staff, cep, start, end);
  if (staff) {
    drawBars($("chart-staff-status"), $("legend-staff-status"), staff, start, end, STATUS_CLASSES, true, STATUS_NAMES);
    drawBars($("chart-cache"), $("legend-cache"), staff, start, end, ["hits", "misses"], false, CACHE_NAMES);
  } else {
    for (const id of ["staff-status", "cache"]) {
      frame($("chart-" + id), start, end, 1, "requests per minute");
      note($("chart-" + id), "Staff API logs unavailable", "note");
    }
  }
  if (cep) {
    drawBars($("chart-cep-status"), $("legend-cep-status"), cep, start, end, STATUS_CLASSES, true, STATUS_NAMES);
  } else {
    frame($("chart-cep-status"), start, end, 1, "requests per minute");
    note($("chart-cep-status"), "CEP API logs unavailable", "note");
    $("legend-cep-status").replaceChildren();
  }
  drawRoutes(staff, cep);
  $("charts-updated").textContent = `updated ${new Date().toLocaleTimeString()}`;
}

// Refresh, then wait 5 s and refresh again: a slow answer never piles up requests.
async function refreshForever() {
  try {
    await refreshCharts();
  } finally {
    setTimeout(refreshForever, REFRESH_MS);
  }
}


// --- Wiring ---------------------------------------------------------------------------------

let searchTimer = null;
$("f-cep").addEventListener("input", lookUpCep);
$("employee-form").addEventListener("submit", submitForm);
$("cancel-edit").addEventListener("click", () => { resetForm(); $("form-message").textContent = ""; });
$("prev").addEventListener("click", () => { grid.page -= 1; loadGrid(); });
$("next").addEventListener("click", () => { grid.page += 1; loadGrid(); });
$("search").addEventListener("input", () => {
  clearTimeout(searchTimer);  // wait until typing pauses: one request, not one per key
  searchTimer = setTimeout(() => { grid.q = $("search").value.trim(); grid.page = 1; loadGrid(); }, 250);
});
$("uf-filter").addEventListener("change", () => { grid.uf = $("uf-filter").value; grid.page = 1; loadGrid(); });
loadGrid();
refreshForever();
