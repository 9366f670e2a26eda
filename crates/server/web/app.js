// yuqing analyst page: search, volume over time, alerts. Plain JavaScript,
// no build step and nothing loaded from the network: the API is all it
// talks to (docs/api.md).
"use strict";

const I18N = {
  zh: {
    skip: "跳到结果", tagline: "突发事件舆情监测：搜索、趋势与告警", signout: "退出令牌",
    search: "搜索", query: "查询", queryPlaceholder: "例如：爆炸 滁州", searchButton: "搜索",
    syntaxTitle: "查询语法", syntaxWord: "含这个词的帖子；不加空格的中文会按词切分，所有词都要出现",
    syntaxPhrase: "短语：词语相邻且按顺序", syntaxBool: "排除、或者；默认所有词都要匹配",
    syntaxField: "按字段", syntaxNorm: "繁体与简体、全角与半角、大小写互相匹配",
    category: "类别", any: "全部", region: "地区", regionPlaceholder: "滁州", level: "最低级别",
    blue: "蓝色", yellow: "黄色", orange: "橙色", red: "红色",
    timeRange: "时间范围", rangeAll: "全部", range1h: "近1小时", range24h: "近24小时", range7d: "近7天",
    rangeCustom: "自定义", from: "从", to: "到", volume: "数量趋势", dragHint: "在图上拖动可缩小时间范围",
    results: "结果", prev: "上一页", next: "下一页", pages: "分页", alerts: "告警", close: "关闭",
    alertPosts: "相关帖子", time: "时间", platform: "平台", sort: "排序", sortTime: "最新", sortRelevance: "相关度", sortScore: "评分",
    breakdown: "分布", facetHint: "点击即可筛选", provinceMap: "省级分布", categoryTrends: "各类别趋势", exportCsv: "导出 CSV",
    postDetail: "帖子详情", source: "原文", details: "详情", author: "作者", engagement: "转发 / 评论 / 点赞 / 浏览",
    severity: "严重程度", dead: "死亡", injured: "受伤", scores: "类别得分", zoneBeijing: "北京时间 (UTC+08:00)", timesIn: "时间均为", tokenTitle: "需要访问令牌", tokenHelp: "此服务需要令牌。令牌只保存在本标签页中。",
    token: "令牌", tokenSave: "确定",
    total: (n) => `共 ${n} 条`, page: (p, n) => `第 ${p} / ${n} 页`, noResults: "没有匹配的帖子",
    noAlerts: "暂无告警", updated: (t) => `更新于 ${t}`, noData: "没有数据",
    state: { open: "进行中", update: "进行中", resolved: "已结束" },
    allRegions: "全部地区", reports: (n) => `${n} 条独立报道`, firstReport: "首条报道", countLabel: "独立报道",
    window: "时间窗", baseline: "基线", authors: "作者数", z: "z 值", levelName: "级别", terms: "关键词", regionsNamed: "涉及地区",
    openedBy: "触发", byBurst: (m) => `${m} 分钟内报道激增`, bySeverity: "严重报道", byWatch: (w) => `关键词预警 ${w}`, unconfirmed: "待确认",
    chartLabel: (n) => `数量趋势，共 ${n} 个时间段`, loading: "加载中…",
    langButton: "EN", langLabel: "Switch to English",
    ackTitle: "处置", ackBy: "处置人", ackVerdict: "结论", ackNote: "备注", ackSubmit: "确认处置",
    verdict_confirmed: "属实", verdict_false_alarm: "误报", verdict_duplicate: "重复", verdict_monitoring: "持续关注",
    ackNone: "未处置", ackLine: (v, by, at) => `${v} · ${by} · ${at}`, ackSaved: (at) => `已记录（${at}）`,
  },
  en: {
    skip: "Skip to results", tagline: "Incident monitoring: search, trends and alerts", signout: "Forget token",
    search: "Search", query: "Query", queryPlaceholder: "e.g. 爆炸 滁州", searchButton: "Search",
    syntaxTitle: "Query syntax", syntaxWord: "posts with the word; Chinese without spaces is split into words, all of which must match",
    syntaxPhrase: "a phrase: the words next to each other, in order", syntaxBool: "exclude, or; words are ANDed by default",
    syntaxField: "by field", syntaxNorm: "traditional and simplified, full and half width, upper and lower case match each other",
    category: "Category", any: "Any", region: "Region", regionPlaceholder: "滁州", level: "Minimum level",
    blue: "Blue", yellow: "Yellow", orange: "Orange", red: "Red",
    timeRange: "Time range", rangeAll: "All", range1h: "Last hour", range24h: "Last 24 h", range7d: "Last 7 days",
    rangeCustom: "Custom", from: "From", to: "To", volume: "Volume over time", dragHint: "Drag across the chart to narrow the time range",
    results: "Results", prev: "Previous", next: "Next", pages: "Pages", alerts: "Alerts", close: "Close",
    alertPosts: "Its posts", time: "Time", platform: "Platform", sort: "Sort", sortTime: "Newest", sortRelevance: "Relevance", sortScore: "Score",
    breakdown: "Breakdown", facetHint: "click to filter", provinceMap: "By province", categoryTrends: "Trend per category", exportCsv: "Export CSV",
    postDetail: "Post", source: "Original", details: "Details", author: "Author", engagement: "Reposts / comments / likes / views",
    severity: "Severity", dead: "Dead", injured: "Injured", scores: "Category scores", zoneBeijing: "Beijing time (UTC+08:00)", timesIn: "Times in", tokenTitle: "Access token needed", tokenHelp: "This service needs a token. It is kept in this tab only.",
    token: "Token", tokenSave: "OK",
    total: (n) => `${n} posts`, page: (p, n) => `page ${p} of ${n}`, noResults: "No matching posts",
    noAlerts: "No alerts", updated: (t) => `updated ${t}`, noData: "No data",
    state: { open: "open", update: "open", resolved: "resolved" },
    allRegions: "all regions", reports: (n) => `${n} independent reports`, firstReport: "First report", countLabel: "Independent reports",
    window: "Window", baseline: "Baseline", authors: "Authors", z: "z", levelName: "Level", terms: "Terms", regionsNamed: "Regions named",
    openedBy: "Opened by", byBurst: (m) => `a burst within ${m} min`, bySeverity: "a severe report", byWatch: (w) => `the keyword watch ${w}`, unconfirmed: "unconfirmed",
    chartLabel: (n) => `Volume over time, ${n} intervals`, loading: "Loading…",
    langButton: "中文", langLabel: "切换到中文",
    ackTitle: "Acknowledgement", ackBy: "By", ackVerdict: "Verdict", ackNote: "Note", ackSubmit: "Acknowledge",
    verdict_confirmed: "confirmed", verdict_false_alarm: "false alarm", verdict_duplicate: "duplicate", verdict_monitoring: "monitoring",
    ackNone: "not acknowledged", ackLine: (v, by, at) => `${v} · ${by} · ${at}`, ackSaved: (at) => `recorded (${at})`,
  },
};

const $ = (sel) => document.querySelector(sel);
const state = {
  lang: localStorage.getItem("yuqing.lang") === "en" ? "en" : "zh",
  q: "", category: "", region: "", platform: "", level: "", sort: "time", range: "all", from: null, to: null,
  offset: 0, limit: 20, total: 0,
  categories: [],
  // The display zone (`[display] timezone`, from /api/v1/meta): every time
  // on the page is shown and entered in it, whatever the browser's zone.
  zoneOffsetMs: 8 * 3600e3, zone: "+08:00",
};

function t(key, ...args) {
  const v = I18N[state.lang][key];
  return typeof v === "function" ? v(...args) : (v ?? key);
}

function applyLanguage() {
  document.documentElement.lang = state.lang === "zh" ? "zh-CN" : "en";
  document.querySelectorAll("[data-i18n]").forEach((el) => { el.textContent = t(el.dataset.i18n); });
  document.querySelectorAll("[data-i18n-placeholder]").forEach((el) => { el.placeholder = t(el.dataset.i18nPlaceholder); });
  document.querySelectorAll("[data-i18n-aria]").forEach((el) => { el.setAttribute("aria-label", t(el.dataset.i18nAria)); });
  const lang = $("#lang");
  lang.textContent = t("langButton");
  lang.setAttribute("aria-label", t("langLabel"));
  fillCategories();
}

// ---- API -------------------------------------------------------------

function token() { return sessionStorage.getItem("yuqing.token"); }

function askToken() {
  return new Promise((resolve) => {
    const dialog = $("#token-dialog");
    const input = $("#token");
    input.value = "";
    dialog.addEventListener("close", () => {
      const v = input.value.trim();
      if (v) sessionStorage.setItem("yuqing.token", v);
      $("#signout").hidden = !token();
      resolve(Boolean(v));
    }, { once: true });
    dialog.showModal();
    input.focus();
  });
}

let asking = null;
async function api(path, options = {}) {
  for (let attempt = 0; attempt < 3; attempt++) {
    const headers = {};
    if (token()) headers.Authorization = `Bearer ${token()}`;
    let payload;
    if (options.json !== undefined) {
      headers["Content-Type"] = "application/json";
      payload = JSON.stringify(options.json);
    }
    const res = await fetch(path, { method: options.method || "GET", headers, body: payload });
    if (res.status === 401) {
      sessionStorage.removeItem("yuqing.token");
      asking = asking || askToken().finally(() => { asking = null; });
      if (!(await asking)) throw new Error(t("tokenTitle"));
      continue;
    }
    const body = await res.json().catch(() => ({}));
    if (!res.ok) throw new Error(body.error ? body.error.message : `HTTP ${res.status}`);
    return body;
  }
  throw new Error(t("tokenTitle"));
}

function params(extra = {}) {
  const p = new URLSearchParams();
  if (state.q) p.set("q", state.q);
  if (state.category) p.set("category", state.category);
  if (state.region) p.set("region", state.region);
  if (state.platform) p.set("platform", state.platform);
  if (state.level) p.set("level", state.level);
  const [from, to] = rangeBounds();
  if (from) p.set("from", from.toISOString());
  if (to) p.set("to", to.toISOString());
  for (const [k, v] of Object.entries(extra)) p.set(k, v);
  return p;
}

function rangeBounds() {
  const now = new Date();
  const back = { "1h": 3600e3, "24h": 86400e3, "7d": 7 * 86400e3 }[state.range];
  if (back) return [new Date(now - back), null];
  if (state.range === "custom") return [state.from, state.to];
  return [null, null];
}

// ---- Formatting ------------------------------------------------------

function pad(n) { return String(n).padStart(2, "0"); }
// A Date whose UTC fields read as the wall clock of the display zone.
function zoned(d) { return new Date(d.getTime() + state.zoneOffsetMs); }
function zoneLabel() {
  return state.zoneOffsetMs === 8 * 3600e3 ? t("zoneBeijing") : `UTC${state.zone}`;
}
function localTime(iso) {
  const d = zoned(new Date(iso));
  return `${d.getUTCFullYear()}-${pad(d.getUTCMonth() + 1)}-${pad(d.getUTCDate())} ${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}`;
}
function categoryName(id) {
  const c = state.categories.find((x) => x.id === id);
  if (!c) return id;
  return state.lang === "zh" ? c.name_zh : c.name_en;
}
function el(tag, attrs = {}, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === "class") e.className = v;
    else if (k === "html") e.innerHTML = v;
    else e.setAttribute(k, v);
  }
  for (const c of children) if (c != null) e.append(c);
  return e;
}
function levelChip(level) {
  return level ? el("span", { class: `chip level level-${level}` }, t(level)) : null;
}

function hitItem(h) {
  // `highlight` is HTML-escaped by the server, with matches in <em>.
  const text = el("p", { class: "hit-text", html: h.highlight || "" });
  if (!h.highlight) text.textContent = h.text;
  const meta = el("div", { class: "meta" },
    el("time", { datetime: h.ts }, localTime(h.ts)),
    ...h.categories.map((c) => el("span", { class: "chip", "data-category": c.id, title: `${c.score}` }, categoryName(c.id))),
    levelChip(h.severity && h.severity.level),
    h.regions.length ? el("span", { class: "regions" }, h.regions.join(" · ")) : null,
    h.platform ? el("span", {}, h.platform) : null,
    h.url ? el("a", { class: "source", href: h.url, target: "_blank", rel: "noopener noreferrer" }, t("source")) : null,
    el("button", { type: "button", class: "ghost details", "data-id": h.id }, t("details")));
  return el("li", { class: "hit", "data-id": h.id }, text, meta);
}

// ---- Post detail -----------------------------------------------------

async function openPost(id) {
  const dialog = $("#post-dialog");
  try {
    const p = await api(`/api/v1/posts/${encodeURIComponent(id)}`);
    $("#post-text").textContent = p.text;
    const n = (v) => (v == null ? "–" : String(v));
    const rows = [
      ["ID", p.id],
      [t("time"), `${localTime(p.ts)} (${zoneLabel()})`],
      [t("platform"), p.platform || "–"],
      [t("author"), p.author || "–"],
      [t("engagement"), `${n(p.reposts)} / ${n(p.comments)} / ${n(p.likes)} / ${n(p.views)}`],
      [t("scores"), p.categories.map((c) => `${categoryName(c.id)} ${c.score} (${c.terms.join("、")})`).join("；") || "–"],
      [t("regionsNamed"), p.regions.join(" · ") || "–"],
      [t("severity"), p.severity ? levelChip(p.severity.level) : "–"],
    ];
    if (p.severity) rows.push([`${t("dead")} / ${t("injured")}`, `${p.severity.dead} / ${p.severity.injured}`]);
    if (p.url) rows.push([t("source"), el("a", { href: p.url, target: "_blank", rel: "noopener noreferrer" }, p.url)]);
    $("#post-facts").replaceChildren(...rows.flatMap(([k, v]) => [el("dt", {}, k), el("dd", {}, v)]));
    dialog.showModal();
  } catch (e) {
    $("#error").textContent = e.message;
    $("#error").hidden = false;
  }
}

// ---- The URL holds the whole search ----------------------------------

const RANGES = ["all", "1h", "24h", "7d", "custom"];
const SORTS = ["time", "relevance", "score"];

function stateToUrl() {
  const p = new URLSearchParams();
  for (const k of ["q", "category", "region", "platform", "level"]) if (state[k]) p.set(k, state[k]);
  if (state.sort !== "time") p.set("sort", state.sort);
  if (state.range !== "all") p.set("range", state.range);
  if (state.range === "custom") {
    if (state.from) p.set("from", state.from.toISOString());
    if (state.to) p.set("to", state.to.toISOString());
  }
  if (state.offset) p.set("offset", String(state.offset));
  const s = p.toString();
  return s ? `?${s}` : "";
}

function readUrl() {
  const p = new URLSearchParams(location.search);
  for (const k of ["q", "category", "region", "platform", "level"]) state[k] = p.get(k) || "";
  state.sort = SORTS.includes(p.get("sort")) ? p.get("sort") : "time";
  state.range = RANGES.includes(p.get("range")) ? p.get("range") : "all";
  const date = (v) => { const d = v ? new Date(v) : null; return d && !isNaN(d) ? d : null; };
  state.from = state.range === "custom" ? date(p.get("from")) : null;
  state.to = state.range === "custom" ? date(p.get("to")) : null;
  state.offset = Math.max(0, parseInt(p.get("offset"), 10) || 0);
}

function syncForm() {
  $("#q").value = state.q;
  $("#category").value = state.category;
  $("#region").value = state.region;
  $("#platform").value = state.platform;
  $("#level").value = state.level;
  $("#sort").value = state.sort;
  syncRangeControls();
}

// ---- Breakdowns: facets, province map, trend per category -------------

// Provincial divisions on a tile grid: [canonical name, short label, column, row].
const PROVINCES = [
  ["黑龙江省", "黑", 8, 0],
  ["内蒙古自治区", "蒙", 5, 1], ["北京市", "京", 6, 1], ["辽宁省", "辽", 7, 1], ["吉林省", "吉", 8, 1],
  ["新疆维吾尔自治区", "新", 1, 2], ["甘肃省", "甘", 3, 2], ["宁夏回族自治区", "宁", 4, 2], ["山西省", "晋", 5, 2], ["河北省", "冀", 6, 2], ["天津市", "津", 7, 2],
  ["青海省", "青", 2, 3], ["陕西省", "陕", 4, 3], ["河南省", "豫", 5, 3], ["山东省", "鲁", 6, 3],
  ["西藏自治区", "藏", 1, 4], ["四川省", "川", 3, 4], ["重庆市", "渝", 4, 4], ["湖北省", "鄂", 5, 4], ["安徽省", "皖", 6, 4], ["江苏省", "苏", 7, 4],
  ["云南省", "云", 3, 5], ["贵州省", "贵", 4, 5], ["湖南省", "湘", 5, 5], ["江西省", "赣", 6, 5], ["浙江省", "浙", 7, 5], ["上海市", "沪", 8, 5],
  ["广西壮族自治区", "桂", 4, 6], ["广东省", "粤", 5, 6], ["福建省", "闽", 6, 6], ["台湾省", "台", 7, 6],
  ["海南省", "琼", 4, 7], ["香港特别行政区", "港", 5, 7], ["澳门特别行政区", "澳", 6, 7],
];

function filterBy(key, value) {
  state[key] = value;
  state.offset = 0;
  syncForm();
  runSearch();
}

function facetList(id, key, counts, label) {
  $(id).replaceChildren(...counts.slice(0, 10).map((c) => el("li", {},
    el("button", { type: "button", class: "facet-item", "data-facet": key, "data-value": c.key,
      "aria-pressed": String(state[key] === c.key) },
    el("span", { class: "facet-key" }, label(c.key)), el("span", { class: "count" }, String(c.count))))));
  if (!counts.length) $(id).append(el("li", { class: "empty" }, t("noData")));
}

function drawMap(regions) {
  const counts = new Map(regions.map((r) => [r.key, r.count]));
  const max = Math.max(1, ...PROVINCES.map(([name]) => counts.get(name) || 0));
  const ns = "http://www.w3.org/2000/svg";
  const S = 40, G = 3;
  const svg = document.createElementNS(ns, "svg");
  svg.setAttribute("viewBox", `0 0 ${9 * S} ${8 * S}`);
  for (const [name, label, col, row] of PROVINCES) {
    const n = counts.get(name) || 0;
    const g = document.createElementNS(ns, "g");
    g.setAttribute("class", `tile${n ? "" : " none"}${state.region === name ? " on" : ""}`);
    g.setAttribute("data-region", name);
    g.setAttribute("data-count", String(n));
    g.setAttribute("tabindex", "0");
    g.setAttribute("role", "button");
    g.setAttribute("aria-label", `${name} ${n}`);
    const rect = document.createElementNS(ns, "rect");
    rect.setAttribute("x", col * S + G / 2);
    rect.setAttribute("y", row * S + G / 2);
    rect.setAttribute("width", S - G);
    rect.setAttribute("height", S - G);
    rect.setAttribute("rx", 4);
    // Light to dark red by count (square root, so small counts still show).
    const k = n ? 0.15 + 0.85 * Math.sqrt(n / max) : 0;
    rect.setAttribute("fill", n ? `rgba(200, 30, 30, ${k.toFixed(3)})` : "#eef0f2");
    const text = document.createElementNS(ns, "text");
    text.setAttribute("x", col * S + S / 2);
    text.setAttribute("y", row * S + S / 2 + 5);
    text.setAttribute("text-anchor", "middle");
    text.textContent = label;
    const title = document.createElementNS(ns, "title");
    title.textContent = `${name}: ${n}`;
    g.append(rect, text, title);
    const choose = () => filterBy("region", state.region === name ? "" : name);
    g.addEventListener("click", choose);
    g.addEventListener("keydown", (e) => { if (e.key === "Enter" || e.key === " ") { e.preventDefault(); choose(); } });
    svg.append(g);
  }
  $("#map").replaceChildren(svg);
}

async function drawTrends(categories, span) {
  const top = categories.slice(0, 4);
  const box = $("#trends");
  if (!top.length) { box.replaceChildren(el("div", { class: "empty" }, t("noData"))); return; }
  const charts = await Promise.all(top.map((c) =>
    api(`/api/v1/histogram?${params({ ...span, category: c.key })}`).catch(() => null)));
  box.replaceChildren(...top.map((c, i) => {
    const chart = el("div", { class: "chart mini", role: "img" });
    const fig = el("figure", { class: "trend", "data-category": c.key },
      el("figcaption", {}, `${categoryName(c.key)} · ${c.count}`), chart);
    drawChart(chart, charts[i] ? charts[i].buckets : [], span.interval);
    return fig;
  }));
}

async function drawBreakdowns(span) {
  try {
    const f = await api(`/api/v1/facets?${params({ size: 100 })}`);
    facetList("#facet-categories", "category", f.categories, categoryName);
    facetList("#facet-regions", "region", f.regions, (k) => k);
    facetList("#facet-platforms", "platform", f.platforms || [], (k) => k);
    $("#platforms").replaceChildren(...(f.platforms || []).map((p) => el("option", { value: p.key })));
    drawMap(f.regions);
    await drawTrends(f.categories, span);
  } catch (e) {
    clearBreakdowns();
  }
}

function clearBreakdowns() {
  for (const id of ["#facet-categories", "#facet-regions", "#facet-platforms", "#map", "#trends"]) $(id).replaceChildren();
}

// ---- Search ----------------------------------------------------------

// Searches with the current filters; the chart is redrawn unless only the
// page changed.
async function runSearch(redraw = true, push = true) {
  const error = $("#error");
  error.hidden = true;
  $("#summary").textContent = t("loading");
  const url = stateToUrl();
  if (push && url !== location.search) history.pushState(null, "", url || location.pathname);
  try {
    const res = await api(`/api/v1/search?${params({ limit: state.limit, offset: state.offset, sort: state.sort })}`);
    state.total = res.total;
    const list = $("#results");
    list.replaceChildren(...res.hits.map(hitItem));
    if (!res.hits.length) list.append(el("li", { class: "empty" }, t("noResults")));
    $("#summary").textContent = t("total", res.total);
    const pages = Math.max(1, Math.ceil(Math.min(res.total, 10000) / state.limit));
    const page = Math.floor(state.offset / state.limit) + 1;
    $("#page").textContent = t("page", page, pages);
    $("#prev").disabled = page <= 1;
    $("#next").disabled = page >= pages;
    const exp = $("#export");
    exp.href = `/api/v1/export?${params({ format: "csv", sort: state.sort })}`;
    exp.hidden = false;
  } catch (e) {
    // A failed query leaves nothing of the previous one on the page.
    error.textContent = e.message;
    error.hidden = false;
    $("#summary").textContent = "";
    $("#results").replaceChildren();
    $("#page").textContent = "";
    $("#prev").disabled = true;
    $("#next").disabled = true;
    $("#export").hidden = true;
    $("#chart").replaceChildren();
    clearBreakdowns();
    return;
  }
  if (redraw) {
    const span = await drawVolume().catch(() => ({ interval: "1h" }));
    await drawBreakdowns(span || { interval: "1h" });
  }
}

function pickInterval(from, to) {
  const span = to - from;
  if (span <= 5 * 3600e3) return "1m";
  if (span <= 48 * 3600e3) return "5m";
  if (span <= 30 * 86400e3) return "1h";
  return "1d";
}

async function histogram(p) {
  const [from, to] = [p.get("from"), p.get("to")];
  if (from) {
    const end = to ? new Date(to) : new Date();
    p.set("interval", pickInterval(new Date(from), end));
    if (!to) p.set("to", end.toISOString());
    return api(`/api/v1/histogram?${p}`);
  }
  // No range: start coarse, refine while there are few buckets.
  let res = null;
  for (const interval of ["1d", "1h", "5m", "1m"]) {
    p.set("interval", interval);
    try {
      const r = await api(`/api/v1/histogram?${p}`);
      if (res && r.buckets.length > 600) break;
      res = r;
      if (r.buckets.length >= 24) break;
    } catch (e) {
      if (!res) throw e;
      break;
    }
  }
  return res;
}

async function drawVolume() {
  const res = await histogram(params());
  const interval = res ? res.interval : "1h";
  const buckets = res ? res.buckets : [];
  // The span of the total, so that each category's trend lines up with it.
  const span = buckets.length
    ? { interval, from: buckets[0].start,
        to: new Date(new Date(buckets[buckets.length - 1].start).getTime() + (INTERVAL_MS[interval] || 3600e3)).toISOString() }
    : { interval };
  drawChart($("#chart"), res ? res.buckets : [], res ? res.interval : "1h", (from, to) => {
    state.range = "custom";
    state.from = from;
    state.to = to;
    state.offset = 0;
    syncRangeControls();
    runSearch();
  });
  return span;
}

const INTERVAL_MS = { "1m": 60e3, "5m": 300e3, "1h": 3600e3, "1d": 86400e3 };

// A bar chart in SVG; dragging across it selects a time range.
function drawChart(container, buckets, interval, onSelect, highlight) {
  container.replaceChildren();
  container.setAttribute("aria-label", t("chartLabel", buckets.length));
  if (!buckets.length) {
    container.append(el("div", { class: "empty" }, t("noData")));
    return;
  }
  const W = 1000, H = 180, padL = 40, padB = 22, padT = 8;
  const max = Math.max(1, ...buckets.map((b) => b.count));
  const bw = (W - padL) / buckets.length;
  const ns = "http://www.w3.org/2000/svg";
  const svg = document.createElementNS(ns, "svg");
  svg.setAttribute("viewBox", `0 0 ${W} ${H}`);
  svg.setAttribute("preserveAspectRatio", "none");
  const add = (name, attrs, text) => {
    const n = document.createElementNS(ns, name);
    for (const [k, v] of Object.entries(attrs)) n.setAttribute(k, v);
    if (text != null) n.textContent = text;
    svg.append(n);
    return n;
  };
  buckets.forEach((b, i) => {
    const h = ((H - padB - padT) * b.count) / max;
    const start = new Date(b.start).getTime();
    const hot = highlight && start >= highlight[0] && start < highlight[1];
    const rect = add("rect", {
      class: hot ? "bar hot" : "bar",
      x: padL + i * bw + bw * 0.1, y: H - padB - h,
      width: Math.max(bw * 0.8, 0.5), height: h,
    });
    const title = document.createElementNS(ns, "title");
    title.textContent = `${localTime(b.start)}: ${b.count}`;
    rect.append(title);
  });
  add("text", { x: 2, y: padT + 10 }, String(max));
  add("text", { x: 2, y: H - padB }, "0");
  const ticks = Math.min(6, buckets.length);
  for (let k = 0; k < ticks; k++) {
    const i = Math.floor((k * (buckets.length - 1)) / Math.max(1, ticks - 1));
    add("text", { x: padL + i * bw, y: H - 6 }, localTime(buckets[i].start).slice(5));
  }
  container.append(svg);
  if (!onSelect) return;
  const step = INTERVAL_MS[interval] || 3600e3;
  const sel = add("rect", { class: "sel", x: 0, y: padT, width: 0, height: H - padB - padT, visibility: "hidden" });
  const toIndex = (clientX) => {
    const r = svg.getBoundingClientRect();
    const x = ((clientX - r.left) / r.width) * W;
    return Math.min(buckets.length - 1, Math.max(0, Math.floor((x - padL) / bw)));
  };
  let startIdx = null;
  svg.addEventListener("pointerdown", (e) => {
    startIdx = toIndex(e.clientX);
    svg.setPointerCapture(e.pointerId);
    sel.setAttribute("visibility", "visible");
    sel.setAttribute("x", padL + startIdx * bw);
    sel.setAttribute("width", bw);
  });
  svg.addEventListener("pointermove", (e) => {
    if (startIdx == null) return;
    const i = toIndex(e.clientX);
    const [a, b] = [Math.min(startIdx, i), Math.max(startIdx, i)];
    sel.setAttribute("x", padL + a * bw);
    sel.setAttribute("width", (b - a + 1) * bw);
  });
  svg.addEventListener("pointerup", (e) => {
    if (startIdx == null) return;
    const i = toIndex(e.clientX);
    const [a, b] = [Math.min(startIdx, i), Math.max(startIdx, i)];
    startIdx = null;
    // A click without a drag narrows to its one bucket.
    const from = new Date(new Date(buckets[a].start).getTime());
    const to = new Date(new Date(buckets[b].start).getTime() + step);
    onSelect(from, to);
  });
}

// ---- Filters ---------------------------------------------------------

function fillCategories() {
  const select = $("#category");
  const current = select.value;
  select.replaceChildren(el("option", { value: "" }, t("any")),
    ...state.categories.map((c) => el("option", { value: c.id }, `${state.lang === "zh" ? c.name_zh : c.name_en}`)));
  select.value = current;
}

function toLocalInput(d) {
  if (!d) return "";
  const z = zoned(d);
  return `${z.getUTCFullYear()}-${pad(z.getUTCMonth() + 1)}-${pad(z.getUTCDate())}T${pad(z.getUTCHours())}:${pad(z.getUTCMinutes())}`;
}
// `2024-07-01T08:30` typed in the display zone.
function fromLocalInput(v) {
  const m = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})/.exec(v || "");
  if (!m) return null;
  return new Date(Date.UTC(+m[1], +m[2] - 1, +m[3], +m[4], +m[5]) - state.zoneOffsetMs);
}

function showZone() {
  for (const e of document.querySelectorAll(".zone")) e.textContent = zoneLabel();
}

function syncRangeControls() {
  document.querySelectorAll("[data-range]").forEach((b) => b.setAttribute("aria-pressed", String(b.dataset.range === state.range)));
  $(".custom-range").hidden = state.range !== "custom";
  $("#from").value = toLocalInput(state.from);
  $("#to").value = toLocalInput(state.to);
}

async function loadMeta() {
  try {
    const meta = await api("/api/v1/meta");
    state.categories = meta.categories;
    if (meta.display) {
      state.zoneOffsetMs = meta.display.offset_secs * 1000;
      state.zone = meta.display.timezone;
    }
    showZone();
    fillCategories();
    $("#regions").replaceChildren(...meta.regions.map((r) => el("option", { value: r })));
  } catch (e) {
    $("#error").textContent = e.message;
    $("#error").hidden = false;
  }
}

// ---- Alerts ----------------------------------------------------------

let alertsCache = [];

function alertTitle(a) {
  return `${categoryName(a.category)} · ${a.region || t("allRegions")}`;
}

// What opened an alert (fields added within schema v1: absent in older
// messages, which were bursts).
function openedBy(a) {
  const how = a.trigger === "severity" ? t("bySeverity")
    : a.trigger === "watch" ? t("byWatch", a.watch || "")
    : a.window_secs ? t("byBurst", Math.round(a.window_secs / 60)) : "";
  return a.confirmed === false ? `${how} (${t("unconfirmed")})` : how;
}

function alertItem(a) {
  const resolved = a.state === "resolved";
  const button = el("button", {
    type: "button",
    class: `alert-item level-${a.level}${resolved ? " resolved" : ""}`,
    "data-alert": a.alert_id,
  },
  el("span", { class: "alert-title" }, `${alertTitle(a)} `, levelChip(a.level)),
  el("span", { class: "alert-line" }, `${t("state")[a.state]} · ${t("reports", a.count)} · z ${a.z}${a.confirmed === false ? ` · ${t("unconfirmed")}` : ""}`),
  el("span", { class: "alert-line" }, `${t("firstReport")} ${localTime(a.first_seen)}`),
  ackBadge(a.ack));
  button.addEventListener("click", () => openAlert(a.alert_id));
  return el("li", {}, button);
}

async function refreshAlerts() {
  try {
    const res = await api("/api/v1/alerts?limit=100");
    alertsCache = res.alerts;
    const list = $("#alerts");
    list.replaceChildren(...res.alerts.map(alertItem));
    if (!res.alerts.length) list.append(el("li", { class: "alerts-empty" }, t("noAlerts")));
    const now = new Date();
    const z = zoned(now);
    $("#alerts-updated").textContent = t("updated", `${pad(z.getUTCHours())}:${pad(z.getUTCMinutes())}:${pad(z.getUTCSeconds())}`);
  } catch (e) {
    $("#alerts-updated").textContent = e.message;
  }
}

// ---- Acknowledgement -------------------------------------------------

function verdictName(v) { return t(`verdict_${v}`); }

// An alert's acknowledgement state in the list: the latest verdict, or none.
function ackBadge(ack) {
  return el("span", { class: `alert-ack ack-${ack ? ack.verdict : "none"}`, "data-verdict": ack ? ack.verdict : "" },
    ack ? t("ackLine", verdictName(ack.verdict), ack.by, localTime(ack.at)) : t("ackNone"));
}

let ackAlertId = null;

function showAcks(ack, history) {
  const s = $("#ack-state");
  s.className = `ack-state alert-ack ack-${ack ? ack.verdict : "none"}`;
  s.dataset.verdict = ack ? ack.verdict : "";
  s.textContent = ack ? t("ackLine", verdictName(ack.verdict), ack.by, localTime(ack.at)) : t("ackNone");
  // Earlier acknowledgements, newest first (the latest is shown above).
  $("#ack-history").replaceChildren(...history.slice(0, -1).reverse().map((h) =>
    el("li", {}, `${t("ackLine", verdictName(h.verdict), h.by, localTime(h.at))}${h.note ? ` — ${h.note}` : ""}`)));
  if (ack && ack.note) s.append(el("span", { class: "ack-note" }, ` — ${ack.note}`));
}

function resetAckForm(ack) {
  $("#ack-by").value = localStorage.getItem("yuqing.ackBy") || "";
  $("#ack-verdict").value = ack ? ack.verdict : "confirmed";
  $("#ack-note").value = "";
  $("#ack-result").textContent = "";
  $("#ack-error").hidden = true;
}

async function submitAck(e) {
  e.preventDefault();
  if (!ackAlertId) return;
  const by = $("#ack-by").value.trim();
  const note = $("#ack-note").value.trim();
  const button = $("#ack-submit");
  $("#ack-error").hidden = true;
  $("#ack-result").textContent = "";
  button.disabled = true;
  try {
    const res = await api(`/api/v1/alerts/${encodeURIComponent(ackAlertId)}/ack`, {
      method: "POST",
      json: { by, verdict: $("#ack-verdict").value, note: note || null },
    });
    if (by) localStorage.setItem("yuqing.ackBy", by);
    showAcks(res.ack, res.acks);
    $("#ack-note").value = "";
    $("#ack-result").textContent = t("ackSaved", localTime(res.ack.at));
    refreshAlerts();
  } catch (err) {
    $("#ack-error").textContent = err.message;
    $("#ack-error").hidden = false;
  } finally {
    button.disabled = false;
  }
}

async function openAlert(id) {
  const dialog = $("#alert-dialog");
  const res = await api(`/api/v1/alerts/${encodeURIComponent(id)}`);
  const a = res.alert;
  ackAlertId = a.alert_id;
  showAcks(a.ack, res.acks || []);
  resetAckForm(a.ack);
  $("#alert-dialog-title").textContent = alertTitle(a);
  const facts = [
    [t("levelName"), levelChip(a.level)],
    [t("openedBy"), openedBy(a) || "—"],
    [t("window"), `${localTime(a.window_start)} – ${localTime(a.window_end)}`],
    [t("countLabel"), String(a.count)],
    [t("authors"), String(a.distinct_authors)],
    [t("baseline"), String(a.baseline)],
    [t("z"), String(a.z)],
    [t("terms"), a.top_terms.join("、")],
    [t("regionsNamed"), (a.regions || []).join("、") || "—"],
    [t("firstReport"), `${localTime(a.first_seen)} (${a.first_post_id})`],
  ];
  $("#alert-facts").replaceChildren(...facts.flatMap(([k, v]) => [el("dt", {}, k), el("dd", {}, v)]));
  $("#alert-posts").replaceChildren(...res.posts.hits.map(hitItem));
  dialog.showModal();
  // Its histogram: the window with half an hour either side, per minute.
  const start = new Date(a.window_start).getTime();
  const end = new Date(a.window_end).getTime();
  const p = new URLSearchParams({
    category: a.category,
    from: new Date(start - 1800e3).toISOString(),
    to: new Date(end + 1800e3).toISOString(),
    interval: end - start > 6 * 3600e3 ? "5m" : "1m",
  });
  if (a.region) p.set("region", a.region);
  try {
    const h = await api(`/api/v1/histogram?${p}`);
    drawChart($("#alert-chart"), h.buckets, h.interval, null, [start, end]);
  } catch (e) {
    $("#alert-chart").textContent = e.message;
  }
}

// ---- Wiring ----------------------------------------------------------

function readForm() {
  state.q = $("#q").value.trim();
  state.category = $("#category").value;
  state.region = $("#region").value.trim();
  state.platform = $("#platform").value.trim();
  state.level = $("#level").value;
  state.sort = $("#sort").value;
  if (state.range === "custom") {
    state.from = fromLocalInput($("#from").value);
    state.to = fromLocalInput($("#to").value);
  }
}

function init() {
  applyLanguage();
  $("#search").addEventListener("submit", (e) => {
    e.preventDefault();
    readForm();
    state.offset = 0;
    runSearch();
  });
  for (const id of ["#category", "#level", "#sort", "#from", "#to", "#platform"]) {
    $(id).addEventListener("change", () => { readForm(); state.offset = 0; runSearch(); });
  }
  $("#region").addEventListener("change", () => { readForm(); state.offset = 0; runSearch(); });
  document.querySelectorAll("[data-range]").forEach((b) => b.addEventListener("click", () => {
    state.range = b.dataset.range;
    if (state.range !== "custom") { state.from = null; state.to = null; }
    syncRangeControls();
    readForm();
    state.offset = 0;
    if (state.range === "custom") $("#from").focus();
    else runSearch();
  }));
  $("#prev").addEventListener("click", () => { state.offset = Math.max(0, state.offset - state.limit); runSearch(false); $("#results").focus(); });
  $("#next").addEventListener("click", () => { state.offset += state.limit; runSearch(false); $("#results").focus(); });
  $("#lang").addEventListener("click", () => {
    state.lang = state.lang === "zh" ? "en" : "zh";
    localStorage.setItem("yuqing.lang", state.lang);
    applyLanguage();
    showZone();
    runSearch();
    refreshAlerts();
  });
  $("#signout").hidden = !token();
  $("#signout").addEventListener("click", () => { sessionStorage.removeItem("yuqing.token"); $("#signout").hidden = true; });
  $("#ack-form").addEventListener("submit", submitAck);
  $("#results").addEventListener("click", (e) => {
    const b = e.target.closest("button.details");
    if (b) openPost(b.dataset.id);
  });
  $("#export").addEventListener("click", async (e) => {
    // With a token the download goes through fetch (a link cannot send it).
    if (!token()) return;
    e.preventDefault();
    const res = await fetch($("#export").href, { headers: { Authorization: `Bearer ${token()}` } });
    if (!res.ok) return;
    const a = el("a", { href: URL.createObjectURL(await res.blob()), download: "yuqing-export.csv" });
    a.click();
    setTimeout(() => URL.revokeObjectURL(a.href), 10000);
  });
  $("#facets").addEventListener("click", (e) => {
    const b = e.target.closest("button.facet-item");
    if (b) filterBy(b.dataset.facet, state[b.dataset.facet] === b.dataset.value ? "" : b.dataset.value);
  });
  window.addEventListener("popstate", () => { readUrl(); syncForm(); runSearch(true, false); });
  readUrl();
  loadMeta().then(() => {
    syncForm(); runSearch(true, false); refreshAlerts();
    // `?alert={alert_id}`: the link webhook messages carry opens that alert.
    const linked = new URLSearchParams(location.search).get("alert");
    if (linked) openAlert(linked).catch(() => {});
  });
  // Live alerts: poll; a hidden tab polls less often.
  setInterval(() => { if (!document.hidden) refreshAlerts(); }, 10000);
}

document.addEventListener("DOMContentLoaded", init);
