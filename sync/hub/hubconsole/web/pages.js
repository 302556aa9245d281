// The report pages of the central console: pickup KPI with drill-down (network → site → late
// orders), order trace, anomalies by cause (inline SVG chart) and the cross-site lists. Each reads
// the hub's API through the console (api/v1/…); a route this hub does not serve shows as such.
"use strict";

(() => {
  const C = window.wedgeConsole;
  const { el, api, t, both, fmtTime, badge, errText } = C;
  const $ = (id) => document.getElementById(id);

  const L = {
    network: ["全网", "network"], key: ["分组", "group"], orders: ["订单", "orders"], on_time: ["按时揽收", "on time"],
    late: ["超时", "late"], open: ["未到期", "open"], no_scan: ["无扫描时间", "no scan time"], rate: ["达成率", "rate"],
    level: ["评级", "level"], goal: ["目标", "goal"], within: ["时限", "within"], late_orders: ["超时订单", "late orders"],
    order: ["订单号", "order"], channel: ["渠道", "channel"], carrier: ["快递", "carrier"], paid: ["付款", "paid"],
    picked: ["揽收", "picked up"], hours: ["小时", "hours"], station: ["工位", "station"], agent: ["终端", "agent"],
    at: ["时间", "when"], who: ["操作人", "who"], device: ["设备", "device"], action: ["动作", "action"],
    from_to: ["状态变化", "from → to"], reason: ["原因", "reason"], chain: ["链校验", "chain"], state: ["状态", "state"],
    waybill: ["面单号", "waybill"], channel_no: ["平台单号", "channel order no"], site: ["仓库", "site"],
    cause: ["原因类别", "cause"], count: ["次数", "count"], kind: ["类型", "kind"], total: ["合计", "total"],
    by_site: ["按仓库", "by site"], detail: ["明细", "details"], waited: ["已等待（分钟）", "waited (min)"], code: ["条码", "code"],
    next_page: ["下一页", "next page"], none: ["无", "none"], found_by: ["匹配方式", "matched by"],
    lvl_ok: ["达标", "ok"], lvl_warn: ["预警", "warn"], lvl_bad: ["未达标", "bad"], lvl_none: ["无数据", "none"],
    anomalies_chart: ["异常次数（按原因）", "anomalies by cause"], kpi_chart: ["揽收达成率", "pickup rate"],
    truncated: ["记录过多，仅显示前部分", "too many entries: the first ones are shown"],
    compared: ["已比对", "compared"], agree: ["一致", "agree"], settling: ["同步中", "settling"], ratio: ["一致率", "ratio"],
    hub_state: ["中心状态", "hub state"], agent_states: ["各终端状态", "the PCs' states"], disagreements: ["不一致订单", "disagreeing orders"],
    deposits: ["已付定金", "deposits"], balance_paid: ["已付尾款", "balance paid"], conversion: ["尾款转化率", "conversion"],
    avg_to_pending: ["尾款到待分仓平均（小时）", "avg balance → pending (h)"], awaiting: ["待付尾款", "awaiting balance"],
    suspect: ["疑似异常", "suspect"], balance_at: ["尾款时间", "balance paid"], pending_at: ["进入待分仓", "reached pending"],
    due: ["应揽收扫描", "first scan due"],
  };
  const l = (k) => both(L[k][0], L[k][1]);
  const pct = (r) => (Math.round(r * 1000) / 10).toFixed(1) + "%";

  function table(cols, rows, cls) {
    const head = el("tr", {}, ...cols.map((c) => el("th", { class: c.num ? "num" : "" }, c.title)));
    const body = el("tbody", {}, ...rows.map((r) => el("tr", r.attrs || {}, ...cols.map((c) => el("td", { class: (c.num ? "num " : "") + (c.cls || "") }, c.cell(r.v))))));
    return el("table", { class: cls || "" }, el("thead", {}, head), body);
  }

  // show puts the answer of one request into box, or its error (404: not served by this hub).
  function showError(box, res) {
    box.replaceChildren(el("p", { class: "error" }, res.status === 404 && !(res.data && res.data.zh) ? t("unavailable") : errText(res)));
  }

  function query(params) {
    const q = new URLSearchParams();
    for (const [k, v] of Object.entries(params)) if (v) q.set(k, v);
    const s = q.toString();
    return s ? "?" + s : "";
  }

  // --- KPI: network → site → late orders ---
  const kpi = { site: "", rep: null, late: null };
  async function loadKPI() {
    const from = $("kpi-from").value, to = $("kpi-to").value;
    const chosen = $("kpi-by").value;
    const by = kpi.site && chosen === "site" ? "day" : chosen; // inside a site: by day unless asked otherwise
    const res = await api("GET", "api/v1/kpi" + query({ from, to, by, site: kpi.site }));
    if (!res.ok) { showError($("kpi-out"), res); return; }
    kpi.rep = res.data;
    kpi.late = null;
    if (kpi.site) {
      const lr = await api("GET", "api/v1/kpi/late" + query({ from, to, site: kpi.site }));
      kpi.late = !lr.ok ? [] : Array.isArray(lr.data) ? lr.data : lr.data.orders || []; // a bare list (older hubs: {"orders": […]})
    }
    renderKPI();
  }

  function levelBadge(lv) {
    const cls = { ok: "good", warn: "differ", bad: "bad" }[lv] || "closed";
    return badge(cls + " level-" + lv, l("lvl_" + (L["lvl_" + lv] ? lv : "none")));
  }

  function renderKPI() {
    const box = $("kpi-out");
    const crumbs = $("kpi-crumbs");
    crumbs.replaceChildren(kpi.site ? el("a", { onclick: () => { kpi.site = ""; loadKPI(); } }, l("network")) : el("span", {}, l("network")));
    if (kpi.site) crumbs.append(" › ", el("span", {}, kpi.site));
    const rep = kpi.rep;
    if (!rep) return;
    box.replaceChildren(el("p", { class: "muted" }, `${l("goal")} ${pct(rep.goal)} · ${l("within")} ${rep.within}`));
    const drill = rep.by === "site" && !kpi.site;
    const cols = [
      { title: l("key"), cell: (r) => (drill && r.key ? el("a", { class: "drill", "data-site": r.key, onclick: () => { kpi.site = r.key; loadKPI(); } }, r.key) : r.key || l("total")) },
      { title: l("orders"), num: true, cell: (r) => r.orders },
      { title: l("on_time"), num: true, cell: (r) => r.picked_on_time },
      { title: l("late"), num: true, cls: "late", cell: (r) => r.late },
      { title: l("open"), num: true, cell: (r) => r.open },
      { title: l("no_scan"), num: true, cell: (r) => r.no_scan_time },
      { title: l("rate"), num: true, cls: "rate", cell: (r) => (r.level === "none" ? "—" : pct(r.rate)) },
      { title: l("level"), cell: (r) => levelBadge(r.level) },
    ];
    const rows = rep.rows.map((r) => ({ v: r, attrs: { "data-key": r.key } }));
    rows.push({ v: Object.assign({}, rep.total, { key: "" }), attrs: { class: "total" } });
    box.append(table(cols, rows, "kpi"));
    const chartRows = rep.rows.filter((r) => r.level !== "none").map((r) => ({ label: r.key, value: Math.round(r.rate * 1000) / 10, warn: r.level !== "ok" }));
    if (chartRows.length) box.append(el("div", { class: "chart" }, window.wedgeCharts.barChart(chartRows, { title: l("kpi_chart"), max: 100, fmt: (v) => v + "%" })));
    if (kpi.late) box.append(el("h3", {}, `${l("late_orders")} (${kpi.late.length})`), lateTable(kpi.late));
  }

  function lateTable(orders) {
    if (!orders.length) return el("p", { class: "empty" }, l("none"));
    return table([
      { title: l("order"), cell: (o) => el("a", { class: "drill", onclick: () => traceFor(o.order_id) }, o.order_id) },
      { title: l("channel"), cell: (o) => o.channel || "—" },
      { title: l("carrier"), cell: (o) => o.carrier || "—" },
      { title: l("paid"), cell: (o) => fmtTime(o.paid_at) },
      { title: l("picked"), cell: (o) => fmtTime(o.picked_at) },
      { title: l("hours"), num: true, cell: (o) => o.hours },
      { title: l("agent"), cell: (o) => [o.agent, o.station].filter(Boolean).join(" / ") || "—" },
    ], orders.map((o) => ({ v: o, attrs: { "data-order": o.order_id } })), "late");
  }

  $("kpi-form").addEventListener("submit", (ev) => { ev.preventDefault(); loadKPI(); });
  C.pageOpen.kpi = () => { if (!kpi.rep) loadKPI(); };
  C.renderers.kpi = renderKPI;

  // --- trace ---
  let traced = null;
  function traceFor(q) {
    $("trace-q").value = q;
    document.querySelector('#tabs button[data-tab="trace"]').click();
    loadTrace();
  }
  async function loadTrace() {
    const q = $("trace-q").value.trim();
    if (!q) return;
    const res = await api("GET", "api/v1/trace" + query({ q }));
    if (!res.ok) { traced = null; showError($("trace-out"), res); return; }
    traced = res.data;
    renderTrace();
  }
  function stateText(s) { return s || "—"; }
  function renderTrace() {
    if (!traced) return;
    const box = $("trace-out");
    box.replaceChildren(el("p", { class: "muted" }, `${l("found_by")}: ${traced.kind}`));
    for (const o of traced.orders) {
      box.append(el("div", { class: "site trace-order", "data-order": o.order_id },
        el("h2", {}, o.order_id,
          el("span", { class: "stat" }, `${l("site")} ${o.site || "—"}`),
          el("span", { class: "stat" }, `${l("channel_no")} ${o.channel_order_no || "—"}`),
          el("span", { class: "stat" }, `${l("waybill")} ${o.waybill || "—"} ${o.carrier || ""}`),
          badge("closed", o.state_label || stateText(o.state))),
        o.truncated ? el("p", { class: "error" }, l("truncated")) : null,
        table([
          { title: l("at"), cell: (e) => fmtTime(e.at) },
          { title: l("who"), cell: (e) => e.actor || "—" },
          { title: l("station"), cell: (e) => [e.site + "/" + e.agent, e.station].filter(Boolean).join(" · ") },
          { title: l("device"), cell: (e) => e.device || "—" },
          { title: l("action"), cell: (e) => e.action },
          { title: l("from_to"), cell: (e) => `${e.from || "∅"} → ${e.to || "∅"}` },
          { title: l("reason"), cell: (e) => (e.reason ? both(e.reason_zh || e.reason, e.reason_en || e.reason) : "") },
          { title: l("chain"), cls: "chain", cell: (e) => (e.chain_ok ? el("span", { class: "ok-chain" }, "✓") : el("span", { class: "bad-chain", title: e.note || "" }, "✗ " + (e.note || ""))) },
        ], o.entries.map((e) => ({ v: e, attrs: { "data-seq": e.seq } })), "trace")));
    }
  }
  $("trace-form").addEventListener("submit", (ev) => { ev.preventDefault(); loadTrace(); });
  C.renderers.trace = renderTrace;

  // --- anomalies by cause ---
  let anomalies = null;
  async function loadAnomalies() {
    const res = await api("GET", "api/v1/anomalies" + query({ from: $("anom-from").value, to: $("anom-to").value }));
    if (!res.ok) { anomalies = null; $("anom-chart").replaceChildren(); showError($("anom-out"), res); return; }
    anomalies = res.data;
    renderAnomalies();
  }
  function causeName(rep, c) {
    const ci = (rep.causes || []).find((x) => x.cause === c);
    return ci ? both(ci.zh, ci.en) : c;
  }
  function renderAnomalies() {
    const rep = anomalies;
    if (!rep) return;
    const causes = (rep.causes || []).map((c) => c.cause);
    for (const c of Object.keys(rep.total || {})) if (!causes.includes(c)) causes.push(c);
    const rows = causes.map((c) => ({ label: causeName(rep, c), value: (rep.total || {})[c] || 0, cause: c }));
    const svg = window.wedgeCharts.barChart(rows, { title: l("anomalies_chart"), labelWidth: 220 });
    svg.querySelectorAll("g[data-label]").forEach((g, i) => g.setAttribute("data-cause", rows[i].cause));
    $("anom-chart").replaceChildren(el("div", { class: "chart" }, svg));
    const out = $("anom-out");
    out.replaceChildren(table([
      { title: l("cause"), cell: (r) => r.label },
      { title: l("count"), num: true, cls: "count", cell: (r) => r.value },
      { title: l("kind"), cell: (r) => rep.kinds.filter((k) => k.cause === r.cause).map((k) => `${k.kind} ×${k.count}`).join(", ") || "—" },
    ], rows.map((r) => ({ v: r, attrs: { "data-cause": r.cause } })), "anomalies"));
    if (rep.by_site.length) {
      out.append(el("h3", {}, l("by_site")), table([
        { title: l("site"), cell: (r) => r.site },
        { title: l("cause"), cell: (r) => causeName(rep, r.cause) },
        { title: l("count"), num: true, cell: (r) => r.count },
      ], rep.by_site.map((r) => ({ v: r }))));
    }
  }
  $("anom-form").addEventListener("submit", (ev) => { ev.preventDefault(); loadAnomalies(); });
  C.pageOpen.anomalies = () => { if (!anomalies) loadAnomalies(); };
  C.renderers.anomalies = renderAnomalies;

  // --- lists with filters ---
  let list = null;
  async function loadList(after) {
    const kind = $("list-kind").value;
    const res = await api("GET", `api/v1/lists/${kind}` + query({ site: $("list-site").value.trim(), agent: $("list-agent").value.trim(), reason: $("list-reason").value.trim(), after }));
    if (!res.ok) { list = null; showError($("list-out"), res); return; }
    if (after && list) { list.rows = list.rows.concat(res.data.rows); list.next = res.data.next; } else list = res.data;
    renderList();
  }
  function renderList() {
    if (!list) return;
    const box = $("list-out");
    if (!list.rows.length) { box.replaceChildren(el("p", { class: "empty" }, l("none"))); return; }
    const cols = [
      { title: l("order"), cell: (r) => (r.order_id ? el("a", { class: "drill", onclick: () => traceFor(r.order_id) }, r.order_id) : "—") },
      { title: l("site"), cell: (r) => r.site + (r.agent ? "/" + r.agent : "") },
      { title: l("at"), cell: (r) => fmtTime(r.at) },
      { title: l("state"), cell: (r) => r.state_label || r.state || "—" },
      { title: l("reason"), cell: (r) => both(r.reason_zh || r.reason, r.reason_en || r.reason) },
    ];
    if (list.kind === "overdue") cols.push({ title: l("waited"), num: true, cell: (r) => r.waited_minutes });
    if (list.kind === "rejected") cols.push({ title: l("station"), cell: (r) => r.station || "—" }, { title: l("code"), cell: (r) => r.code || "—" });
    if (list.kind === "false_completion") { // 伪完成: at is the handover; who and which device handed it over
      cols.push({ title: l("waybill"), cell: (r) => r.waybill || "—" }, { title: l("carrier"), cell: (r) => r.carrier || "—" },
        { title: l("station"), cell: (r) => [r.station, r.device].filter(Boolean).join(" · ") || "—" },
        { title: l("who"), cell: (r) => r.operator || "—" }, { title: l("due"), cell: (r) => fmtTime(r.due) });
    }
    box.replaceChildren(table(cols, list.rows.map((r) => ({ v: r })), "list"));
    if (list.next) box.append(el("button", { onclick: () => loadList(list.next) }, l("next_page")));
  }
  $("list-form").addEventListener("submit", (ev) => { ev.preventDefault(); loadList(); });
  C.pageOpen.lists = () => { if (!list) loadList(); };
  C.renderers.lists = renderList;

  // --- consistency between the PCs and the hub, and the presale watch ---
  function siteReport(name, path, siteInput, box, render) {
    let rep = null;
    const load = async () => {
      const res = await api("GET", path + query({ site: $(siteInput).value.trim() }));
      if (!res.ok) { rep = null; showError($(box), res); return; }
      rep = res.data;
      render(rep, $(box));
    };
    C.pageOpen[name] = () => { if (!rep) load(); };
    C.renderers[name] = () => { if (rep) render(rep, $(box)); };
    return load;
  }
  const stat = (k, v) => el("span", { class: "stat" }, `${l(k)} ${v}`);
  const loadCons = siteReport("consistency", "api/v1/consistency", "cons-site", "cons-out", (rep, box) => {
    box.replaceChildren(el("p", { class: "summary" }, stat("ratio", pct(rep.ratio)), " · ", stat("compared", rep.compared), " · ",
      stat("agree", rep.agree), " · ", stat("settling", rep.settling), " ", levelBadge(rep.level)));
    box.append(table([
      { title: l("site"), cell: (r) => r.site },
      { title: l("compared"), num: true, cell: (r) => r.compared },
      { title: l("agree"), num: true, cell: (r) => r.agree },
      { title: l("ratio"), num: true, cell: (r) => pct(r.ratio) },
      { title: l("level"), cell: (r) => levelBadge(r.level) },
    ], (rep.sites || []).map((r) => ({ v: r, attrs: { "data-site": r.site } })), "consistency"));
    box.append(el("h3", {}, `${l("disagreements")} (${(rep.orders || []).length})`));
    if ((rep.orders || []).length) {
      box.append(table([
        { title: l("order"), cell: (o) => el("a", { class: "drill", onclick: () => traceFor(o.order_id) }, o.order_id) },
        { title: l("site"), cell: (o) => o.site },
        { title: l("hub_state"), cell: (o) => o.hub_state },
        { title: l("agent_states"), cell: (o) => o.agents.map((a) => `${a.agent}: ${a.state}`).join(", ") },
      ], rep.orders.map((o) => ({ v: o, attrs: { "data-order": o.order_id } }))));
    }
  });
  $("cons-form").addEventListener("submit", (ev) => { ev.preventDefault(); loadCons(); });

  const presaleTable = (orders) => (orders.length ? table([
    { title: l("order"), cell: (o) => el("a", { class: "drill", onclick: () => traceFor(o.order_id) }, o.order_id) },
    { title: l("site"), cell: (o) => o.site },
    { title: l("state"), cell: (o) => o.state },
    { title: l("balance_at"), cell: (o) => fmtTime(o.balance_paid_at) },
    { title: l("pending_at"), cell: (o) => fmtTime(o.pending_at) },
    { title: l("hours"), num: true, cell: (o) => o.hours || "—" },
  ], orders.map((o) => ({ v: o, attrs: { "data-order": o.order_id } }))) : el("p", { class: "empty" }, l("none")));
  const loadPre = siteReport("presale", "api/v1/presale", "pre-site", "pre-out", (rep, box) => {
    box.replaceChildren(el("p", { class: "summary" }, stat("deposits", rep.deposits), " · ", stat("balance_paid", rep.balance_paid), " · ",
      stat("conversion", pct(rep.conversion)), " · ", stat("avg_to_pending", rep.avg_hours_to_pending)));
    box.append(el("h3", {}, `${l("suspect")} (${rep.suspect.length})`), presaleTable(rep.suspect),
      el("h3", {}, `${l("awaiting")} (${rep.awaiting_balance.length})`), presaleTable(rep.awaiting_balance));
  });
  $("pre-form").addEventListener("submit", (ev) => { ev.preventDefault(); loadPre(); });
})();
