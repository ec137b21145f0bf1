/* dashboard.js - the recserve console. Plain JavaScript, no libraries, no
 * build step: it reads the server's own API (/v1/models, the versions
 * listing, /metrics, recommend and similar-items routes) and, with the admin
 * token typed into the page, calls the admin routes. Every value from the
 * server is put into the page as text (textContent), never as markup. */
"use strict";

const LIVE_INTERVAL_MS = 3000;
const MODELS_INTERVAL_MS = 15000;
const LIVE_HISTORY = 60; /* points in the requests/s chart */

const state = {
  token: null,     /* admin token: in memory only */
  apiKey: null,    /* API key for the /v1 routes, when the server needs one: in memory only */
  models: null,    /* the last /v1/models body */
  lastSample: null, /* {t, series} of the previous /metrics poll */
  rateHistory: [], /* [t, requests/s] */
  reports: {},     /* experiment name -> its last report */
};

/* ---- small helpers ---- */

function el(tag, attrs, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k === "class") e.className = v;
    else if (k === "text") e.textContent = v;
    else if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
    else e.setAttribute(k, v === true ? "" : String(v));
  }
  for (const c of children) {
    if (c === null || c === undefined) continue;
    e.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return e;
}

function svgEl(tag, attrs, text) {
  const e = document.createElementNS("http://www.w3.org/2000/svg", tag);
  for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, String(v));
  if (text !== undefined) e.textContent = text;
  return e;
}

function fmt(x, digits) {
  if (x === null || x === undefined || Number.isNaN(x)) return "–";
  if (typeof x !== "number") return String(x);
  if (Number.isInteger(x) && digits === undefined) return x.toLocaleString("en");
  return x.toFixed(digits === undefined ? 4 : digits);
}

function setStatus(text, bad) {
  const s = document.getElementById("status");
  s.textContent = text;
  s.className = bad ? "error" : "";
}

/* Calls the API; resolves to {status, body, headers}, rejects with an Error
 * carrying the server's JSON error message. */
async function api(path, options) {
  const opts = Object.assign({headers: {}}, options || {});
  if (opts.json !== undefined) {
    opts.method = opts.method || "POST";
    opts.headers["Content-Type"] = "application/json";
    opts.body = JSON.stringify(opts.json);
    delete opts.json;
  }
  if (state.apiKey && !opts.admin) opts.headers["X-Api-Key"] = state.apiKey;
  if (opts.admin) {
    if (!state.token) throw new Error("enter the admin token in the Admin panel first");
    opts.headers["Authorization"] = "Bearer " + state.token;
    delete opts.admin;
  }
  const r = await fetch(path, opts);
  const type = r.headers.get("Content-Type") || "";
  const body = type.startsWith("application/json") ? await r.json() : await r.text();
  if (!r.ok) {
    const msg = body && body.error ? body.error.code + ": " + body.error.message : "HTTP " + r.status;
    const err = new Error(msg);
    err.status = r.status;
    throw err;
  }
  return {status: r.status, body, headers: r.headers};
}

/* ---- charts (SVG, drawn here) ---- */

const COLORS = ["#1f5fbf", "#c2410c", "#1b7a3a", "#7c3aed", "#b3261e", "#0e7490", "#a16207"];

/* series: [{name, points: [[x, y], ...]}]; a line chart with axes and a legend. */
function lineChart(title, series, opts) {
  const o = Object.assign({width: 380, height: 220, xLabel: "epoch"}, opts || {});
  const perRow = 2, legendRows = Math.ceil(series.length / perRow);
  o.height += 14 * Math.max(legendRows - 1, 0);
  const pad = {l: 52, r: 12, t: 22, b: 38 + 14 * legendRows};
  const w = o.width - pad.l - pad.r, h = o.height - pad.t - pad.b;
  const pts = series.flatMap((s) => s.points).filter((p) => Number.isFinite(p[1]));
  const svg = svgEl("svg", {class: "chart", width: o.width, height: o.height, role: "img",
                            viewBox: `0 0 ${o.width} ${o.height}`,
                            "aria-label": title + ": " + series.map((s) => s.name).join(", ")});
  svg.append(svgEl("title", {}, title));
  svg.append(svgEl("text", {x: pad.l, y: 15, class: "title"}, title));
  if (pts.length === 0) {
    svg.append(svgEl("text", {x: pad.l, y: pad.t + h / 2}, "no points"));
    return svg;
  }
  let x0 = Math.min(...pts.map((p) => p[0])), x1 = Math.max(...pts.map((p) => p[0]));
  let y0 = Math.min(...pts.map((p) => p[1])), y1 = Math.max(...pts.map((p) => p[1]));
  if (x1 === x0) { x0 -= 1; x1 += 1; }
  if (y1 === y0) { const d = Math.abs(y0) * 0.1 || 1; y0 -= d; y1 += d; }
  const X = (x) => pad.l + ((x - x0) / (x1 - x0)) * w;
  const Y = (y) => pad.t + h - ((y - y0) / (y1 - y0)) * h;
  svg.append(svgEl("rect", {x: pad.l, y: pad.t, width: w, height: h, fill: "none", stroke: "#d5dae1"}));
  for (let i = 0; i <= 4; i++) {
    const y = y0 + ((y1 - y0) * i) / 4;
    svg.append(svgEl("line", {x1: pad.l, x2: pad.l + w, y1: Y(y), y2: Y(y), stroke: "#eef0f3"}));
    svg.append(svgEl("text", {x: pad.l - 4, y: Y(y) + 4, "text-anchor": "end"}, shortNumber(y, (y1 - y0) / 4)));
  }
  for (const x of [x0, (x0 + x1) / 2, x1])
    svg.append(svgEl("text", {x: X(x), y: pad.t + h + 14, "text-anchor": "middle"},
                     o.xFormat ? o.xFormat(x) : shortNumber(x, (x1 - x0) / 2)));
  svg.append(svgEl("text", {x: pad.l + w / 2, y: pad.t + h + 27, "text-anchor": "middle"}, o.xLabel));
  series.forEach((s, i) => {
    const color = COLORS[i % COLORS.length];
    const good = s.points.filter((p) => Number.isFinite(p[1]));
    if (good.length === 0) return;
    svg.append(svgEl("polyline", {fill: "none", stroke: color, "stroke-width": 2,
                                  points: good.map((p) => `${X(p[0]).toFixed(1)},${Y(p[1]).toFixed(1)}`).join(" ")}));
    if (good.length === 1)
      svg.append(svgEl("circle", {cx: X(good[0][0]), cy: Y(good[0][1]), r: 3, fill: color}));
    const lx = pad.l + (i % perRow) * (w / perRow), ly = pad.t + h + 44 + 14 * Math.floor(i / perRow);
    svg.append(svgEl("rect", {x: lx, y: ly - 8, width: 10, height: 3, fill: color}));
    svg.append(svgEl("text", {x: lx + 14, y: ly - 4}, s.name));
  });
  return svg;
}

/* A tick label for x with enough decimals to tell ticks step apart. */
function shortNumber(x, step) {
  const a = Math.abs(x);
  if (a >= 1e6 && step >= 1e5) return (x / 1e6).toFixed(1) + "M";
  if (a >= 1e4 && step >= 1e3) return (x / 1e3).toFixed(0) + "k";
  const decimals = step > 0 ? Math.min(Math.max(Math.ceil(-Math.log10(step)), 0), 6) : 2;
  return x.toFixed(decimals);
}

/* ---- Models ---- */

function curveCharts(curves) {
  const box = el("div", {class: "charts"});
  if (!Array.isArray(curves) || curves.length === 0) {
    box.append(el("p", {class: "hint", text: "This version's manifest holds no training curves (trained before they were recorded, or by a family without epochs)."}));
    return box;
  }
  const x = (p, i) => (Number.isFinite(p.epoch) ? p.epoch : i + 1);
  box.append(lineChart("training loss per epoch", [{name: "loss", points: curves.map((p, i) => [x(p, i), p.loss])}]));
  /* KL is two orders of magnitude below the loss: its own chart. */
  if (curves.some((p) => p.kl))
    box.append(lineChart("KL term per epoch", [{name: "KL", points: curves.map((p, i) => [x(p, i), p.kl])}]));
  const metricNames = new Set();
  for (const p of curves)
    for (const part of ["valid", "test"])
      Object.keys(p[part] || {}).filter((k) => k !== "users").forEach((k) => metricNames.add(k));
  /* The headline figures when the run has them, else the first two. */
  const preferred = ["ndcg@50", "recall@50"].filter((m) => metricNames.has(m));
  const chosen = preferred.length ? preferred : [...metricNames].slice(0, 2);
  const metricSeries = [];
  for (const m of chosen)
    for (const part of ["valid", "test"]) {
      const points = curves.map((p, i) => [x(p, i), p[part] ? p[part][m] : NaN]).filter((q) => Number.isFinite(q[1]));
      if (points.length) metricSeries.push({name: `${part} ${m}`, points});
    }
  if (metricSeries.length) box.append(lineChart("evaluation per epoch", metricSeries));
  return box;
}

function metricsText(m) {
  if (!m || typeof m !== "object") return "–";
  return Object.entries(m).map(([k, v]) => `${k} ${fmt(v)}`).join(", ");
}

function versionsTable(variant, listing) {
  const rows = listing.versions.map((v) => {
    const marks = el("td", {});
    if (v.serving) marks.append(el("span", {class: "badge", text: "serving"}));
    if (v.current) marks.append(el("span", {class: "badge", text: "current"}));
    if (v.pinned) marks.append(el("span", {class: "badge pinned", text: "pinned"}));
    const action = el("td", {});
    if (state.token && !v.serving)
      action.append(el("button", {type: "button", class: "secondary", "data-pin": `${variant}:${v.version}`,
                                  onclick: () => pin(variant, v.version),
                                  text: `Serve version ${v.version}`}));
    return el("tr", {}, el("td", {class: "num", text: v.version}), marks,
              el("td", {text: v.family || "–"}), el("td", {text: v.created_at || "–"}),
              el("td", {class: "num", text: v.best_epoch ?? "–"}),
              el("td", {text: metricsText(v.valid_metrics)}), action);
  });
  const table = el("table", {"aria-label": `retained versions of ${variant}`},
                   el("thead", {}, el("tr", {}, ...["version", "state", "family", "created", "best epoch",
                                                    "validation", ""].map((h) => el("th", {text: h})))),
                   el("tbody", {}, ...rows));
  const wrap = el("div", {}, el("h3", {text: `Retained versions of ${variant}`}), table);
  if (listing.pinned_version && state.token)
    wrap.append(el("button", {type: "button", id: `unpin-${variant}`, onclick: () => unpin(variant),
                              text: `Unpin ${variant} (follow the store's current version ${listing.current_version})`}));
  else if (listing.pinned_version)
    wrap.append(el("p", {class: "hint", text: `Pinned to version ${listing.pinned_version}; enter the admin token to unpin.`}));
  return wrap;
}

function modelCard(m, listing) {
  const manifest = m.manifest || {};
  const training = manifest.training || {};
  const facts = [["variant", m.variant], ["version", m.version], ["family", m.family], ["dimensions", m.dim],
                 ["items", m.n_items], ["users", m.n_users], ["retrieval", m.retrieval],
                 ["loaded", m.loaded_at], ["training data", training.data],
                 ["epochs", training.epochs_run], ["best epoch", training.best_epoch]];
  const list = el("ul", {class: "facts"});
  for (const [k, v] of facts) {
    if (v === undefined || v === null) continue;
    const item = el("li", {}, el("span", {text: k}), el("strong", {text: fmt(v)}));
    if (k === "version") item.lastChild.setAttribute("data-version", m.variant);
    list.append(item);
  }
  const shown = JSON.parse(JSON.stringify(manifest));
  if (shown.training) delete shown.training.curves;
  const card = el("div", {class: "model", "data-variant": m.variant},
                  el("h3", {}, m.variant, m.default ? el("span", {class: "badge", text: "default"}) : null),
                  list,
                  el("p", {}, el("span", {class: "hint", text: "validation: "}), metricsText(training.valid_metrics),
                     el("br"), el("span", {class: "hint", text: "test: "}), metricsText(training.test_metrics)),
                  curveCharts(training.curves),
                  el("details", {}, el("summary", {text: "Manifest"}), el("pre", {text: JSON.stringify(shown, null, 2)})));
  if (listing) card.append(versionsTable(m.variant, listing));
  return card;
}

async function loadModels() {
  const body = document.getElementById("models-body");
  let models;
  try {
    models = (await api("/v1/models")).body;
  } catch (e) {
    const hint = e.status === 401 ? " This server requires an API key: enter it in the Admin panel." : "";
    body.replaceChildren(el("p", {class: "error", text: "Cannot read /v1/models: " + e.message + hint}));
    setStatus(e.status === 401 ? "API key required" : "server not reachable", true);
    return;
  }
  state.models = models;
  if (!models.models || models.models.length === 0) {
    body.replaceChildren(el("p", {text: "No model is loaded. Train and publish one, for example "},
                            el("code", {text: "rectrain --data train.tsv --model vae --store STORE --variant default"}),
                            ", then reload (Admin panel) or wait for the store to be polled."));
    renderExperiments();
    fillVariants();
    setStatus("no model loaded", true);
    return;
  }
  const cards = [];
  for (const m of models.models) {
    let listing = null;
    try {
      listing = (await api(`/v1/models/${encodeURIComponent(m.variant)}/versions`)).body;
    } catch (e) {
      listing = null;
    }
    cards.push(modelCard(m, listing));
  }
  body.replaceChildren(...cards);
  renderExperiments();
  fillVariants();
  const d = models.models.find((m) => m.default) || models.models[0];
  setStatus(`${models.models.length} variant(s); default ${d.variant} version ${d.version}`);
}

function fillVariants() {
  const sel = document.getElementById("try-variant");
  const keep = sel.value;
  const names = (state.models && state.models.models || []).map((m) => m.variant);
  sel.replaceChildren(el("option", {value: "", text: "(as routed: experiment or default)"}),
                      ...names.map((n) => el("option", {value: n, text: n})));
  if (names.includes(keep)) sel.value = keep;
}

/* ---- Live ---- */

/* Parses Prometheus text: [{name, labels: {...}, value}]. */
function parseMetrics(text) {
  const out = [];
  for (const line of text.split("\n")) {
    if (!line || line.startsWith("#")) continue;
    const m = line.match(/^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})?\s+(\S+)$/);
    if (!m) continue;
    const labels = {};
    if (m[3]) for (const l of m[3].matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) labels[l[1]] = l[2].replace(/\\(.)/g, "$1");
    out.push({name: m[1], labels, value: Number(m[4])});
  }
  return out;
}

/* Per route and variant: request count, counts by status class, and the
 * cumulative latency buckets. */
function summarise(samples) {
  const byKey = new Map();
  const get = (l) => {
    const key = `${l.route}\u0000${l.variant}`;
    if (!byKey.has(key)) byKey.set(key, {route: l.route, variant: l.variant, count: 0, c4: 0, c5: 0, buckets: new Map()});
    return byKey.get(key);
  };
  for (const s of samples) {
    if (s.name === "recsys_http_requests_total") {
      const g = get(s.labels);
      g.count += s.value;
      if (s.labels.status.startsWith("4")) g.c4 += s.value;
      if (s.labels.status.startsWith("5")) g.c5 += s.value;
    } else if (s.name === "recsys_http_request_duration_seconds_bucket") {
      const g = get(s.labels);
      const le = s.labels.le === "+Inf" ? Infinity : Number(s.labels.le);
      g.buckets.set(le, (g.buckets.get(le) || 0) + s.value);
    }
  }
  return byKey;
}

/* The q-quantile (seconds) from cumulative bucket counts: the bucket's upper bound. */
function quantile(buckets, q) {
  const les = [...buckets.keys()].sort((a, b) => a - b);
  const total = buckets.get(Infinity) || (les.length ? buckets.get(les[les.length - 1]) : 0);
  if (!total) return NaN;
  for (const le of les) if (buckets.get(le) >= q * total) return le;
  return Infinity;
}

function diffBuckets(now, before) {
  const out = new Map();
  for (const [le, v] of now) out.set(le, v - ((before && before.get(le)) || 0));
  return out;
}

function ms(seconds) {
  if (!Number.isFinite(seconds)) return Number.isNaN(seconds) ? "–" : "> 1000";
  return (seconds * 1000).toFixed(seconds < 0.001 ? 2 : 1);
}

async function pollLive() {
  let text;
  try {
    text = (await api("/metrics")).body;
  } catch (e) {
    document.getElementById("live-body").replaceChildren(el("p", {class: "error", text: "Cannot read /metrics: " + e.message}));
    return;
  }
  const t = Date.now() / 1000;
  const samples = parseMetrics(text);
  const series = summarise(samples);
  const prev = state.lastSample;
  state.lastSample = {t, series, samples};
  renderExperiments();
  loadReports();
  if (!prev) return;
  const dt = Math.max(t - prev.t, 1e-3);
  const rows = [];
  let total = 0;
  for (const [key, g] of series) {
    const p = prev.series.get(key) || {count: 0, c4: 0, c5: 0, buckets: new Map()};
    const n = g.count - p.count;
    total += n;
    if (g.count === 0) continue;
    const recent = n > 0 ? diffBuckets(g.buckets, p.buckets) : g.buckets;
    const pct = (a, b) => (b > 0 ? ((100 * a) / b).toFixed(2) + "%" : "–");
    rows.push(el("tr", {}, el("td", {text: g.route}), el("td", {text: g.variant || "–"}),
                 el("td", {class: "num", text: (n / dt).toFixed(1)}),
                 el("td", {class: "num", text: ms(quantile(recent, 0.5))}),
                 el("td", {class: "num", text: ms(quantile(recent, 0.95))}),
                 el("td", {class: "num", text: ms(quantile(recent, 0.99))}),
                 el("td", {class: "num", text: pct(n > 0 ? g.c4 - p.c4 : g.c4, n > 0 ? n : g.count)}),
                 el("td", {class: "num", text: pct(n > 0 ? g.c5 - p.c5 : g.c5, n > 0 ? n : g.count)}),
                 el("td", {class: "num", text: fmt(g.count)})));
  }
  state.rateHistory.push([t, total / dt]);
  if (state.rateHistory.length > LIVE_HISTORY) state.rateHistory.shift();
  const t0 = state.rateHistory[0][0];
  document.getElementById("live-chart").replaceChildren(
      lineChart("requests per second, all routes", [{name: "requests/s", points: state.rateHistory.map(([x, y]) => [x - t0, y])}],
                {width: 640, height: 200, xLabel: "seconds", xFormat: (x) => x.toFixed(0)}));
  const head = el("tr", {}, ...["route", "variant", "requests/s", "p50 ms", "p95 ms", "p99 ms", "4xx", "5xx", "requests since start"]
                                .map((h, i) => el("th", {class: i >= 2 ? "num" : null, text: h})));
  const reloads = samples.filter((s) => s.name === "recsys_model_reloads_total");
  const refusedVersion = samples.filter((s) => s.name === "recsys_model_refused_version");
  const reloadRows = [...new Set(reloads.map((s) => s.labels.variant))].map((v) => {
    const of = (r) => (reloads.find((s) => s.labels.variant === v && s.labels.result === r) || {value: 0}).value;
    const rv = (refusedVersion.find((s) => s.labels.variant === v) || {value: 0}).value;
    return el("tr", {}, el("td", {text: v}), el("td", {class: "num", text: fmt(of("loaded"))}),
              el("td", {class: "num", text: fmt(of("refused"))}), el("td", {class: "num", text: rv ? rv : "none"}));
  });
  document.getElementById("live-body").replaceChildren(
      el("table", {"aria-label": "requests per route and variant"}, el("thead", {}, head), el("tbody", {}, ...rows)),
      el("h3", {text: "Reloads"}),
      el("table", {"aria-label": "reloads per variant"},
         el("thead", {}, el("tr", {}, ...["variant", "versions loaded", "versions refused", "last refused version"]
                                          .map((h, i) => el("th", {class: i ? "num" : null, text: h})))),
         el("tbody", {}, ...reloadRows)));
}

/* ---- Experiments ---- */

function renderExperiments() {
  const box = document.getElementById("experiments-body");
  const exps = state.models && state.models.experiments;
  if (!exps) return;
  if (exps.length === 0) {
    box.replaceChildren(el("p", {text: "No experiment is configured: every request without a variant is answered by the default variant. Experiments are set in the serving config (etc/README.md, \"experiments\")."}));
    return;
  }
  const samples = state.lastSample ? state.lastSample.samples : [];
  const count = (name, e, v) => (samples.find((s) => s.name === name && s.labels.experiment === e && s.labels.variant === v) || {value: 0}).value;
  const parts = [];
  for (const x of exps) {
    const routed = x.variants.reduce((a, v) => a + count("recsys_ab_assignments_total", x.name, v.variant), 0);
    const weights = x.variants.reduce((a, v) => a + v.weight, 0);
    const rows = x.variants.map((v) => {
      const n = count("recsys_ab_assignments_total", x.name, v.variant);
      return el("tr", {}, el("td", {text: v.variant}), el("td", {class: "num", text: (100 * v.weight / weights).toFixed(1) + "%"}),
                el("td", {class: "num", text: fmt(n)}),
                el("td", {class: "num", text: routed ? (100 * n / routed).toFixed(1) + "%" : "–"}),
                el("td", {class: "num", text: fmt(count("recsys_ab_fallbacks_total", x.name, v.variant))}));
    });
    parts.push(el("h3", {}, x.name, el("span", {class: x.active ? "badge" : "badge pinned", text: x.active ? "active" : "inactive"})),
               el("p", {class: "hint", text: `${(100 * x.share).toFixed(0)}% of users take part; from ${x.start || "the start"} to ${x.end || "no end"}.`}),
               el("table", {"aria-label": `assignment shares of ${x.name}`},
                  el("thead", {}, el("tr", {}, ...["variant", "target share", "requests routed", "observed share", "fell back to default"]
                                                  .map((h, i) => el("th", {class: i ? "num" : null, text: h})))),
                  el("tbody", {}, ...rows)));
  }
  const eventsOn = samples.some((s) => s.name === "recsys_events_accepted_total");
  if (!eventsOn)
    parts.push(el("p", {class: "hint", text: "Outcomes (conversions and hit rates per variant with confidence intervals) appear here when the server records events (recserve --events-dir, POST /v1/events)."}));
  for (const x of exps) {
    const report = state.reports[x.name];
    if (eventsOn && report) parts.push(outcomeTable(report));
  }
  box.replaceChildren(...parts);
}

function interval(ci) {
  return Array.isArray(ci) ? `${(100 * ci[0]).toFixed(1)}–${(100 * ci[1]).toFixed(1)}%` : "–";
}

function percent(x) {
  return Number.isFinite(x) ? (100 * x).toFixed(2) + "%" : "–";
}

/* GET /v1/experiments/{name}/report as a table: per variant, users and
 * conversions with 95% intervals, and the test against the control. */
function outcomeTable(r) {
  const rows = r.variants.map((v) => {
    const vs = v.vs_control;
    return el("tr", {}, el("td", {text: v.variant + (v.control ? " (control)" : "")}),
              el("td", {class: "num", text: fmt(v.impressions)}), el("td", {class: "num", text: fmt(v.users)}),
              el("td", {class: "num", text: fmt(v.converted_users)}),
              el("td", {class: "num", text: percent(v.conversion_rate)}),
              el("td", {class: "num", text: interval(v.conversion_ci95)}),
              el("td", {class: "num", text: percent(v.hit_rate)}),
              el("td", {class: "num", text: vs ? (100 * vs.difference).toFixed(2) + " pts" : "–"}),
              el("td", {class: "num", text: vs ? vs.p_value.toPrecision(2) + (vs.significant ? " (significant)" : "") : "–"}));
  });
  return el("div", {},
            el("h3", {text: `Outcomes of ${r.experiment}`}),
            el("p", {class: "hint", text: `${r.scope}; positive events: ${(r.positive_types || []).join(", ")}; test: ${r.test}.`}),
            el("table", {"aria-label": `outcomes of ${r.experiment}`},
               el("thead", {}, el("tr", {}, ...["variant", "impressions", "users", "converted", "conversion", "95% interval",
                                                "hit rate", "vs control", "p-value"]
                                                .map((h, i) => el("th", {class: i ? "num" : null, text: h})))),
               el("tbody", {}, ...rows)));
}

/* The experiments' reports, when the server records events. */
async function loadReports() {
  const samples = state.lastSample ? state.lastSample.samples : [];
  const exps = state.models && state.models.experiments;
  if (!exps || !samples.some((s) => s.name === "recsys_events_accepted_total")) return;
  for (const x of exps) {
    try {
      state.reports[x.name] = (await api(`/v1/experiments/${encodeURIComponent(x.name)}/report`)).body;
    } catch (e) {
      state.reports[x.name] = null;
    }
  }
  renderExperiments();
}

/* ---- Try it ---- */

/* The variant's catalogue attributes of the listed items (GET
 * /v1/items/{id}), when the version has a catalogue: "categories; field
 * value, ..." per id. */
async function attributes(items, variant, hasCatalog) {
  const out = {};
  if (!hasCatalog) return out;
  const q = variant ? `?variant=${encodeURIComponent(variant)}` : "";
  await Promise.all(items.map(async (it) => {
    try {
      const a = (await api(`/v1/items/${encodeURIComponent(it.id)}${q}`)).body;
      if (!a.described) return;
      const fields = Object.entries(a.fields || {}).map(([k, v]) => `${k} ${fmt(v, 2)}`);
      out[it.id] = [(a.categories || []).join(", "), ...fields].filter(Boolean).join("; ");
    } catch (e) {
      /* an item of another version: no attributes */
    }
  }));
  return out;
}

function catalogOf(variant) {
  const models = (state.models && state.models.models) || [];
  const m = models.find((x) => x.variant === variant) || models.find((x) => x.default);
  return m && m.catalog;
}

function resultTable(items, caption, attrs) {
  return el("table", {"aria-label": caption},
            el("thead", {}, el("tr", {}, ...["rank", "item", "score", "attributes", ""].map((h) => el("th", {text: h})))),
            el("tbody", {}, ...items.map((it, i) =>
              el("tr", {}, el("td", {class: "num", text: i + 1}), el("td", {"data-item": it.id, text: it.id}),
                 el("td", {class: "num", text: fmt(it.score)}),
                 el("td", {class: "attrs", text: (attrs && attrs[it.id]) || "–"}),
                 el("td", {}, el("button", {type: "button", class: "secondary", text: "similar",
                                            onclick: () => { document.getElementById("similar-item").value = it.id; similar(); }}))))));
}

function answeredBy(r) {
  return `answered by ${r.headers.get("X-Recsys-Variant") || "?"} version ${r.headers.get("X-Recsys-Version") || "?"}`;
}

async function recommend(ev) {
  if (ev) ev.preventDefault();
  const out = document.getElementById("try-result");
  const user = document.getElementById("try-user").value.trim();
  const history = document.getElementById("try-history").value.split(/[\s,]+/).filter(Boolean);
  const variant = document.getElementById("try-variant").value;
  const n = Number(document.getElementById("try-n").value) || 10;
  if (!user && history.length === 0) {
    out.replaceChildren(el("p", {class: "error", text: "Give a known user id or a history of item ids."}));
    return;
  }
  const req = {n};
  if (user) req.user = user; else req.history = history;
  if (variant) req.variant = variant;
  try {
    const r = await api("/v1/recommend", {json: req});
    const b = r.body;
    const attrs = await attributes(b.items || [], b.variant, catalogOf(b.variant));
    out.replaceChildren(el("h3", {text: `Recommendations for ${user ? "user " + user : "the history"}`}),
                        el("p", {class: "hint", id: "try-answered", text: answeredBy(r) + (b.experiment ? `, experiment ${b.experiment}` : "")}),
                        resultTable(b.items || [], "recommended items", attrs));
  } catch (e) {
    out.replaceChildren(el("p", {class: "error", text: e.message}));
  }
}

async function similar(ev) {
  if (ev) ev.preventDefault();
  const out = document.getElementById("try-result");
  const item = document.getElementById("similar-item").value.trim();
  const variant = document.getElementById("try-variant").value;
  const n = Number(document.getElementById("try-n").value) || 10;
  if (!item) {
    out.replaceChildren(el("p", {class: "error", text: "Give an item id."}));
    return;
  }
  const q = new URLSearchParams({n: String(n)});
  if (variant) q.set("variant", variant);
  try {
    const r = await api(`/v1/items/${encodeURIComponent(item)}/similar?${q}`);
    const attrs = await attributes(r.body.items || [], r.body.variant, catalogOf(r.body.variant));
    out.replaceChildren(el("h3", {text: `Items similar to ${item}`}), el("p", {class: "hint", text: answeredBy(r)}),
                        resultTable(r.body.items || [], "similar items", attrs));
  } catch (e) {
    out.replaceChildren(el("p", {class: "error", text: e.message}));
  }
}

/* ---- Admin ---- */

function adminMessage(text, bad) {
  document.getElementById("admin-result").replaceChildren(el("p", {class: bad ? "error" : "ok", text}));
}

function useToken(ev) {
  ev.preventDefault();
  const input = document.getElementById("admin-token");
  state.token = input.value.trim() || null;
  input.value = "";
  document.getElementById("admin-reload").disabled = !state.token;
  adminMessage(state.token ? "Token kept in this page's memory; admin actions are enabled." : "No token.", !state.token);
  loadModels();
}

function useApiKey(ev) {
  ev.preventDefault();
  const input = document.getElementById("api-key");
  state.apiKey = input.value.trim() || null;
  input.value = "";
  adminMessage(state.apiKey ? "API key kept in this page's memory and sent with every request." : "No API key.");
  loadModels();
}

function forgetToken() {
  state.token = null;
  document.getElementById("admin-reload").disabled = true;
  adminMessage("Token forgotten.");
  loadModels();
}

async function reload() {
  try {
    const r = await api("/v1/admin/reload", {method: "POST", admin: true});
    const lines = (r.body.variants || []).map((v) => `${v.variant}: ${v.result} (serving ${v.serving_version})`);
    adminMessage(`Reload ${r.body.completed ? "done" : "still running"}: ${lines.join("; ") || "no variant"}`);
  } catch (e) {
    adminMessage("Reload refused: " + e.message, true);
  }
  loadModels();
}

async function pin(variant, version) {
  try {
    await api("/v1/admin/pin", {json: {variant, version}, admin: true});
    adminMessage(`${variant} is pinned to version ${version} and serves it now.`);
  } catch (e) {
    adminMessage(`Pinning ${variant} to version ${version} failed: ${e.message}`, true);
  }
  await loadModels();
}

async function unpin(variant) {
  try {
    await api("/v1/admin/unpin", {json: {variant}, admin: true});
    adminMessage(`${variant} is unpinned and follows the store's current version.`);
  } catch (e) {
    adminMessage(`Unpinning ${variant} failed: ${e.message}`, true);
  }
  await loadModels();
}

/* ---- start ---- */

document.addEventListener("DOMContentLoaded", () => {
  document.getElementById("live-interval").textContent = String(LIVE_INTERVAL_MS / 1000);
  document.getElementById("recommend-form").addEventListener("submit", recommend);
  document.getElementById("similar-form").addEventListener("submit", similar);
  document.getElementById("token-form").addEventListener("submit", useToken);
  document.getElementById("token-forget").addEventListener("click", forgetToken);
  document.getElementById("apikey-form").addEventListener("submit", useApiKey);
  document.getElementById("admin-reload").addEventListener("click", reload);
  loadModels();
  pollLive();
  setInterval(pollLive, LIVE_INTERVAL_MS);
  setInterval(loadModels, MODELS_INTERVAL_MS);
});
