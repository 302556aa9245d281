// wedge central console: sign-in, the live network overview (WebSocket), breaker threshold
// commands, and the report pages over the hub's API (api/v1/…, session-authenticated).
"use strict";

const T = {
  title: ["中心控制台", "Central console"],
  tab_network: ["网络总览", "Network"], tab_kpi: ["时效 KPI", "KPI"], tab_trace: ["订单追溯", "Trace"],
  tab_anomalies: ["异常", "Anomalies"], tab_lists: ["清单", "Lists"],
  tab_consistency: ["一致性", "Consistency"], tab_presale: ["预售", "Presale"],
  conn_ok: ["实时", "live"], conn_off: ["未连接", "offline"],
  logout: ["退出", "Sign out"], login_title: ["登录", "Sign in"], login: ["登录", "Sign in"],
  user: ["用户名", "User"], password: ["密码", "Password"],
  role_viewer: ["只读", "viewer"], role_supervisor: ["主管", "supervisor"], role_admin: ["管理员", "admin"],
  from: ["从", "From"], to: ["到", "To"], by: ["按", "By"], show: ["查询", "Show"], site: ["仓库", "Site"],
  by_site: ["仓库", "site"], by_channel: ["渠道", "channel"], by_carrier: ["快递", "carrier"], by_day: ["日期", "day"], by_shift: ["班次", "shift"],
  trace: ["追溯", "Trace"], trace_ph: ["订单号 / 平台单号 / 面单号 / 指纹", "order id / channel order no / waybill / fingerprint"],
  list_overdue: ["超时未处理", "Overdue"], list_held: ["暂停进入", "Held"], list_rejected: ["被拒扫描", "Rejected scans"],
  list_false_completion: ["疑似伪完成", "False completion"],
  filter: ["筛选", "Filter"],
  cmd_title: ["调整熔断阈值", "Breaker thresholds for"], max_backlog: ["积压上限（单）", "Max backlog (orders)"],
  max_avg_wait: ["平均等待上限", "Max average wait"], close_ratio: ["恢复比例", "Close ratio"], close_after: ["恢复持续", "Close after"],
  reason: ["原因", "Reason"], cancel: ["取消", "Cancel"], send: ["下发", "Send"],
  agent: ["终端", "Agent"], status: ["状态", "Status"], last_seen: ["最后在线", "Last seen"], version: ["版本", "Version"],
  breaker: ["熔断", "Breaker"], thresholds: ["阈值", "Thresholds"], changed_by: ["最后修改", "Last changed"],
  unsynced: ["未同步", "Unsynced"], settings: ["共享设置", "Shared settings"],
  online: ["在线", "online"], offline: ["离线", "offline"], open: ["已熔断", "open"], closed: ["正常", "closed"],
  differ: ["与同仓不一致", "differs from its site"], same: ["一致", "same"],
  site_differ: ["共享设置不一致", "shared settings differ"],
  th_backlog: ["积压", "backlog"], th_wait: ["等待", "wait"], th_close: ["恢复", "close at"],
  from_file: ["按配置文件", "from its file"], set_thresholds: ["调整阈值", "Set thresholds"],
  sites: ["仓库", "sites"], agents_online: ["终端在线", "agents online"], breakers_open: ["熔断中", "breakers open"],
  backlog: ["待分仓", "Backlog"], avg_wait: ["平均等待", "avg wait"],
  no_agents: ["中心尚未见到任何终端", "the hub has seen no agent yet"],
  sent: ["已下发", "sent"], not_found: ["未找到", "not found"], none: ["无", "none"],
  unavailable: ["此中心未提供该功能", "not available on this hub"],
  st_awaiting_balance: ["待付尾款", "awaiting balance"], st_held: ["暂停进入", "held"], st_pending_allocation: ["待分仓", "pending"],
  st_waybill_printed: ["已打单", "printed"], st_picked_up: ["已揽收", "picked up"], st_cancelled: ["已取消", "cancelled"],
};
const STATES = ["awaiting_balance", "held", "pending_allocation", "waybill_printed", "picked_up", "cancelled"];

let lang = localStorage.getItem("wedge-hub-lang") || "zh";
let session = null;
let overview = null;
let ws = null;

const $ = (id) => document.getElementById(id);
const t = (k) => (T[k] ? T[k][lang === "zh" ? 0 : 1] : k);
const both = (zh, en) => (lang === "zh" ? zh : en);

function el(tag, attrs, ...kids) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k === "class") e.className = v;
    else if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
    else e.setAttribute(k, v);
  }
  for (const k of kids) if (k !== null && k !== undefined) e.append(k instanceof Node ? k : String(k));
  return e;
}

function applyLang() {
  document.documentElement.lang = lang === "zh" ? "zh-CN" : "en";
  document.querySelectorAll("[data-t]").forEach((e) => { e.textContent = t(e.dataset.t); });
  document.querySelectorAll("[data-tp]").forEach((e) => { e.placeholder = t(e.dataset.tp); });
  $("lang-btn").textContent = lang === "zh" ? "English" : "中文";
  $("conn").textContent = t($("conn").classList.contains("ok") ? "conn_ok" : "conn_off");
  showWho();
  if (overview) renderOverview();
  rerender();
}

// api calls the hub's API through the console (session cookie; CSRF header on writes).
async function api(method, path, body) {
  const opts = { method, headers: {}, credentials: "same-origin" };
  if (body !== undefined) {
    opts.headers["Content-Type"] = "application/json";
    opts.body = JSON.stringify(body);
  }
  if (method !== "GET" && session) opts.headers["X-Wedge-CSRF"] = session.csrf;
  const r = await fetch(path, opts);
  let data = null;
  try { data = await r.json(); } catch (e) { data = null; }
  if (r.status === 401 && path !== "api/login") showLogin();
  return { ok: r.ok, status: r.status, data };
}

function errText(res) {
  const d = res.data || {};
  if (d.zh || d.en) return both(d.zh || d.error, d.en || d.error);
  return d.error || `HTTP ${res.status}`;
}

function showWho() {
  if (!session) { $("who").textContent = ""; return; }
  $("who").textContent = `${session.user} · ${t("role_" + session.role)}`;
}

function canCommand() { return session && session.can && session.can.includes("commands:write"); }

function showLogin() {
  session = null;
  if (ws) { ws.onclose = null; ws.close(); ws = null; }
  setConn(false);
  $("login").hidden = false;
  $("tabs").hidden = true;
  $("logout-btn").hidden = true;
  document.querySelectorAll(".page").forEach((p) => { p.hidden = true; });
  showWho();
}

function signedIn(s) {
  session = s;
  $("login").hidden = true;
  $("tabs").hidden = false;
  $("logout-btn").hidden = false;
  showWho();
  showTab(currentTab);
  connect();
}

async function start() {
  const res = await api("GET", "api/session");
  if (res.ok) signedIn(res.data); else showLogin();
}

$("login-form").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  $("login-error").textContent = "";
  const res = await api("POST", "api/login", { user: $("login-user").value.trim(), password: $("login-pass").value });
  $("login-pass").value = "";
  if (!res.ok) { $("login-error").textContent = errText(res); return; }
  signedIn(res.data);
});

$("logout-btn").addEventListener("click", async () => {
  await api("POST", "api/logout", {});
  showLogin();
});

$("lang-btn").addEventListener("click", () => {
  lang = lang === "zh" ? "en" : "zh";
  localStorage.setItem("wedge-hub-lang", lang);
  applyLang();
});

// --- tabs ---
let currentTab = "network";
const renderers = {}; // tab → function that redraws the tab's last result in the current language

function showTab(name) {
  currentTab = name;
  document.querySelectorAll("#tabs button").forEach((b) => b.classList.toggle("on", b.dataset.tab === name));
  document.querySelectorAll(".page").forEach((p) => { p.hidden = p.id !== "page-" + name; });
  if (pageOpen[name]) pageOpen[name]();
}
const pageOpen = {};
document.querySelectorAll("#tabs button").forEach((b) => b.addEventListener("click", () => showTab(b.dataset.tab)));
function rerender() { for (const f of Object.values(renderers)) f(); }

// --- live overview ---
function setConn(ok) {
  $("conn").className = ok ? "ok" : "off";
  $("conn").textContent = t(ok ? "conn_ok" : "conn_off");
}

function connect() {
  if (ws) return;
  const u = new URL("ws", location.href);
  u.protocol = u.protocol === "https:" ? "wss:" : "ws:";
  ws = new WebSocket(u);
  ws.onopen = () => setConn(true);
  ws.onmessage = (ev) => {
    const m = JSON.parse(ev.data);
    if (m.type === "overview") { overview = m.data; renderOverview(); }
    else if (m.type === "error") $("net-summary").textContent = m.error;
  };
  ws.onclose = () => {
    ws = null;
    setConn(false);
    if (session) setTimeout(() => { if (session) start(); }, 2000); // the session may have expired
  };
}

function fmtTime(s) {
  if (!s) return "—";
  const d = new Date(s);
  return isNaN(d) ? s : d.toLocaleString(lang === "zh" ? "zh-CN" : "en-GB", { hour12: false });
}

// dur shortens a Go duration for people: "8m0s" → "8m", "1h0m0s" → "1h".
function dur(d) { return String(d || "").replace(/([hm])0s$/, "$1").replace(/h0m$/, "h"); }

function badge(cls, text) { return el("span", { class: "badge " + cls }, text); }

function renderOverview() {
  const ov = overview;
  const box = $("sites");
  box.replaceChildren();
  let agents = 0, online = 0, open = 0;
  for (const s of ov.sites) { agents += s.agents.length; online += s.online; open += s.breakers_open; }
  const states = STATES.filter((s) => (ov.orders_per_state || {})[s]).map((s) => `${t("st_" + s)} ${ov.orders_per_state[s]}`);
  $("net-summary").textContent = [`${ov.sites.length} ${t("sites")}`, `${online}/${agents} ${t("agents_online")}`,
    `${open} ${t("breakers_open")}`, ...states, fmtTime(ov.at)].join(" · ");
  if (ov.sites.length === 0) { box.append(el("p", { class: "empty" }, t("no_agents"))); return; }
  for (const s of ov.sites) box.append(siteCard(s));
}

function siteCard(s) {
  const h = el("h2", {}, s.site,
    el("span", { class: "stat" }, `${s.online}/${s.agents.length} ${t("agents_online")}`),
    el("span", { class: "stat" }, `${t("unsynced")} ${s.unsynced}`));
  if (s.backlog !== undefined && s.backlog !== null) {
    h.append(el("span", { class: "stat site-backlog" }, `${t("backlog")} ${s.backlog.count} · ${t("avg_wait")} ${s.backlog.avg_wait || "—"}`));
  }
  if (s.breakers_open > 0) h.append(badge("open", `${s.breakers_open} ${t("breakers_open")}`));
  if (s.settings_differ) h.append(badge("differ", t("site_differ")));
  const head = el("tr", {}, ...["agent", "status", "last_seen", "version", "breaker", "thresholds", "changed_by", "unsynced", "settings"]
    .map((k) => el("th", { class: k === "unsynced" ? "num" : "" }, t(k))));
  if (canCommand()) head.append(el("th", {}, ""));
  const table = el("table", { class: "agents" }, el("thead", {}, head));
  const body = el("tbody");
  for (const a of s.agents) body.append(agentRow(a));
  table.append(body);
  return el("div", { class: "site", "data-site": s.site }, h, table);
}

function agentRow(a) {
  const th = a.thresholds;
  const thText = th ? `${t("th_backlog")} ≤${th.max_backlog} · ${t("th_wait")} ≤${dur(th.max_avg_wait)} · ${t("th_close")} ${Math.round(th.close_ratio * 100)}% / ${dur(th.close_after)}` : t("from_file");
  const thCell = el("td", {}, thText);
  if (a.settings_overrides) thCell.append(el("div", { class: "muted" }, a.settings_overrides));
  const by = th ? el("td", {}, th.by, el("div", { class: "muted" }, fmtTime(th.at))) : el("td", { class: "muted" }, "—");
  const row = el("tr", { "data-agent": a.agent },
    el("td", {}, a.agent),
    el("td", {}, badge(a.online ? "online" : "offline", t(a.online ? "online" : "offline"))),
    el("td", {}, fmtTime(a.last_seen)),
    el("td", {}, a.version || "—"),
    el("td", { class: "breaker" }, badge(a.breaker_open ? "open" : "closed", t(a.breaker_open ? "open" : "closed"))),
    thCell, by,
    el("td", { class: "num" }, a.unsynced || 0),
    el("td", { class: "settings" }, a.settings_differ ? badge("differ", "⚠ " + t("differ")) : el("span", { class: "muted" }, a.settings_hash ? t("same") : "—")));
  if (canCommand()) row.append(el("td", {}, el("button", { class: "cmd-btn", onclick: () => openCommand(a) }, t("set_thresholds"))));
  return row;
}

// --- breaker threshold command (supervisor, admin) ---
let cmdAgent = null;
function openCommand(a) {
  cmdAgent = a;
  const th = a.thresholds || { max_backlog: 200, max_avg_wait: "8m0s", close_ratio: 0.8, close_after: "1m0s" };
  $("cmd-target").textContent = `${a.site}/${a.agent}`;
  $("cmd-max-backlog").value = th.max_backlog;
  $("cmd-max-avg-wait").value = th.max_avg_wait;
  $("cmd-close-ratio").value = th.close_ratio;
  $("cmd-close-after").value = th.close_after;
  $("cmd-reason").value = "";
  $("cmd-error").textContent = "";
  $("cmd-dialog").showModal();
}
$("cmd-cancel").addEventListener("click", () => $("cmd-dialog").close());
$("cmd-form").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const a = cmdAgent;
  const body = {
    type: "breaker_thresholds", reason: $("cmd-reason").value.trim(),
    max_backlog: Number($("cmd-max-backlog").value), max_avg_wait: $("cmd-max-avg-wait").value.trim(),
    close_ratio: Number($("cmd-close-ratio").value), close_after: $("cmd-close-after").value.trim(),
  };
  const res = await api("POST", `api/v1/agents/${encodeURIComponent(a.site)}/${encodeURIComponent(a.agent)}/commands`, body);
  if (!res.ok) { $("cmd-error").textContent = errText(res); return; }
  $("cmd-dialog").close();
});

window.wedgeConsole = { el, api, t, both, fmtTime, badge, renderers, pageOpen, errText, get lang() { return lang; } };
applyLang();
start();
