// The staff dashboard: an employee form, a grid of employees, and charts of both services' logs.
//
// Plain browser JavaScript, no framework and no build step: read it top to bottom. A file of its
// own, not a <script> in the page, because the page's Content-Security-Policy runs only scripts
// served by the staff API. Every address is relative ("employees", not "/employees"), so the
// page works at / and under a prefix (/staff/). Text from the API is always put in the page with
// textContent, never innerHTML: a name such as "<img onerror=...>" stays a name.
//
// Sections: 1. words in two languages, 2. calling the API, 3. health badges, 4. the form,
// 5. the grid, 6. the charts, 7. wiring. The page talks only to the staff API: it reads the CEP
// API's log summary through it (GET cep-api/logs/summary), so the browser needs no CEP API token.
"use strict";

const $ = (id) => document.getElementById(id);
const REFRESH_MS = 5000;   // how often the charts ask for fresh log summaries (unless paused)
const HEALTH_MS = 10000;   // how often the badges ask GET health
const FORM_FIELDS = ["name", "email", "role", "cep", "number", "complement"];
const ADDRESS_FIELDS = ["logradouro", "bairro", "localidade", "uf"];
const PAGE_SIZES = [10, 20, 50, 100];
const SORT_KEYS = ["id", "name", "email", "cep"];  // what GET employees?sort= takes; "-name": descending
const WINDOWS = [15, 60, 360, 1440];                // minutes the charts can show (GET logs/summary?minutes=)
const UFS = [...$("uf-filter").options].map((option) => option.value).filter(Boolean);


// --- 1. Words: English and Brazilian Portuguese -------------------------------------------------
//
// One object of messages per language. A message is a string, or a function of its parameters
// when it has some. The page's own HTML marks its texts with data-i18n="key"; everything the
// script writes goes through t(key, params), so switching language only re-renders.

const MESSAGES = {
  en: {
    title: "Staff dashboard", language: "Language", apiDocs: "API docs",
    tokenTitle: "The staff API needs a token", token: "Token", tokenUse: "Use this token", tokenCancel: "Not now",
    tokenWhy: (p) => (p.refused ? "That token was refused. " : "") + "Type the staff API's token (STAFF_API_TOKEN).",
    staffApi: "Staff API", cepApi: "CEP API",
    badge: (p) => `${p.service}: ${{checking: "checking…", up: "up", down: "down", unreachable: "not answering",
                                    unknown: "unknown"}[p.state]}`,
    badgeDbDown: "Staff API: its database is down",
    // The form
    formNew: "New employee", formEdit: (p) => `Edit employee #${p.id}`,
    name: "Name", email: "E-mail", role: "Role", cep: "CEP", number: "Number", complement: "Complement",
    addressLegend: "Address, from the CEP (read-only)", street: "Street", bairro: "Neighbourhood", town: "Town",
    uf: "UF", create: "Create employee", saveChanges: "Save changes", saving: "Saving…",
    cancelEdit: "Cancel editing", escapeHint: "Esc cancels editing.",
    editCancelled: "Editing cancelled; nothing was changed.",
    cepHintEmpty: "8 digits; the hyphen is optional: 01001-000.",
    cepHintCount: (p) => `${p.digits} of 8 digits.`,
    cepHintBad: "A CEP has only digits, with an optional hyphen after the fifth: 01001-000.",
    lookingUp: "Looking up the CEP…",
    addressFound: (p) => `Address found${p.cache ? ` (${t("source_" + p.cache)})` : ""}.`,
    source_hit: "from the staff API's cache", source_miss: "asked the CEP API",
    source_revalidated: "from the cache, confirmed by the CEP API",
    source_stale: "from the cache; the CEP API did not answer, so it may be out of date",
    cepUnknown: (p) => `No address is known for CEP ${p.cep}. Check the digits: it may be mistyped, ` +
                       "or too new for the CEP database.",
    cepDown: (p) => `The CEP service is down and CEP ${p.cep} is not in the cache: its address cannot be ` +
                    "checked now. Try again later.",
    lookupFailed: (p) => `The address could not be looked up (${p.detail}).`,
    created: (p) => `Created employee #${p.id}, ${p.name}${p.cache ? ` (address ${t("source_" + p.cache)})` : ""}.`,
    saved: (p) => `Saved employee #${p.id}, ${p.name}.`,
    saveDown: "The CEP service is down and this CEP is not in the cache: nothing was saved. Try again later.",
    checkFields: (p) => "Not saved: check the marked fields." + (p.others ? ` (${p.others})` : ""),
    notSaved: (p) => `Not saved (${p.detail}).`,
    noAnswer: "the service did not answer",
    // What the API says about a field (staff_api/validation.py), in plain words.
    fieldErrors: {"is required": "Required.", "must not be empty": "Required.",
                  "already taken": "Another employee already has this e-mail.",
                  "no such CEP": "No address is known for this CEP. Check the digits.",
                  "must be an e-mail address like ana@example.com": "Write an e-mail address, like ana@example.com.",
                  "must be a CEP written as NNNNNNNN or NNNNN-NNN": "Write the CEP as 8 digits, like 01001-000."},
    tooLong: (p) => `At most ${p.max} characters.`,
    fieldError: (p) => fieldErrorText(p.why),  // for both languages: it looks the words up in fieldErrors
    // The grid
    employees: "Employees", search: "Search name or e-mail", ufFilter: "Filter by UF", allUfs: "all",
    perPage: "Per page", colId: "#", address: "Address", actions: "Actions", edit: "Edit", delete: "Delete",
    editWho: (p) => `Edit ${p.name}`, deleteWho: (p) => `Delete ${p.name}`,
    yesDelete: "Yes, delete", keep: "Keep",
    yesDeleteWho: (p) => `Yes, delete ${p.name}`, keepWho: (p) => `Keep ${p.name}`,
    prev: "Previous page", next: "Next page", loadingEmployees: "Loading employees…",
    pageInfo: (p) => `Page ${num(p.page)} of ${num(p.pages)} · ` +
                     `${num(p.total)} ${p.total === 1 ? "employee" : "employees"}`,
    emptyRegistry: "No employees yet: create the first one with the form above.",
    emptySearch: "No employee matches this search and filter.", clearFilters: "Clear search and filter",
    deleted: (p) => `Deleted employee #${p.id}, ${p.name}.`,
    notDeleted: (p) => `${p.name} was not deleted (${p.detail}).`,
    gridFailed: (p) => `The employees could not be loaded (${p.detail}).`,
    // The charts
    chartsTitle: (p) => `Request logs, ${t("last" + p.minutes)}`, window: "Time window",
    last15: "last 15 minutes", last60: "last hour", last360: "last 6 hours", last1440: "last 24 hours",
    pause: "Pause updates", resume: "Resume updates",
    updated: (p) => `updated at ${p.time}`, pausedAt: (p) => `paused; last updated at ${p.time}`,
    capLatency: "Latency per minute, both services (ms)", capStaffStatus: "Staff API requests, by status",
    capCepStatus: "CEP API requests, by status", capCache: "Staff API CEP cache: hits and misses",
    asTable: "Show the numbers as a table",
    axisTime: (p) => `time (${p.zone})`, milliseconds: "milliseconds",
    perBucket: (p) => p.minutes === 1 ? "requests per minute" : `requests per ${p.minutes} minutes`,
    noRequests: "No requests in this window", logsUnavailable: (p) => `${p.service} logs unavailable`,
    lineLooks: (p) => `${p.service} ${p.percentile} ` +
                      `(${p.dashed ? "dashed" : "solid"} line, ${p.square ? "squares" : "circles"})`,
    s2xx: "2xx success (solid)", s3xx: "3xx redirect or not modified (dotted)",
    s4xx: "4xx client error (hatched)", s5xx: "5xx server error (cross-hatched)",
    hits: "hits (solid, left)", misses: "misses (hatched, right)",
    colTime: "Time", colHits: "Hits", colMisses: "Misses",
    colLatency: (p) => `${p.service} ${p.percentile} (ms)`,
    totals: (p) => `${p.service}: ${num(p.count)} ${p.count === 1 ? "request" : "requests"}, ` +
                   `${num(p.c4)} client ${p.c4 === 1 ? "error" : "errors"} (4xx), ` +
                   `${num(p.c5)} server ${p.c5 === 1 ? "error" : "errors"} (5xx).`,
    cacheSummary: (p) => `CEP cache: ${p.hits} hits, ${p.misses} misses` +
                         (p.ratio == null ? "." : `, ${p.ratio}% hits.`),
    cepWait: (p) => `Waiting on the CEP API: ${p.count} calls, p50 ${p.p50} ms, p95 ${p.p95} ms.`,
    perRoute: "Per route", service: "Service", method: "Method", route: "Route", requests: "Requests",
    serverErrors: "Server errors (5xx)",
  },
  "pt-BR": {
    title: "Painel de funcionários", language: "Idioma", apiDocs: "Documentação da API",
    tokenTitle: "A API de funcionários pede um token", token: "Token",
    tokenUse: "Usar este token", tokenCancel: "Agora não",
    tokenWhy: (p) => (p.refused ? "Esse token foi recusado. " : "") +
                     "Digite o token da API de funcionários (STAFF_API_TOKEN).",
    staffApi: "API de funcionários", cepApi: "API de CEP",
    badge: (p) => `${p.service}: ${{checking: "verificando…", up: "no ar", down: "fora do ar",
                                    unreachable: "sem resposta", unknown: "desconhecido"}[p.state]}`,
    badgeDbDown: "API de funcionários: o banco de dados está fora do ar",
    formNew: "Novo funcionário", formEdit: (p) => `Editar funcionário nº ${p.id}`,
    name: "Nome", email: "E-mail", role: "Cargo", cep: "CEP", number: "Número", complement: "Complemento",
    addressLegend: "Endereço, pelo CEP (somente leitura)", street: "Logradouro", bairro: "Bairro", town: "Cidade",
    uf: "UF", create: "Cadastrar funcionário", saveChanges: "Salvar alterações", saving: "Salvando…",
    cancelEdit: "Cancelar edição", escapeHint: "Esc cancela a edição.",
    editCancelled: "Edição cancelada; nada foi alterado.",
    cepHintEmpty: "8 dígitos; o hífen é opcional: 01001-000.",
    cepHintCount: (p) => `${p.digits} de 8 dígitos.`,
    cepHintBad: "Um CEP tem só dígitos, com um hífen opcional depois do quinto: 01001-000.",
    lookingUp: "Consultando o CEP…",
    addressFound: (p) => `Endereço encontrado${p.cache ? ` (${t("source_" + p.cache)})` : ""}.`,
    source_hit: "do cache da API de funcionários", source_miss: "consultado na API de CEP",
    source_revalidated: "do cache, confirmado pela API de CEP",
    source_stale: "do cache; a API de CEP não respondeu, então pode estar desatualizado",
    cepUnknown: (p) => `Nenhum endereço conhecido para o CEP ${p.cep}. Confira os dígitos: pode haver um erro ` +
                       "de digitação, ou o CEP é novo demais para a base de CEPs.",
    cepDown: (p) => `O serviço de CEP está fora do ar e o CEP ${p.cep} não está no cache: não dá para conferir ` +
                    "o endereço agora. Tente mais tarde.",
    lookupFailed: (p) => `Não foi possível consultar o endereço (${p.detail}).`,
    created: (p) => `Funcionário nº ${p.id}, ${p.name}, cadastrado` +
                    `${p.cache ? ` (endereço ${t("source_" + p.cache)})` : ""}.`,
    saved: (p) => `Funcionário nº ${p.id}, ${p.name}, salvo.`,
    saveDown: "O serviço de CEP está fora do ar e este CEP não está no cache: nada foi salvo. Tente mais tarde.",
    checkFields: (p) => "Nada foi salvo: confira os campos marcados." + (p.others ? ` (${p.others})` : ""),
    notSaved: (p) => `Nada foi salvo (${p.detail}).`,
    noAnswer: "o serviço não respondeu",
    fieldErrors: {"is required": "Obrigatório.", "must not be empty": "Obrigatório.",
                  "already taken": "Outro funcionário já tem este e-mail.",
                  "no such CEP": "Nenhum endereço conhecido para este CEP. Confira os dígitos.",
                  "must be an e-mail address like ana@example.com":
                    "Escreva um endereço de e-mail, como ana@example.com.",
                  "must be a CEP written as NNNNNNNN or NNNNN-NNN": "Escreva o CEP com 8 dígitos, como 01001-000."},
    tooLong: (p) => `No máximo ${p.max} caracteres.`,
    employees: "Funcionários", search: "Buscar nome ou e-mail", ufFilter: "Filtrar por UF", allUfs: "todas",
    perPage: "Por página", colId: "nº", address: "Endereço", actions: "Ações", edit: "Editar", delete: "Excluir",
    editWho: (p) => `Editar ${p.name}`, deleteWho: (p) => `Excluir ${p.name}`,
    yesDelete: "Sim, excluir", keep: "Manter",
    yesDeleteWho: (p) => `Sim, excluir ${p.name}`, keepWho: (p) => `Manter ${p.name}`,
    prev: "Página anterior", next: "Próxima página", loadingEmployees: "Carregando funcionários…",
    pageInfo: (p) => `Página ${num(p.page)} de ${num(p.pages)} · ` +
                     `${num(p.total)} ${p.total === 1 ? "funcionário" : "funcionários"}`,
    emptyRegistry: "Nenhum funcionário cadastrado ainda: cadastre o primeiro no formulário acima.",
    emptySearch: "Nenhum funcionário corresponde a esta busca e filtro.", clearFilters: "Limpar busca e filtro",
    deleted: (p) => `Funcionário nº ${p.id}, ${p.name}, excluído.`,
    notDeleted: (p) => `${p.name} não foi excluído (${p.detail}).`,
    gridFailed: (p) => `Não foi possível carregar os funcionários (${p.detail}).`,
    chartsTitle: (p) => `Registro de requisições, ${t("last" + p.minutes)}`, window: "Período",
    last15: "últimos 15 minutos", last60: "última hora", last360: "últimas 6 horas", last1440: "últimas 24 horas",
    pause: "Pausar atualização", resume: "Retomar atualização",
    updated: (p) => `atualizado às ${p.time}`, pausedAt: (p) => `pausado; última atualização às ${p.time}`,
    capLatency: "Latência por minuto, os dois serviços (ms)",
    capStaffStatus: "Requisições à API de funcionários, por status",
    capCepStatus: "Requisições à API de CEP, por status",
    capCache: "Cache de CEPs da API de funcionários: acertos e faltas",
    asTable: "Ver os números em uma tabela",
    axisTime: (p) => `hora (${p.zone})`, milliseconds: "milissegundos",
    perBucket: (p) => p.minutes === 1 ? "requisições por minuto" : `requisições a cada ${p.minutes} minutos`,
    noRequests: "Nenhuma requisição neste período",
    logsUnavailable: (p) => `Registros da ${p.service} indisponíveis`,
    lineLooks: (p) => `${p.service} ${p.percentile} ` +
                      `(linha ${p.dashed ? "tracejada" : "contínua"}, ${p.square ? "quadrados" : "círculos"})`,
    s2xx: "2xx sucesso (liso)", s3xx: "3xx redirecionamento ou não modificado (pontilhado)",
    s4xx: "4xx erro do cliente (listrado)", s5xx: "5xx erro do servidor (quadriculado)",
    hits: "acertos (liso, à esquerda)", misses: "faltas (listrado, à direita)",
    colTime: "Hora", colHits: "Acertos", colMisses: "Faltas",
    colLatency: (p) => `${p.service} ${p.percentile} (ms)`,
    totals: (p) => `${p.service}: ${num(p.count)} ${p.count === 1 ? "requisição" : "requisições"}, ` +
                   `${num(p.c4)} ${p.c4 === 1 ? "erro" : "erros"} do cliente (4xx), ` +
                   `${num(p.c5)} ${p.c5 === 1 ? "erro" : "erros"} do servidor (5xx).`,
    cacheSummary: (p) => `Cache de CEPs: ${p.hits} acertos, ${p.misses} faltas` +
                         (p.ratio == null ? "." : `, ${p.ratio}% de acertos.`),
    cepWait: (p) => `Espera pela API de CEP: ${p.count} chamadas, p50 ${p.p50} ms, p95 ${p.p95} ms.`,
    perRoute: "Por rota", service: "Serviço", method: "Método", route: "Rota", requests: "Requisições",
    serverErrors: "Erros do servidor (5xx)",
  },
};

const LANGUAGE_KEY = "cep-staff.language";  // localStorage: the reader's choice outlives the tab
let lang = preferredLanguage();

// The language kept from the switch, else the first of the browser's languages we have, else English.
function preferredLanguage() {
  const kept = localStorage.getItem(LANGUAGE_KEY);
  if (kept in MESSAGES) return kept;
  for (const tag of navigator.languages || [navigator.language]) {
    if (/^pt\b/i.test(tag)) return "pt-BR";  // pt-PT readers get pt-BR too: closer than English
    if (/^en\b/i.test(tag)) return "en";
  }
  return "en";
}

function t(key, params = {}) {
  const message = MESSAGES[lang][key] ?? MESSAGES.en[key];
  return typeof message === "function" ? message(params) : message;
}

// Plurals: "1 employee", "0 employees" in both languages. (Intl.PluralRules would make 0 singular in
// Portuguese, "0 funcionário", which reads oddly in a count.) Messages get raw numbers and format them:
// Numbers as the reader writes them: 1,234.5 in English, 1.234,5 in Portuguese.
function num(value, digits = 0) {
  return Number(value).toLocaleString(lang, {maximumFractionDigits: digits, minimumFractionDigits: digits});
}

// What an element says, kept as (key, params, kind) so that a language switch can say it again.
const said = new Map();
function say(element, key, params = {}, kind = "") {
  said.set(element, [key, params, kind]);
  element.textContent = key ? t(key, params) : "";
  element.dataset.kind = kind;  // dashboard.css colours "error" and "ok"
}

function applyLanguage() {
  document.documentElement.lang = lang;
  document.title = t("title");
  $("language").value = lang;
  for (const element of document.querySelectorAll("[data-i18n]")) element.textContent = t(element.dataset.i18n);
  for (const [element, args] of said) say(element, ...args);
  renderFormMode();
  renderBadges();
  renderGrid();
  renderChartControls();
  drawCharts();
}

function setLanguage(chosen) {
  lang = chosen in MESSAGES ? chosen : "en";
  localStorage.setItem(LANGUAGE_KEY, lang);
  applyLanguage();
}


// --- 2. Calling the staff API ----------------------------------------------------------------

// The staff API's token, kept for this browser tab only (sessionStorage is gone when it closes).
const TOKEN_KEY = "cep-staff.staff-token";
let tokenAsked = null;     // the pending question, so that parallel 401s ask once
let tokenDeclined = false; // true once "Not now" was clicked

// fetch() with the token, JSON in and out. Answers {status, headers, data}; a 401 asks for the
// token once and tries again with it. A network failure answers status 0.
async function call(method, url, body) {
  const headers = {Accept: "application/json"};
  const token = sessionStorage.getItem(TOKEN_KEY);
  if (token) headers.Authorization = "Bearer " + token;
  const options = {method, headers};
  if (body !== undefined) {
    headers["Content-Type"] = "application/json";
    options.body = JSON.stringify(body);
  }
  let response;
  try {
    response = await fetch(url, options);
  } catch (error) {  // refused connection, offline
    return {status: 0, headers: new Headers(), data: null};
  }
  if (response.status === 401 && !tokenDeclined) {
    // Another call may have been given a new token while this one waited for its answer.
    const changed = sessionStorage.getItem(TOKEN_KEY) !== token;
    if (changed || await askToken(token)) return call(method, url, body);
  }
  const data = response.status === 204 ? null : await response.json().catch(() => null);
  return {status: response.status, headers: response.headers, data};
}

// Ask for the token once, however many calls were refused. Not window.prompt: a form can be
// labelled, and a password field hides the token. Resolves true once a token is typed.
function askToken(refused) {
  tokenAsked ??= new Promise((resolve) => {
    const form = $("token-form");
    say($("token-why"), "tokenWhy", {refused: Boolean(refused)});
    $("token-input").value = "";
    form.hidden = false;
    $("token-input").focus();
    const finish = (token) => {
      form.hidden = true;
      form.onsubmit = $("token-cancel").onclick = null;
      tokenAsked = null;
      if (token) sessionStorage.setItem(TOKEN_KEY, token);
      else tokenDeclined = true;
      resolve(Boolean(token));
    };
    form.onsubmit = (event) => { event.preventDefault(); finish($("token-input").value.trim()); };
    $("token-cancel").onclick = () => finish("");
  });
  return tokenAsked;
}

// Why a call failed, in a few words for a message's parentheses: the API's sentence when it sent one.
function detail(answer) {
  if (answer.status === 0) return t("noAnswer");
  return (answer.data && answer.data.error && answer.data.error.message) || `HTTP ${answer.status}`;
}


// --- 3. Health at a glance: a badge per service, from GET health ------------------------------

const health = {staff: "checking", cep: "checking"};

async function checkHealth() {
  const answer = await call("GET", "health");  // open even with STAFF_API_TOKEN set
  if (answer.status === 200 && answer.data) {
    Object.assign(health, {staff: "up", cep: answer.data.cep_api === "up" ? "up" : "down"});
  } else {  // 503: the staff API's database is down; 0: the staff API does not answer at all
    Object.assign(health, {staff: answer.status === 0 ? "unreachable" : "down", cep: "unknown"});
  }
  renderBadges();
}

function renderBadges() {
  for (const [service, name] of [["staff", "staffApi"], ["cep", "cepApi"]]) {
    const badge = $("badge-" + service);
    const text = service === "staff" && health.staff === "down" ? t("badgeDbDown")
      : t("badge", {service: t(name), state: health[service]});
    // Only a change is written: the badges are a live region, and an unchanged text need not be read again.
    if (badge.textContent !== text) badge.textContent = text;
    badge.dataset.state = health[service];  // dashboard.css draws a mark for each state, not only a colour
  }
}

async function healthForever() {
  try {
    await checkHealth();
  } finally {
    setTimeout(healthForever, HEALTH_MS);
  }
}


// --- 4. The form: address from the CEP, create or edit --------------------------------------

let editing = null;  // the employee being edited, or null when the form creates one
let saving = false;  // a POST or PUT is in flight: a second click must not send it again
let lastCep = "";    // the 8 digits whose address the form shows (or is fetching)

function cepDigits(text) {
  const match = /^\s*(\d{5})-?(\d{3})\s*$/.exec(text);
  return match ? match[1] + match[2] : null;
}

function formatCep(digits) {
  return digits.slice(0, 5) + "-" + digits.slice(5);
}

function renderFormMode() {
  $("form-title").textContent = editing ? t("formEdit", {id: editing.id}) : t("formNew");
  $("save").textContent = saving ? t("saving") : t(editing ? "saveChanges" : "create");
  $("cancel-edit").hidden = $("escape-hint").hidden = !editing;
}

// While typing: how much of a CEP is there, or what is wrong with it (before anything is sent).
function showCepHint() {
  const value = $("f-cep").value.trim();
  if (!value) return say($("cep-hint"), "cepHintEmpty");
  if (!/^\d{0,5}$|^\d{5}-?\d{0,3}$/.test(value)) return say($("cep-hint"), "cepHintBad", {}, "error");
  say($("cep-hint"), "cepHintCount", {digits: value.replace("-", "").length});
}

function showAddress(address) {
  for (const name of ADDRESS_FIELDS) $("a-" + name).value = (address && address[name]) || "";
}

// As soon as the CEP field holds a whole CEP, show its address (before the form is sent).
async function lookUpCep() {
  showCepHint();
  const digits = cepDigits($("f-cep").value);
  if ((digits || "") === lastCep) return;
  lastCep = digits || "";
  showAddress(null);
  const status = $("cep-status");
  if (!digits) return say(status, null);
  say(status, "lookingUp");
  const answer = await call("GET", "addresses/" + digits);
  if (digits !== lastCep) return;  // the CEP changed while we waited: a newer lookup answers
  const cep = formatCep(digits);
  if (answer.status === 200) {
    showAddress(answer.data);
    say(status, "addressFound", {cache: cacheOutcome(answer)}, "ok");
  } else if (answer.status === 404) {  // in plain words; how the cache answered is no help here
    say(status, "cepUnknown", {cep}, "error");
  } else if (answer.status === 503) {
    say(status, "cepDown", {cep}, "error");
  } else {
    say(status, "lookupFailed", {detail: detail(answer)}, "error");
  }
}

// How the staff API's CEP cache answered (X-Cep-Cache: hit, miss, revalidated, stale), when we can
// say it in words (the messages source_hit...); shown on success only, never inside an error.
function cacheOutcome(answer) {
  const outcome = answer.headers.get("X-Cep-Cache");
  return outcome && ("source_" + outcome) in MESSAGES.en ? outcome : "";
}

function clearFieldError(name) {
  say($("e-" + name), null);
  $("f-" + name).removeAttribute("aria-invalid");
}

// The API's words about a field, in the reader's language when we know them.
function fieldErrorText(why) {
  const tooLong = /^must be at most (\d+) characters$/.exec(why);
  if (tooLong) return t("tooLong", {max: tooLong[1]});
  return t("fieldErrors")[why] || why;
}

// Put a 409's or 422's messages next to their inputs; answer the names of what has no input.
function showFieldErrors(fields) {
  const others = [];
  for (const [name, why] of Object.entries(fields || {})) {
    if (FORM_FIELDS.includes(name)) {
      say($("e-" + name), "fieldError", {why}, "error");
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
  for (const name of FORM_FIELDS) clearFieldError(name);
  lastCep = "";
  showAddress(null);
  say($("cep-status"), null);
  showCepHint();
  renderFormMode();
}

function startEditing(employee) {
  resetForm();
  editing = employee;
  for (const name of FORM_FIELDS) $("f-" + name).value = employee[name] || "";
  lastCep = cepDigits(employee.cep) || "";
  showAddress(employee.address);
  showCepHint();
  renderFormMode();
  say($("form-message"), null);
  $("f-name").focus();
}

// Escape, or the "Cancel editing" button: back to an empty form, focus back on the row's Edit.
function cancelEditing() {
  const id = editing && editing.id;
  resetForm();
  say($("form-message"), "editCancelled");
  focusEditButton(id) || $("f-name").focus();
}

async function submitForm(event) {
  event.preventDefault();
  if (saving) return;  // a double click, or Enter pressed again: the first request answers
  for (const name of FORM_FIELDS) clearFieldError(name);
  const body = {};
  for (const name of FORM_FIELDS) body[name] = $("f-" + name).value.trim();
  const wasEditing = editing;
  // aria-disabled rather than disabled: a disabled button would drop the keyboard focus to <body>.
  saving = true;
  $("save").setAttribute("aria-disabled", "true");
  renderFormMode();
  let answer;
  try {
    // PUT: the form holds every field of the employee, so it replaces them all.
    answer = wasEditing ? await call("PUT", "employees/" + wasEditing.id, body)
                        : await call("POST", "employees", body);
  } finally {
    saving = false;
    $("save").removeAttribute("aria-disabled");
    renderFormMode();
  }
  const message = $("form-message");
  if (answer.status === 201 || answer.status === 200) {
    const {id, name} = answer.data;
    resetForm();
    if (answer.status === 201) say(message, "created", {id, name, cache: cacheOutcome(answer)}, "ok");
    else say(message, "saved", {id, name}, "ok");
    await loadGrid();
    // Next: another new employee, or back to the row just edited.
    if (answer.status === 201 || !focusEditButton(id)) $("f-name").focus();
  } else if (answer.status === 503) {
    say(message, "saveDown", {}, "error");
  } else if (answer.data && answer.data.error && answer.data.error.fields) {
    const others = showFieldErrors(answer.data.error.fields);
    say(message, "checkFields", {others}, "error");
    const first = FORM_FIELDS.find((name) => $("f-" + name).getAttribute("aria-invalid") === "true");
    if (first) $("f-" + first).focus();
  } else {
    say(message, "notSaved", {detail: detail(answer)}, "error");
  }
}


// --- 5. The grid: paging, sorting, search, UF filter, edit and delete -------------------------
//
// Its state lives in the page's address (?page=2&per_page=20&q=ana&uf=SP&sort=-name), so that a
// reload, a bookmark or a shared link shows the same rows.

const grid = {page: 1, perPage: 10, q: "", uf: "", sort: "id",
              state: "loading", items: [], total: 0, pages: 0, loadedWith: null};
let gridRequest = 0;  // numbers the loads: only the newest one's answer is shown

function readAddress() {
  const query = new URLSearchParams(location.search);
  const whole = (name) => /^\d+$/.test(query.get(name) || "") ? Number(query.get(name)) : null;
  grid.page = Math.min(10 ** 9, whole("page") || 1);  // the API's bounds: page 1..10^9, q 100 characters
  grid.perPage = PAGE_SIZES.includes(whole("per_page")) ? whole("per_page") : 10;
  grid.q = (query.get("q") || "").trim().slice(0, 100);
  grid.uf = UFS.includes(query.get("uf")) ? query.get("uf") : "";
  const sort = query.get("sort") || "id";
  grid.sort = SORT_KEYS.includes(sort.replace(/^-/, "")) ? sort : "id";
  charts.minutes = WINDOWS.includes(whole("minutes")) ? whole("minutes") : 15;
  $("search").value = grid.q;
  $("uf-filter").value = grid.uf;
  $("per-page").value = String(grid.perPage);
  $("window").value = String(charts.minutes);
}

// replaceState, not pushState: the address follows the page, without filling the Back button's history.
function writeAddress() {
  const query = new URLSearchParams();
  if (grid.page > 1) query.set("page", grid.page);
  if (grid.perPage !== 10) query.set("per_page", grid.perPage);
  if (grid.q) query.set("q", grid.q);
  if (grid.uf) query.set("uf", grid.uf);
  if (grid.sort !== "id") query.set("sort", grid.sort);
  if (charts.minutes !== 15) query.set("minutes", charts.minutes);
  const search = query.toString();
  history.replaceState(null, "", search ? "?" + search : location.pathname);
}

async function loadGrid() {
  const mine = ++gridRequest;
  grid.state = grid.state === "ready" ? "reloading" : "loading";  // reloading: the old rows stay meanwhile
  writeAddress();
  renderGrid();
  const query = new URLSearchParams({page: grid.page, per_page: grid.perPage, sort: grid.sort});
  if (grid.q) query.set("q", grid.q);
  if (grid.uf) query.set("uf", grid.uf);
  const answer = await call("GET", "employees?" + query);
  if (mine !== gridRequest) return;  // the filters changed while we waited: a newer load answers
  if (answer.status !== 200) {
    grid.state = "failed";
    say($("grid-message"), "gridFailed", {detail: detail(answer)}, "error");
  } else {
    const {items, page, per_page: perPage, total} = answer.data;
    const pages = Math.ceil(total / perPage);
    if (items.length === 0 && page > 1) {  // past the last page: its last row was deleted, or an old link
      grid.page = Math.max(1, pages);
      return loadGrid();
    }
    Object.assign(grid, {state: "ready", items, total, pages: Math.max(1, pages), page,
                         loadedWith: {q: grid.q, uf: grid.uf}});
    if (said.get($("grid-message"))?.[0] === "gridFailed") say($("grid-message"), null);
  }
  renderGrid();
}

function renderGrid() {
  const busy = grid.state === "loading" || grid.state === "reloading";
  const table = $("grid");
  table.setAttribute("aria-busy", String(busy));
  table.hidden = grid.items.length === 0;  // no header row without any row of data under it
  for (const th of table.tHead.rows[0].cells) {
    const key = th.dataset.sort;
    if (!key) continue;
    const direction = grid.sort === key ? "ascending" : grid.sort === "-" + key ? "descending" : null;
    if (direction) th.setAttribute("aria-sort", direction);
    else th.removeAttribute("aria-sort");
  }
  if (grid.state !== "reloading") table.tBodies[0].replaceChildren(...grid.items.map(gridRow));
  // An empty registry and a search that found nothing say different things.
  const empty = $("grid-empty");
  empty.hidden = !(grid.state === "ready" && grid.total === 0);
  if (!empty.hidden) {
    const filtered = grid.loadedWith.q || grid.loadedWith.uf;
    empty.replaceChildren(t(filtered ? "emptySearch" : "emptyRegistry"));
    if (filtered) empty.append(" ", button(t("clearFilters"), null, clearFilters));
  }
  renderPager();
}

// The pager works only with data to page through; before the first answer it says it is loading.
function renderPager() {
  const info = $("page-info");
  if (grid.state === "loading") info.textContent = t("loadingEmployees");
  else if (grid.state === "failed") info.textContent = "";
  else info.textContent = t("pageInfo", {page: grid.page, pages: grid.pages, total: grid.total});
  const ready = grid.state === "ready" || grid.state === "reloading";  // while reloading, goToPage() waits
  const enabled = {prev: ready && grid.page > 1, next: ready && grid.page < grid.pages};
  for (const id of ["prev", "next"]) if (enabled[id]) $(id).disabled = false;
  for (const id of ["prev", "next"]) {
    if (enabled[id]) continue;
    // A focused button that is disabled drops the focus to <body>: hand it to the other one first.
    const other = id === "prev" ? "next" : "prev";
    if (document.activeElement === $(id) && enabled[other]) $(other).focus();
    $(id).disabled = true;
  }
}

function goToPage(page) {
  if (grid.state !== "ready") return;  // one page change at a time
  grid.page = page;
  loadGrid();
}

function sortBy(key) {
  grid.sort = grid.sort === key ? "-" + key : key;  // a second click on a column reverses it
  grid.page = 1;
  loadGrid();
}

function clearFilters() {
  grid.q = grid.uf = "";
  $("search").value = $("uf-filter").value = "";
  grid.page = 1;
  loadGrid();
  $("search").focus();
}

function cell(text, label) {
  const td = document.createElement("td");
  td.textContent = text;
  if (label) td.dataset.label = label;  // the column's name, shown beside the value on a phone
  return td;
}

function button(text, label, onClick, className) {
  const b = document.createElement("button");
  b.type = "button";
  b.textContent = text;
  if (label) b.setAttribute("aria-label", label);  // "Edit Ana Souza", not just "Edit", for screen readers
  if (className) b.className = className;
  b.addEventListener("click", onClick);
  return b;
}

function gridRow(employee, index) {
  const row = document.createElement("tr");
  const a = employee.address || {};
  const street = [a.logradouro, employee.number, employee.complement].filter(Boolean).join(", ");
  row.append(cell(employee.id, t("colId")), cell(employee.name, t("name")), cell(employee.email, t("email")),
             cell(employee.role, t("role")), cell(employee.cep, t("cep")),
             cell(`${street} — ${a.bairro ? a.bairro + ", " : ""}${a.localidade}/${a.uf}`, t("address")));
  const actions = document.createElement("td");
  actions.className = "actions";
  const who = {name: employee.name};
  const normal = () => {
    actions.replaceChildren(
      button(t("edit"), t("editWho", who), () => startEditing(employee)), " ",
      button(t("delete"), t("deleteWho", who), confirmDelete));
    actions.firstChild.dataset.edit = employee.id;
  };
  // Deleting asks first, in the row itself; "Keep" has the focus, so that Enter twice deletes nothing.
  function confirmDelete() {
    actions.replaceChildren(
      button(t("yesDelete"), t("yesDeleteWho", who), () => deleteEmployee(employee, index, keep), "danger"), " ",
      button(t("keep"), t("keepWho", who), keep));
    actions.lastChild.focus();
  }
  function keep() {
    normal();
    actions.lastChild.focus();  // back on "Delete", where the question started
  }
  actions.addEventListener("keydown", (event) => {
    if (event.key === "Escape" && actions.querySelector(".danger")) keep();
  });
  normal();
  row.append(actions);
  return row;
}

function focusEditButton(id) {
  const edit = id != null && document.querySelector(`#grid button[data-edit="${Number(id)}"]`);
  if (edit) edit.focus();
  return Boolean(edit);
}

let deleting = false;
async function deleteEmployee(employee, index, keep) {
  if (deleting) return;  // a double click on "Yes, delete"
  deleting = true;
  try {
    const answer = await call("DELETE", "employees/" + employee.id);
    if (answer.status === 204 || answer.status === 404) {  // 404: someone else deleted it first
      if (editing && editing.id === employee.id) resetForm();
      say($("grid-message"), "deleted", {id: employee.id, name: employee.name}, "ok");
      await loadGrid();
      // The focus was on a button that is gone: the row that took its place, else the one before, else the heading.
      const rows = $("grid").tBodies[0].rows;
      const next = rows[Math.min(index, rows.length - 1)];
      if (next && !$("grid").hidden) next.querySelector("button").focus();
      else $("grid-title").focus();
    } else {
      say($("grid-message"), "notDeleted", {name: employee.name, detail: detail(answer)}, "error");
      keep();
    }
  } finally {
    deleting = false;
  }
}


// --- 6. Charts: SVG drawn here, from GET logs/summary and GET cep-api/logs/summary ------------
//
// Both summaries give one row per minute that had requests. The charts share a time axis, the
// chosen window up to now; over 6 and 24 hours the bars add up 5 or 15 minutes each, or they
// would be thinner than a pixel. Each chart has a table of the same numbers under it.

const SVG = "http://www.w3.org/2000/svg";
const HEIGHT = 240;
const PLOT = {left: 52, right: 14, top: 14, bottom: 40};  // room for the axes' labels
const MINUTE = 60000;
const BUCKET_MINUTES = {15: 1, 60: 1, 360: 5, 1440: 15};
const STATUS_KEYS = ["2xx", "3xx", "4xx", "5xx"];
const STATUS_CLASSES = {"2xx": "s2xx", "3xx": "s3xx", "4xx": "s4xx", "5xx": "s5xx"};
const CACHE_CLASSES = {hits: "hits", misses: "misses"};
const SERVICES = [["staff", "staffApi", "circle"], ["cep", "cepApi", "square"]];
// The window's minutes (kept in the address as ?minutes=), the timer, the last answers drawn.
const charts = {minutes: 15, paused: false, timer: null, request: 0, data: null};

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

function clock(time, withDay) {
  const options = {hour: "2-digit", minute: "2-digit", ...(withDay ? {day: "2-digit", month: "2-digit"} : {})};
  return new Date(time).toLocaleString(lang, options);
}

// The browser's time zone, which the axis uses: "America/Sao_Paulo, GMT-3", or "UTC".
function zoneName() {
  const zone = Intl.DateTimeFormat().resolvedOptions().timeZone;
  if (!zone || zone === "UTC" || zone === "Etc/UTC") return "UTC";
  const offset = new Intl.DateTimeFormat(lang, {timeZoneName: "shortOffset"}).formatToParts(new Date())
    .find((part) => part.type === "timeZoneName");
  return offset ? `${zone}, ${offset.value}` : zone;
}

// The time axis of the window: buckets of `bucket` ms from `start`, the last one holding now.
function timeAxis(minutes, rows) {
  const bucket = BUCKET_MINUTES[minutes] * MINUTE;
  const latest = Math.max(Date.now(), ...rows.map((r) => r.time));  // a server clock a little ahead
  const last = Math.floor(latest / bucket) * bucket;
  const count = minutes / BUCKET_MINUTES[minutes];
  return {bucket, start: last - (count - 1) * bucket, end: last + bucket, bucketMinutes: BUCKET_MINUTES[minutes]};
}

// Rows summed per bucket of the axis (only buckets with some request), oldest first.
function bucketed(rows, axis, keys) {
  const sums = new Map();
  for (const row of rows) {
    if (row.time < axis.start) continue;
    const time = Math.floor(row.time / axis.bucket) * axis.bucket;
    const sum = sums.get(time) || Object.fromEntries(keys.map((k) => [k, 0]));
    for (const k of keys) sum[k] += row[k] || 0;
    sums.set(time, sum);
  }
  return [...sums].sort((a, b) => a[0] - b[0]).map(([time, sum]) => ({time, ...sum}));
}

function minuteRows(summary) {
  return ((summary && summary.series) || []).map((row) => ({...row, time: Date.parse(row.minute)}));
}

// Clear `chart`, size it to its width on screen (so its text keeps its size on a phone), draw its
// axes for the window and values [0, yMax]; answer the scales.
function frame(chart, axis, yMax, yTitle) {
  const width = Math.max(260, Math.round(chart.getBoundingClientRect().width)) || 640;
  chart.replaceChildren();
  chart.setAttribute("viewBox", `0 0 ${width} ${HEIGHT}`);
  const right = width - PLOT.right, bottom = HEIGHT - PLOT.bottom;
  const x = (time) => PLOT.left + (time - axis.start) / (axis.end - axis.start) * (right - PLOT.left);
  const y = (value) => bottom - (value / yMax) * (bottom - PLOT.top);
  for (const fraction of [0, 0.5, 1]) {
    const value = yMax * fraction;
    svg("line", {x1: PLOT.left, x2: right, y1: y(value), y2: y(value), class: "grid-line"}, chart);
    svgText(chart, PLOT.left - 6, y(value) + 4, num(value, Number.isInteger(value) ? 0 : 1),
            {class: "tick", "text-anchor": "end"});
  }
  const ticks = width < 420 ? 3 : 5;
  for (let i = 0; i < ticks; i++) {
    const time = Math.round((axis.start + (axis.end - axis.start) * i / (ticks - 1)) / MINUTE) * MINUTE;
    const anchor = i === 0 ? "start" : i === ticks - 1 ? "end" : "middle";
    svgText(chart, x(time), bottom + 15, clock(time), {class: "tick", "text-anchor": anchor});
  }
  svg("line", {x1: PLOT.left, x2: PLOT.left, y1: PLOT.top, y2: bottom, class: "axis"}, chart);
  svg("line", {x1: PLOT.left, x2: right, y1: bottom, y2: bottom, class: "axis"}, chart);
  svgText(chart, (PLOT.left + right) / 2, HEIGHT - 6, t("axisTime", {zone: zoneName()}),
          {class: "axis-title", "text-anchor": "middle"});
  svgText(chart, 12, (PLOT.top + bottom) / 2, yTitle,
          {class: "axis-title", "text-anchor": "middle", transform: `rotate(-90 12 ${(PLOT.top + bottom) / 2})`});
  return {x, y, width};
}

function note(chart, text, className) {
  const width = Number(chart.getAttribute("viewBox").split(" ")[2]);
  svgText(chart, width / 2, HEIGHT / 2, text, {class: className, "text-anchor": "middle"});
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

// A table of the chart's numbers, in its <details>: a caption, a header row, one row per time.
function dataTable(containerId, caption, columns, rows, emptyText = t("noRequests")) {
  const container = $(containerId);
  if (!rows.length) {
    container.replaceChildren(Object.assign(document.createElement("p"), {textContent: emptyText + "."}));
    return;
  }
  const table = document.createElement("table");
  table.className = "stack compact data";
  table.createCaption().textContent = caption;
  const head = table.createTHead().insertRow();
  for (const column of columns) {
    const th = document.createElement("th");
    th.scope = "col";
    th.textContent = column;
    head.append(th);
  }
  const body = table.createTBody();
  for (const values of rows) body.append(tableRow(values, columns));
  container.replaceChildren(table);
}

function tableRow(values, columns) {
  const tr = document.createElement("tr");
  tr.append(...values.map((value, i) => cell(value, columns[i])));
  return tr;
}

function drawLatency(staff, cep, axis) {
  const chart = $("chart-latency"), legend = $("legend-latency");
  const lines = [];
  for (const [service, name, shape] of SERVICES) {
    const summary = service === "staff" ? staff : cep;
    if (!summary) continue;
    const rows = minuteRows(summary).filter((r) => r.time >= axis.start);
    for (const percentile of ["p50", "p95"]) {
      lines.push({service, name, percentile, shape, key: percentile + "_ms",
                  rows: rows.filter((r) => r[percentile + "_ms"] != null)});
    }
  }
  const yMax = niceMax(Math.max(0, ...lines.flatMap((l) => l.rows.map((r) => r[l.key]))));
  const {x, y} = frame(chart, axis, yMax, t("milliseconds"));
  const withMarkers = axis.bucketMinutes === 1;  // over hours, a marker per minute would be a smear
  legend.replaceChildren();
  for (const line of lines.filter((l) => l.rows.length)) {
    const className = `${line.service} ${line.percentile}`;
    const middle = (r) => x(r.time + MINUTE / 2);
    const d = line.rows.map((r, i) => `${i ? "L" : "M"}${middle(r).toFixed(1)} ${y(r[line.key]).toFixed(1)}`).join(" ");
    svg("path", {d, class: "series " + className}, chart);
    if (withMarkers) for (const r of line.rows) marker(chart, line.shape, middle(r), y(r[line.key]), className);
    const looks = {service: t(line.name), percentile: line.percentile,
                   dashed: line.percentile === "p95", square: line.shape === "square"};
    legendItem(legend, t("lineLooks", looks), (sample) => {
      svg("path", {d: "M2 7 L32 7", class: "series " + className}, sample);
      marker(sample, line.shape, 17, 7, className);
    });
  }
  if (!cep) legendItem(legend, t("logsUnavailable", {service: t("cepApi")}), () => {});
  if (!lines.some((l) => l.rows.length)) note(chart, t("noRequests"), "empty-note");

  // The table: one row per minute that either service logged.
  const byMinute = new Map();
  lines.forEach((line, column) => {
    for (const r of line.rows) {
      if (!byMinute.has(r.time)) byMinute.set(r.time, Array(lines.length).fill(""));
      byMinute.get(r.time)[column] = num(r[line.key], 1);
    }
  });
  const rows = [...byMinute].sort((a, b) => a[0] - b[0])
    .map(([time, values]) => [clock(time, axis.bucketMinutes > 1), ...values]);
  dataTable("table-latency", t("capLatency"),
            [t("colTime"), ...lines.map((l) => t("colLatency", {service: t(l.name), percentile: l.percentile}))], rows);
}

// Bars per bucket: `keys` stacked (status classes) or side by side (hits, misses).
function drawBars(id, summary, axis, keys, stacked, classes, unavailable) {
  const chart = $("chart-" + id), legend = $("legend-" + id);
  const names = Object.fromEntries(keys.map((k) => [k, t(/xx$/.test(k) ? "s" + k : k)]));  // "s4xx", "hits"
  legend.replaceChildren();
  if (!summary) {
    frame(chart, axis, 1, t("perBucket", {minutes: axis.bucketMinutes}));
    note(chart, unavailable, "note");
    dataTable("table-" + id, "", [], [], unavailable);
    return;
  }
  const rows = bucketed(minuteRows(summary), axis, keys);
  const height = (r) => stacked ? keys.reduce((sum, k) => sum + r[k], 0) : Math.max(...keys.map((k) => r[k]));
  const yMax = niceMax(Math.max(0, ...rows.map(height)));
  const {x, y} = frame(chart, axis, yMax, t("perBucket", {minutes: axis.bucketMinutes}));
  const slot = x(axis.start + axis.bucket) - x(axis.start);
  const width = Math.max(1.5, slot * 0.8) / (stacked ? 1 : keys.length);
  for (const r of rows) {
    let base = 0;
    keys.forEach((key, i) => {
      const value = r[key];
      if (!value) return;
      const left = x(r.time) + (slot - width * (stacked ? 1 : keys.length)) / 2 + (stacked ? 0 : i * width);
      const top = y(base + value), h = y(base) - top;
      const d = `M${left.toFixed(1)} ${top.toFixed(1)}h${width.toFixed(1)}v${h.toFixed(1)}h${(-width).toFixed(1)}Z`;
      svg("path", {d, class: "bar " + classes[key]}, chart);
      if (stacked) base += value;
    });
  }
  for (const key of keys) {
    legendItem(legend, names[key],
               (sample) => svg("path", {d: "M8 1h18v12h-18Z", class: "bar " + classes[key]}, sample));
  }
  if (!rows.some((r) => height(r) > 0)) note(chart, t("noRequests"), "empty-note");
  const columns = [t("colTime"), ...keys.map((k) => k === "hits" ? t("colHits") : k === "misses" ? t("colMisses") : k)];
  dataTable("table-" + id, $("cap-" + id).textContent, columns,
            rows.filter((r) => height(r) > 0)
              .map((r) => [clock(r.time, axis.bucketMinutes > 1), ...keys.map((k) => num(r[k]))]));
}

function drawTotals(staff, cep) {
  const items = SERVICES.map(([service, name]) => {
    const summary = service === "staff" ? staff : cep;
    const li = document.createElement("li");
    if (!summary) {
      li.textContent = t("logsUnavailable", {service: t(name)}) + ".";
      return li;
    }
    const sum = (key) => minuteRows(summary).reduce((total, r) => total + (r[key] || 0), 0);
    const [count, c4, c5] = [sum("count"), sum("4xx"), sum("5xx")];
    li.textContent = t("totals", {service: t(name), count, c4, c5});
    if (c5) li.dataset.kind = "error";
    return li;
  });
  $("totals").replaceChildren(...items);
}

function drawRoutes(staff, cep) {
  const columns = [t("service"), t("method"), t("route"), t("requests"), t("serverErrors"),
                   "p50 ms", "p95 ms", "p99 ms", "max ms"];
  const rows = [];
  for (const [service, name] of SERVICES) {
    const summary = service === "staff" ? staff : cep;
    for (const r of (summary && summary.routes) || []) {
      const ms = [r.p50_ms, r.p95_ms, r.p99_ms, r.max_ms].map((v) => v == null ? "" : num(v, 1));
      rows.push(tableRow([t(name), r.method, r.route, num(r.count), num(r.errors), ...ms], columns));
    }
  }
  $("routes").tBodies[0].replaceChildren(...rows);
  $("routes").hidden = rows.length === 0;
  $("routes-empty").hidden = rows.length > 0;
  $("routes-empty").textContent = t("noRequests") + ".";
  const cache = staff && staff.cache, wait = staff && staff.cep_api_wait;
  $("cache-summary").textContent = [
    cache ? t("cacheSummary", {hits: num(cache.hits), misses: num(cache.misses),
                               ratio: cache.hit_ratio == null ? null : num(cache.hit_ratio * 100)}) : "",
    wait && wait.count
      ? t("cepWait", {count: num(wait.count), p50: num(wait.p50_ms, 1), p95: num(wait.p95_ms, 1)}) : "",
  ].join(" ");
}

// Draw everything from the last answers (again after a resize or a language switch).
function drawCharts() {
  const data = charts.data;
  if (!data) return;
  const {staff, cep, minutes} = data;
  const axis = timeAxis(minutes, [...minuteRows(staff), ...minuteRows(cep)]);
  drawLatency(staff, cep, axis);
  const staffGone = t("logsUnavailable", {service: t("staffApi")});
  const cepGone = t("logsUnavailable", {service: t("cepApi")});
  drawBars("staff-status", staff, axis, STATUS_KEYS, true, STATUS_CLASSES, staffGone);
  drawBars("cep-status", cep, axis, STATUS_KEYS, true, STATUS_CLASSES, cepGone);
  drawBars("cache", staff, axis, ["hits", "misses"], false, CACHE_CLASSES, staffGone);
  drawTotals(staff, cep);
  drawRoutes(staff, cep);
  renderChartControls();
}

function renderChartControls() {
  say($("charts-title"), "chartsTitle", {minutes: charts.minutes});
  $("pause").textContent = t(charts.paused ? "resume" : "pause");
  if (charts.data) {
    const time = charts.data.updated.toLocaleTimeString(lang);
    $("charts-updated").textContent = t(charts.paused ? "pausedAt" : "updated", {time});
  }
}

async function refreshCharts() {
  const mine = ++charts.request;
  const minutes = charts.minutes;
  const [staffAnswer, cepAnswer] = await Promise.all([
    call("GET", `logs/summary?minutes=${minutes}`),
    call("GET", `cep-api/logs/summary?minutes=${minutes}`),  // the staff API reads it from the CEP API
  ]);
  if (mine !== charts.request) return;  // the window changed meanwhile: the newer answers draw
  charts.data = {minutes, updated: new Date(),
                 staff: staffAnswer.status === 200 ? staffAnswer.data : null,
                 cep: cepAnswer.status === 200 ? cepAnswer.data : null};
  drawCharts();
}

// Refresh, then wait 5 s and refresh again: a slow answer never piles up requests. Paused: no timer.
function scheduleCharts() {
  clearTimeout(charts.timer);
  if (!charts.paused) charts.timer = setTimeout(() => refreshCharts().finally(scheduleCharts), REFRESH_MS);
}

function togglePause() {
  charts.paused = !charts.paused;
  renderChartControls();
  if (charts.paused) clearTimeout(charts.timer);
  else refreshCharts().finally(scheduleCharts);
}


// --- 7. Wiring ------------------------------------------------------------------------------

let searchTimer = null;
$("language").addEventListener("change", () => setLanguage($("language").value));
$("f-cep").addEventListener("input", lookUpCep);
for (const name of FORM_FIELDS) {  // a field's error goes as soon as the field changes
  $("f-" + name).addEventListener("input", () => clearFieldError(name));
}
$("employee-form").addEventListener("submit", submitForm);
$("employee-form").addEventListener("keydown", (event) => {
  if (event.key === "Escape" && editing && !saving) {
    event.preventDefault();
    cancelEditing();
  }
});
$("cancel-edit").addEventListener("click", cancelEditing);
$("prev").addEventListener("click", () => goToPage(grid.page - 1));
$("next").addEventListener("click", () => goToPage(grid.page + 1));
for (const th of $("grid").tHead.querySelectorAll("th[data-sort]")) {
  th.querySelector("button").addEventListener("click", () => sortBy(th.dataset.sort));
}
$("search").addEventListener("input", () => {
  clearTimeout(searchTimer);  // wait until typing pauses: one request, not one per key
  searchTimer = setTimeout(() => { grid.q = $("search").value.trim(); grid.page = 1; loadGrid(); }, 250);
});
$("uf-filter").addEventListener("change", () => { grid.uf = $("uf-filter").value; grid.page = 1; loadGrid(); });
$("per-page").addEventListener("change", () => {
  grid.perPage = Number($("per-page").value);
  grid.page = 1;
  loadGrid();
});
$("window").addEventListener("change", () => {
  charts.minutes = Number($("window").value);
  writeAddress();
  renderChartControls();
  refreshCharts().finally(scheduleCharts);
});
$("pause").addEventListener("click", togglePause);
// The charts are drawn to their width on screen: draw again when it changes (a phone turned, a window resized).
let drawnWidth = 0;
new ResizeObserver(([entry]) => {
  const width = Math.round(entry.contentRect.width);
  if (width !== drawnWidth) {
    drawnWidth = width;
    requestAnimationFrame(drawCharts);
  }
}).observe(document.querySelector(".charts"));

readAddress();
applyLanguage();
showCepHint();
loadGrid();
healthForever();
refreshCharts().finally(scheduleCharts);
