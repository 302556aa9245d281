// wedge supervisor console. Plain JS, no build step, no CDN. Chinese first, English toggle.
"use strict";
(function () {
  const T = {
    zh: {
      title: "主管看板", connecting: "连接中…", connected: "已连接", disconnected: "已断开，重连中…",
      login: "主管登录", logout: "退出", counts: "各状态订单", backlog: "待分仓积压", oldest: "最久等待",
      avg: "平均等待", overdueN: "超时订单", breaker: "积压熔断", held: "暂停进入", reset: "复位熔断",
      kpi: "【已揽收】达成时效达标率", today: "今日", shift: "本班", goal: "目标", warn: "预警", sync: "同步状态",
      unsynced: "未同步", lastack: "最近确认", broker: "消息服务器", feed: "实时扫描", time: "时间", result: "结果",
      code: "条码", station: "工位", device: "设备", operator: "操作员", reason: "说明", search: "查询订单",
      searchPh: "订单号 / 平台单号 / 面单号", go: "查询", overdue: "超时订单（排队超过 30 分钟，含暂停进入）", devices: "设备",
      user: "用户名", password: "密码", cancel: "取消", why: "原因", manual: "人工确认下一步", confirm: "确认",
      ack: "知道了", open: "已熔断", closed: "正常", up: "在线", down: "离线", yes: "已连接", no: "未连接",
      accepted: "成功", already_done: "重复", recorded: "已交接", rejected: "拒绝", history: "本地记录", nextStep: "人工确认下一步",
      none: "暂无", lang: "English", readonly: "只读", supervisor: "主管",
      exceptions: "异常件（拦截）", resolve: "处理", resolveTitle: "处理拦截件", resolveAction: "处理方式",
      release: "放行", cancelOrder: "取消订单", return_to_stock: "退回库存", acknowledge: "已联系快递",
      settings: "生效设置", src_file: "配置文件", src_default: "默认值", src_hub: "中心指令", fileSays: "文件值",
      intakeLat: "订单到达延迟（支付→到达本机）", latMedian: "近 10 分钟中位数", latLimit: "预警上限", latMax: "最长",
      latUnmeasured: "未计入（无支付时间 / 支付时间晚于到达）", orders: "单",
      carrierEv: "快递动态",
    },
    en: {
      title: "Supervisor console", connecting: "connecting…", connected: "live", disconnected: "disconnected, retrying…",
      login: "Supervisor login", logout: "Log out", counts: "Orders by state", backlog: "Pending backlog", oldest: "Oldest wait",
      avg: "Average wait", overdueN: "Overdue", breaker: "Backlog breaker", held: "Held", reset: "Reset breaker",
      kpi: "Picked up within 4 h", today: "Today", shift: "Shift", goal: "goal", warn: "warning", sync: "Sync",
      unsynced: "Unsynced", lastack: "Last hub ack", broker: "Broker", feed: "Live scans", time: "Time", result: "Result",
      code: "Code", station: "Station", device: "Device", operator: "Operator", reason: "Detail", search: "Find an order",
      searchPh: "order id / channel order no / waybill", go: "Search", overdue: "Overdue (queued over 30 min, held time included)", devices: "Devices",
      user: "User", password: "Password", cancel: "Cancel", why: "Reason", manual: "Manual confirmation", confirm: "Confirm",
      ack: "Acknowledge", open: "OPEN", closed: "closed", up: "up", down: "down", yes: "connected", no: "disconnected",
      accepted: "OK", already_done: "repeat", recorded: "handed over", rejected: "rejected", history: "Local history", nextStep: "Confirm next step",
      none: "none", lang: "中文", readonly: "read-only", supervisor: "supervisor",
      exceptions: "Exceptions (intercepted)", resolve: "Resolve", resolveTitle: "Resolve an intercept", resolveAction: "Action",
      release: "Release", cancelOrder: "Cancel order", return_to_stock: "Return to stock", acknowledge: "Carrier contacted",
      settings: "Effective settings", src_file: "config file", src_default: "default", src_hub: "hub command", fileSays: "file says",
      intakeLat: "Intake latency (paid → here)", latMedian: "Median, last 10 min", latLimit: "alert above", latMax: "max",
      latUnmeasured: "Not measured (no paid_at / paid after arrival)", orders: "orders",
      carrierEv: "Carrier",
    },
  };
  const STATES = [
    ["awaiting_balance", "待付尾款", "awaiting balance"], ["held", "暂停进入", "held"],
    ["pending_allocation", "待分仓", "pending allocation"], ["waybill_printed", "已打单", "waybill printed"],
    ["picked_up", "已揽收", "picked up"], ["cancelled", "已取消", "cancelled"],
  ];
  // Carrier events relayed by the hub (order.CarrierEventLabel).
  const CARRIER = {
    accepted: ["快递已接单", "accepted by the carrier"], first_scan: ["已揽件（首扫）", "first scan by the courier"],
    in_transit: ["运输中", "in transit"], delivered: ["已签收", "delivered"], exception: ["快递异常", "carrier exception"],
  };
  let lang = localStorage.getItem("wedge.lang") === "en" ? "en" : "zh";
  let me = { role: "viewer", csrf: "" };
  let board = null, feed = [], alerts = new Map(), lastSearch = null, connKey = "connecting";
  let exceptions = null, exLoaded = 0; // the exception queue (null: this agent keeps none)
  const actionLabel = (a) => t(a === "cancel" ? "cancelOrder" : a);
  const $ = (id) => document.getElementById(id);
  const t = (k) => T[lang][k] || k;
  const msg = (m) => (m ? (lang === "zh" ? m.zh || m.en : m.en || m.zh) : "");
  const carrierLabel = (ev) => { const x = CARRIER[ev]; return x ? (lang === "zh" ? x[0] : x[1]) : ev; };
  // carrierNote is a carrier event's journal note read back ("" for any other entry): the event's
  // label and the carrier's time, which leads the entry's detail.
  const carrierNote = (e) => (e.kind === "note" && e.trigger === "carrier" && (e.reason || "").startsWith("carrier_")
    ? carrierLabel(e.reason.slice(8)) + " " + hhmm((e.detail || "").split(" ")[0]) : "");
  const stateLabel = (s) => { const x = STATES.find((r) => r[0] === s); return x ? (lang === "zh" ? x[1] : x[2]) : s; };
  const dur = (ns) => { if (!ns) return "0s"; let s = Math.round(ns / 1e9); const h = Math.floor(s / 3600); s -= h * 3600; const m = Math.floor(s / 60); s -= m * 60; return (h ? h + "h" : "") + (h || m ? m + "m" : "") + s + "s"; };
  const hhmm = (iso) => { if (!iso) return "–"; const d = new Date(iso); return isNaN(d) ? "–" : d.toLocaleTimeString(lang === "zh" ? "zh-CN" : "en-GB", { hour12: false }); };
  const pct = (r) => (r.counted ? (r.rate * 100).toFixed(1) + "%" : "–");
  function el(tag, attrs, ...kids) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) { if (k === "class") e.className = v; else if (k.startsWith("data-")) e.setAttribute(k, v); else e[k] = v; }
    for (const k of kids) e.append(k instanceof Node ? k : document.createTextNode(k == null ? "" : String(k)));
    return e;
  }

  function applyLang() {
    document.documentElement.lang = lang === "zh" ? "zh-CN" : "en";
    document.title = "wedge " + t("title");
    document.querySelectorAll("[data-i18n]").forEach((e) => { e.textContent = t(e.dataset.i18n); });
    document.querySelectorAll("[data-i18n-ph]").forEach((e) => { e.placeholder = t(e.dataset.i18nPh); });
    $("lang-btn").textContent = t("lang");
    renderAll();
  }

  // ---- API ----
  async function api(path, body) {
    const opt = body === undefined ? {} : { method: "POST", headers: { "Content-Type": "application/json", "X-Wedge-CSRF": me.csrf }, body: JSON.stringify(body) };
    const r = await fetch(path, Object.assign({ credentials: "same-origin" }, opt));
    let data = null; try { data = await r.json(); } catch (e) { data = null; }
    if (!r.ok) { const err = new Error(data && data.error ? msg(data.error) : data && data.message ? msg(data.message) : "HTTP " + r.status); err.data = data; throw err; }
    return data;
  }
  async function loadSession() { setMe(await api("api/session")); }
  function setMe(s) {
    me = s;
    document.body.classList.toggle("supervisor", s.role === "supervisor");
    document.body.classList.toggle("no-login", !s.can_login);
    $("me").textContent = s.role === "supervisor" ? t("supervisor") + ": " + s.user : t("readonly");
  }

  // ---- rendering ----
  function renderBoard() {
    if (!board) return;
    $("site").textContent = (board.site || "") + " / " + (board.agent || "");
    const counts = $("counts"); counts.textContent = "";
    for (const [s] of STATES) counts.append(el("tr", { "data-state": s }, el("td", {}, stateLabel(s)), el("td", {}, (board.counts && board.counts[s]) || 0)));
    const b = board.backlog || {};
    $("backlog-n").textContent = b.backlog || 0;
    $("oldest").textContent = dur(b.oldest_wait); $("avgwait").textContent = dur(b.avg_wait); $("overdue-n").textContent = b.overdue || 0;
    const br = board.breaker || {}, th = br.thresholds || {};
    $("breaker-state").textContent = br.open ? t("open") : t("closed");
    $("breaker-state").className = "big " + (br.open ? "open" : "");
    $("card-breaker").classList.toggle("open", !!br.open);
    $("br-backlog").textContent = (b.backlog || 0) + " / " + (th.max_backlog || "–");
    $("br-wait").textContent = dur(b.avg_wait) + " / " + dur(th.max_avg_wait);
    $("br-held").textContent = b.held || 0;
    $("reset-btn").disabled = !br.open;
    const k = board.kpi || {}, day = k.day || {}, sh = k.shift || {};
    $("kpi-day").textContent = pct(day); $("kpi-day").className = "big lvl-" + (day.level || "none");
    $("kpi-day-n").textContent = day.counted ? day.met + "/" + day.counted : "";
    $("kpi-shift").textContent = pct(sh); $("kpi-shift").className = "lvl-" + (sh.level || "none");
    $("kpi-shift-n").textContent = sh.counted ? sh.met + "/" + sh.counted : "";
    $("kpi-shift-name").textContent = t("shift") + (sh.shift ? " (" + (lang === "zh" ? sh.shift_zh || sh.shift : sh.shift) + ")" : "");
    $("kpi-goal").textContent = k.goal ? (k.goal * 100).toFixed(0) + "%" : "–";
    $("kpi-warn").textContent = k.warn ? (k.warn * 100).toFixed(0) + "%" : "–";
    const sy = board.sync || {};
    $("sync-unsynced").textContent = sy.unsynced || 0; $("sync-ack").textContent = hhmm(sy.last_ack);
    $("sync-conn").textContent = sy.connected ? t("yes") : t("no"); $("sync-conn").className = sy.connected ? "" : "down";
    const od = $("overdue").tBodies[0]; od.textContent = "";
    for (const o of board.overdue || []) od.append(el("tr", { class: "overdue" }, el("td", {}, o.order_id), el("td", {}, o.channel_order_no || ""), el("td", {}, hhmm(o.since))));
    if (!(board.overdue || []).length) od.append(el("tr", {}, el("td", {}, t("none"))));
    const dv = $("devices").tBodies[0]; dv.textContent = "";
    for (const d of board.devices || []) dv.append(el("tr", { "data-device": d.name }, el("td", {}, d.name), el("td", {}, d.kind), el("td", {}, d.station || ""),
      el("td", { class: d.up ? "" : "down" }, d.up ? t("up") : t("down")), el("td", {}, d.health || ""), el("td", {}, d.detail || "")));
    renderIntake();
    renderSettings();
  }
  // short is a bucket bound as people say it: 30s, 1m, 23m, 1h.
  const short = (ns) => { const s = Math.round(ns / 1e9); return s % 3600 === 0 ? s / 3600 + "h" : s % 60 === 0 ? s / 60 + "m" : s + "s"; };
  // renderIntake shows how late orders reach this PC: the window's median against the limit (red
  // while the alert is raised), what was not measured, and the distribution as small bars.
  function renderIntake() {
    const l = board.intake || {}, n = l.count || 0;
    $("lat-median").textContent = n ? dur(l.median) : "–";
    $("lat-median").className = "big " + (l.alert ? "lvl-bad" : n ? "lvl-ok" : "lvl-none");
    $("card-intake").classList.toggle("alert", !!l.alert);
    $("lat-n").textContent = n + " " + t("orders");
    $("lat-limit").textContent = l.limit ? dur(l.limit) : "–"; $("lat-max").textContent = n ? dur(l.max) : "–";
    $("lat-unmeasured").textContent = (l.no_paid_at || 0) + " / " + (l.future_paid_at || 0);
    const tb = $("lat-dist").tBodies[0]; tb.textContent = "";
    const bounds = l.bounds || [], counts = l.buckets || [], top = Math.max(1, ...counts);
    counts.forEach((c, i) => {
      if (!c) return;
      const label = i < bounds.length ? "≤" + short(bounds[i]) : ">" + short(bounds[bounds.length - 1]);
      const over = i < bounds.length ? bounds[i] > l.limit : true;
      const bar = el("span", { class: "bar" });
      bar.style.width = Math.max(2, Math.round((c / top) * 100)) + "%";
      tb.append(el("tr", { "data-bucket": label, class: over ? "over" : "" }, el("td", {}, label), el("td", {}, bar), el("td", {}, c)));
    });
    if (!tb.rows.length) tb.append(el("tr", {}, el("td", {}, t("none"))));
  }
  // origin says where a setting's value comes from: the file and line, the default, or the hub
  // command with who and when (and what the file says).
  function origin(e) {
    const base = (f) => (f || "").split(/[\\/]/).pop();
    if (e.source === "hub") return t("src_hub") + " " + [e.command, e.by, hhmm(e.at)].filter(Boolean).join(" · ") + " (" + t("fileSays") + " " + e.file_value + ")";
    if (e.source === "default") return t("src_default");
    return t("src_file") + " " + base(e.file) + (e.line ? ":" + e.line : "");
  }
  function renderSettings() {
    const tb = $("settings").tBodies[0]; tb.textContent = "";
    for (const e of board.settings || []) tb.append(el("tr", { "data-field": e.field, "data-source": e.source, class: "src-" + e.source },
      el("td", {}, e.field), el("td", {}, e.value), el("td", {}, origin(e))));
    if (!(board.settings || []).length) tb.append(el("tr", {}, el("td", {}, t("none"))));
  }
  function feedRow(s) {
    return el("tr", { class: s.result }, el("td", {}, hhmm(s.at)), el("td", {}, t(s.result)), el("td", {}, s.code), el("td", {}, s.station),
      el("td", {}, s.device), el("td", {}, s.operator || ""), el("td", {}, s.result === "accepted" ? "" : msg(s.message)));
  }
  function renderFeed() { const tb = $("feed").tBodies[0]; tb.textContent = ""; for (let i = feed.length - 1; i >= 0; i--) tb.append(feedRow(feed[i])); }
  function renderAlerts() {
    const box = $("popups"); box.textContent = "";
    for (const a of alerts.values()) {
      const btn = el("button", { class: "ack" }, t("ack"));
      btn.addEventListener("click", () => ackAlert(a.id));
      box.append(el("div", { class: "popup", id: "alert-" + a.id, "data-kind": a.kind }, el("h3", {}, msg(a.title)), el("p", {}, hhmm(a.at) + " " + (a.detail || "")), btn));
    }
  }
  function renderSearch() {
    const box = $("search-result"); box.textContent = "";
    if (!lastSearch) return;
    if (lastSearch.error) { box.append(el("p", { class: "err" }, lastSearch.error)); return; }
    const o = lastSearch.order;
    box.append(el("p", {}, el("b", {}, o.order_id), " · " + stateLabel(o.state) + (o.waybill ? " · " + o.waybill : "") + (o.channel_order_no ? " · " + o.channel_order_no : ""),
      o.tracking && o.tracking.event ? el("span", { class: "carrier-ev", id: "carrier-ev", "data-event": o.tracking.event },
        " · " + t("carrierEv") + ": " + carrierLabel(o.tracking.event) + " " + hhmm(o.tracking.at)) : ""));
    if (lastSearch.next) {
      const b = el("button", { class: "for-supervisor", id: "confirm-btn" }, t("nextStep"));
      b.addEventListener("click", () => openConfirm(o, lastSearch.next));
      box.append(b);
    }
    const tb = el("tbody");
    for (const e of lastSearch.history || []) tb.append(el("tr", {}, el("td", {}, e.seq), el("td", {}, hhmm(e.at)), el("td", {}, e.kind),
      el("td", {}, (e.from ? stateLabel(e.from) : "") + (e.to ? " → " + stateLabel(e.to) : "")), el("td", {}, e.trigger || ""),
      el("td", {}, e.operator || ""), el("td", {}, carrierNote(e) || e.reason || e.detail || "")));
    box.append(el("h3", {}, t("history")), el("table", { class: "hist" }, tb));
  }
  function renderExceptions() {
    $("exceptions-box").hidden = !exceptions;
    if (!exceptions) return;
    const tb = $("exceptions").tBodies[0]; tb.textContent = "";
    for (const x of exceptions) {
      const b = el("button", { class: "for-supervisor resolve-btn", "data-order": x.order_id }, t("resolve"));
      b.addEventListener("click", () => openResolve(x));
      tb.append(el("tr", { class: "exception " + x.status, "data-order": x.order_id }, el("td", {}, x.order_id), el("td", {}, stateLabel(x.state)),
        el("td", {}, msg(x.message) + (x.reason ? " (" + x.reason + ")" : ""),
          x.carrier_event ? el("span", { class: "carrier-ev" }, " · " + t("carrierEv") + ": " + carrierLabel(x.carrier_event.event) + " " + hhmm(x.carrier_event.at)) : ""),
        el("td", {}, hhmm(x.since)), el("td", {}, b)));
    }
    if (!exceptions.length) tb.append(el("tr", {}, el("td", {}, t("none"))));
  }
  async function loadExceptions(force) {
    if (!force && Date.now() - exLoaded < 10000) return; // at most every 10 s on board changes
    exLoaded = Date.now();
    try { const r = await api("api/exceptions"); exceptions = r.available ? r.exceptions : null; } catch (e) { return; }
    renderExceptions();
  }
  function openResolve(x) {
    $("resolve-what").textContent = x.order_id + ": " + msg(x.message);
    const sel = $("resolve-action"); sel.textContent = "";
    for (const a of x.actions) sel.append(el("option", { value: a }, actionLabel(a)));
    $("resolve-err").textContent = ""; $("resolve-dlg").dataset.order = x.order_id; $("resolve-dlg").showModal();
  }
  function setConn(k) { connKey = k; $("conn").textContent = t(k); $("conn").className = k === "connected" ? "conn ok" : "conn"; }
  function renderAll() { setConn(connKey); renderBoard(); renderFeed(); renderAlerts(); renderSearch(); renderExceptions(); if (me.role) setMe(me); }

  // ---- live ----
  let ws = null, retry = 500;
  function connect() {
    const u = new URL("ws", location.href); u.protocol = location.protocol === "https:" ? "wss:" : "ws:";
    ws = new WebSocket(u);
    ws.onopen = () => { retry = 500; };
    ws.onmessage = (ev) => {
      const m = JSON.parse(ev.data);
      switch (m.type) {
        case "snapshot":
          board = m.data.board; feed = m.data.feed || []; alerts = new Map();
          for (const a of m.data.alerts || []) if (!dismissed.has(a.id)) alerts.set(a.id, a);
          connKey = "connected"; renderAll(); loadExceptions(true); break;
        case "board": board = m.data; renderBoard(); loadExceptions(false); break;
        case "scan": if (m.data.reason === "intercepted") loadExceptions(true);
          feed.push(m.data); if (feed.length > 50) feed.shift(); $("feed").tBodies[0].prepend(feedRow(m.data));
          while ($("feed").tBodies[0].rows.length > 50) $("feed").tBodies[0].lastChild.remove(); break;
        case "alert": alerts.set(m.data.id, m.data); renderAlerts(); break;
        case "ack": alerts.delete(m.data.id); renderAlerts(); break;
      }
    };
    ws.onclose = () => { setConn("disconnected"); setTimeout(connect, retry); retry = Math.min(retry * 2, 10000); };
  }

  // ---- actions ----
  const dismissed = new Set();
  async function ackAlert(id) {
    if (me.role === "supervisor") {
      try { await api("api/alerts/ack", { id: id }); } catch (e) { /* already acknowledged elsewhere */ }
    } else {
      dismissed.add(id); // read-only: only this screen
    }
    alerts.delete(id); renderAlerts();
  }
  function wireDialog(dlg, form, submit) {
    dlg.querySelector(".cancel").addEventListener("click", () => dlg.close());
    form.addEventListener("submit", async (ev) => { ev.preventDefault(); try { await submit(); dlg.close(); } catch (e) { dlg.querySelector(".err").textContent = e.message; } });
  }
  function openConfirm(o, next) {
    $("confirm-what").textContent = o.order_id + ": " + stateLabel(o.state) + " → " + next;
    $("confirm-err").textContent = ""; $("confirm-dlg").dataset.order = o.order_id; $("confirm-dlg").showModal();
  }
  async function doSearch(code) {
    try { lastSearch = await api("api/search?code=" + encodeURIComponent(code)); } catch (e) { lastSearch = { error: e.message }; }
    renderSearch();
  }

  document.addEventListener("DOMContentLoaded", async () => {
    $("lang-btn").addEventListener("click", () => { lang = lang === "zh" ? "en" : "zh"; localStorage.setItem("wedge.lang", lang); applyLang(); });
    $("login-btn").addEventListener("click", () => { $("login-err").textContent = ""; $("login-dlg").showModal(); });
    $("logout-btn").addEventListener("click", async () => { setMe(await api("api/logout", {})); renderSearch(); });
    $("reset-btn").addEventListener("click", () => { $("reset-err").textContent = ""; $("reset-dlg").showModal(); });
    wireDialog($("login-dlg"), $("login-form"), async () => { setMe(await api("api/login", { user: $("login-user").value, password: $("login-pass").value })); $("login-pass").value = ""; renderSearch(); });
    wireDialog($("reset-dlg"), $("reset-form"), async () => { await api("api/breaker/reset", { reason: $("reset-reason").value }); $("reset-reason").value = ""; });
    wireDialog($("confirm-dlg"), $("confirm-form"), async () => {
      const r = await api("api/confirm", { order_id: $("confirm-dlg").dataset.order, operator: $("confirm-operator").value, note: $("confirm-note").value });
      lastSearch = null; await doSearch(r && $("confirm-dlg").dataset.order);
    });
    wireDialog($("resolve-dlg"), $("resolve-form"), async () => {
      await api("api/exceptions/resolve", { order_id: $("resolve-dlg").dataset.order, action: $("resolve-action").value,
        operator: $("resolve-operator").value, note: $("resolve-note").value });
      $("resolve-note").value = ""; await loadExceptions(true);
    });
    $("search-form").addEventListener("submit", (ev) => { ev.preventDefault(); const c = $("search-code").value.trim(); if (c) doSearch(c); });
    applyLang();
    try { await loadSession(); } catch (e) { /* board still works read-only */ }
    connect();
  });
})();
