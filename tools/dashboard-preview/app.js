// Draws every panel of the dashboard JSON served by server.mjs, from the panel's own queries:
// Prometheus targets through /api/prom (query_range), SQL targets and annotations through
// /api/sql. Layout follows each panel's gridPos (24 columns, 30 px rows) like Grafana.
/* global Chart */
"use strict";

const PAGE_W = 1600;
const MARGIN = 8;
const GAP = 6;
const ROW_H = 30;
const COL_W = (PAGE_W - 2 * MARGIN) / 24;
const PALETTE = ["#73BF69", "#F2CC0C", "#8AB8FF", "#FF780A", "#F2495C", "#5794F2", "#B877D9", "#705DA0",
  "#37872D", "#FADE2A", "#447EBC", "#C15C17", "#890F02", "#0A437C", "#6D1F62", "#584477"];
const NAMED = { red: "#F2495C", blue: "#5794F2", yellow: "#FADE2A", orange: "#FF9830", green: "#73BF69",
  purple: "#B877D9", transparent: "rgba(0,0,0,0)" };
const GRID = "#2c3235";
const MUTED = "#8e8e9e";
const color = (c) => NAMED[c] ?? c;

Chart.defaults.color = MUTED;
Chart.defaults.font.family = '"DejaVu Sans", Arial, sans-serif';
Chart.defaults.font.size = 10;

// ---- value formatting, per Grafana unit id ----
function si(v, units) {
  const a = Math.abs(v);
  for (const [k, s] of units) if (a >= k) return `${trim(v / k)}${s}`;
  return trim(v);
}
function trim(v) {
  if (v === 0) return "0";
  const a = Math.abs(v);
  const d = a >= 100 ? 0 : a >= 10 ? 1 : a >= 1 ? 2 : 3;
  return Number(v.toFixed(d)).toString();
}
function fmt(unit, v) {
  if (v === null || v === undefined || Number.isNaN(v)) return "-";
  switch (unit) {
    case "cps": return `${si(v, [[1e6, " M"], [1e3, " K"]])} c/s`;
    case "short": return si(v, [[1e9, " B"], [1e6, " M"], [1e3, " K"]]);
    case "bytes": {
      const u = [[2 ** 40, " TiB"], [2 ** 30, " GiB"], [2 ** 20, " MiB"], [2 ** 10, " KiB"]];
      for (const [k, s] of u) if (Math.abs(v) >= k) return `${trim(v / k)}${s}`;
      return `${trim(v)} B`;
    }
    case "s": {
      const a = Math.abs(v);
      if (a === 0) return "0 s";
      if (a < 1e-3) return `${trim(v * 1e6)} µs`;
      if (a < 1) return `${trim(v * 1e3)} ms`;
      if (a < 120) return `${trim(v)} s`;
      if (a < 7200) return `${trim(v / 60)} min`;
      return `${trim(v / 3600)} h`;
    }
    case "sci": return v === 0 ? "0" : v.toExponential(2);
    case "percentunit": return `${trim(v * 100)}%`;
    default: return trim(v);
  }
}

// ---- helpers ----
async function getJSON(url) {
  const r = await fetch(url);
  const body = await r.json();
  if (!r.ok || body.error) throw new Error(body.error ?? `${r.status} ${url}`);
  return body;
}
function el(tag, cls, text) {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text !== undefined) e.textContent = text;
  return e;
}
function legendOf(format, metric) {
  return (format || "{{__name__}}").replace(/\{\{\s*(\w+)\s*\}\}/g, (_, k) => metric[k] ?? "").trim() || JSON.stringify(metric);
}
function utc(t) {
  return new Date(t).toISOString().replace("T", " ").slice(0, 16);
}

// Grafana's threshold lines ("thresholdsStyle": dashed) and SQL annotations (shaded bands).
const overlays = {
  id: "overlays",
  afterDatasetsDraw(chart, _args, o) {
    const { ctx, chartArea: a, scales } = chart;
    ctx.save();
    for (const line of o.lines ?? []) {
      const y = scales.y.getPixelForValue(line.value);
      if (y < a.top || y > a.bottom) continue;
      ctx.strokeStyle = line.color;
      ctx.setLineDash([6, 4]);
      ctx.lineWidth = 1;
      ctx.beginPath(); ctx.moveTo(a.left, y); ctx.lineTo(a.right, y); ctx.stroke();
      ctx.setLineDash([]);
      ctx.fillStyle = line.color;
      ctx.fillText(line.label, a.right - 14, y - 3);
    }
    let lastLabel = -Infinity;
    for (const band of o.bands ?? []) {
      const x0 = Math.max(a.left, scales.x.getPixelForValue(band.from));
      const x1 = Math.min(a.right, Math.max(x0 + 2, scales.x.getPixelForValue(band.to)));
      if (x1 < a.left || x0 > a.right) continue;
      ctx.fillStyle = band.fill;
      ctx.fillRect(x0, a.top, x1 - x0, a.bottom - a.top);
      ctx.fillStyle = band.color;
      ctx.fillRect(x0, a.bottom - 4, Math.max(2, x1 - x0), 4);
      if (x0 - lastLabel > 34) {
        ctx.font = "9px DejaVu Sans, Arial";
        ctx.fillText(band.label, x0 + 1, a.top + 10 + (band.row ?? 0) * 11);
        lastLabel = x0;
      }
    }
    ctx.restore();
  },
};
Chart.register(overlays);

function lineChart(canvas, panel, datasets, range, extra = {}) {
  const d = panel.fieldConfig?.defaults ?? {};
  const custom = d.custom ?? {};
  const log = custom.scaleDistribution?.type === "log";
  const stacked = custom.stacking?.mode === "normal";
  return new Chart(canvas, {
    type: "line",
    data: { datasets },
    options: {
      animation: false, responsive: true, maintainAspectRatio: false, parsing: false, normalized: true,
      spanGaps: false,
      elements: { point: { radius: 0 }, line: { borderWidth: custom.lineWidth ?? 1, tension: 0 } },
      scales: {
        x: {
          type: "time", min: range.from * 1000, max: range.to * 1000,
          time: { displayFormats: { millisecond: "HH:mm:ss", second: "HH:mm:ss", minute: "HH:mm", hour: "MM-dd HH:mm", day: "MM-dd" } },
          grid: { color: GRID },
          ticks: { maxRotation: 0, autoSkip: true, maxTicksLimit: Math.max(3, Math.floor(canvas.parentElement.clientWidth / 90)) },
        },
        y: {
          type: log ? "logarithmic" : "linear", stacked,
          min: d.min ?? undefined, max: d.max ?? undefined,
          title: custom.axisLabel ? { display: true, text: custom.axisLabel } : undefined,
          grid: { color: GRID },
          ticks: {
            maxTicksLimit: 6,
            callback: (v) => {
              if (log && Math.abs(Math.log10(v) - Math.round(Math.log10(v))) > 1e-9) return "";
              return fmt(d.unit, v);
            },
          },
        },
      },
      plugins: {
        legend: { position: "bottom", labels: { boxWidth: 12, boxHeight: 2, padding: 6, font: { size: 10 } } },
        tooltip: { enabled: false },
        overlays: extra.overlays ?? {},
      },
    },
  });
}

function dataset(label, points, i, panel) {
  let c = PALETTE[i % PALETTE.length];
  for (const o of panel.fieldConfig?.overrides ?? []) {
    if (o.matcher?.id === "byName" && o.matcher.options === label) {
      for (const p of o.properties) if (p.id === "color" && p.value?.fixedColor) c = p.value.fixedColor;
    }
  }
  const fill = (panel.fieldConfig?.defaults?.custom?.fillOpacity ?? 0) / 100;
  return {
    label, data: points, borderColor: c,
    backgroundColor: c + Math.round(fill * 255).toString(16).padStart(2, "0"),
    fill: fill > 0 ? "origin" : false,
  };
}

// ---- Prometheus ----
async function promSeries(panel, meta, widthPx) {
  const range = meta.prom;
  const step = Math.max(10, Math.ceil((range.to - range.from) / Math.max(100, widthPx)));
  const out = [];
  for (const t of panel.targets ?? []) {
    const body = await getJSON(`/api/prom?panel=${panel.id}&ref=${t.refId}&step=${step}`);
    for (const r of body.data.result) {
      const points = [];
      let last = null;
      for (const [ts, v] of r.values) {
        const x = ts * 1000;
        if (last !== null && x - last > 2.5 * step * 1000) points.push({ x: last + step * 1000, y: null });
        const y = Number(v);
        points.push({ x, y: Number.isFinite(y) ? y : null });
        last = x;
      }
      out.push({ label: legendOf(t.legendFormat, r.metric), points });
    }
  }
  out.sort((a, b) => a.label.localeCompare(b.label, "en", { numeric: true }));
  return { series: out, step };
}

async function promTimeseries(panel, body, meta, widthPx) {
  const { series } = await promSeries(panel, meta, widthPx);
  if (!series.length) return body.append(el("div", "nodata", "No data"));
  const canvas = el("canvas");
  body.append(canvas);
  lineChart(canvas, panel, series.map((s, i) => dataset(s.label, s.points, i, panel)), meta.prom);
}

async function promStat(panel, body, meta, widthPx) {
  const { series } = await promSeries(panel, meta, widthPx);
  const d = panel.fieldConfig?.defaults ?? {};
  const steps = d.thresholds?.steps ?? [{ color: "green", value: null }];
  const box = el("div", "stat");
  body.append(box);
  if (!series.length) return box.append(el("div", "nodata", "No data"));
  series.forEach((s, i) => {
    const vals = s.points.filter((p) => p.y !== null);
    const v = vals.length ? vals[vals.length - 1].y : null;
    let c = color(steps[0].color);
    for (const st of steps) if (st.value !== null && v !== null && v >= st.value) c = color(st.color);
    const item = el("div", "item");
    const value = el("div", "value", d.decimals === 0 && v !== null ? String(Math.round(v)) : fmt(d.unit, v));
    value.style.color = c;
    item.append(value);
    if (series.length > 1) item.append(el("div", "label", s.label));
    box.append(item);
    if (i === 0 && panel.options?.graphMode === "area" && series.length === 1) {
      const canvas = el("canvas");
      box.append(canvas);
      new Chart(canvas, {
        type: "line",
        data: { datasets: [{ data: s.points, borderColor: c, backgroundColor: c + "33", fill: "origin", borderWidth: 1 }] },
        options: {
          animation: false, responsive: true, maintainAspectRatio: false, parsing: false,
          elements: { point: { radius: 0 } },
          scales: { x: { type: "time", display: false, min: meta.prom.from * 1000, max: meta.prom.to * 1000 },
            y: { display: false, type: d.unit === "sci" ? "logarithmic" : "linear" } },
          plugins: { legend: { display: false }, tooltip: { enabled: false } },
        },
      });
    }
  });
}

// ---- PostgreSQL ----
function sqlInterval(meta, widthPx) {
  const secs = (meta.sql.to - meta.sql.from) / Math.max(100, widthPx);
  return Math.max(60, Math.ceil(secs / 60) * 60);
}

async function annotationsFor(panel, meta, interval) {
  const list = meta.dashboard.annotations?.list ?? [];
  const bands = [];
  for (let i = 0; i < list.length; i++) {
    const a = list[i];
    if (!a.enable || !a.target?.rawSql) continue;
    if (a.filter && !a.filter.exclude && !(a.filter.ids ?? []).includes(panel.id)) continue;
    const body = await getJSON(`/api/sql?kind=annotation&index=${i}&interval=${interval}`);
    const c = color(a.iconColor);
    for (const r of body.rows) {
      const from = new Date(r.time).getTime();
      const to = r.timeend ? new Date(r.timeend).getTime() : from;
      bands.push({ from, to, label: String(r.text).split(" ")[0], color: c, fill: c + "2e", row: bands.length % 2 });
    }
  }
  return bands.sort((x, y) => x.from - y.from);
}

async function sqlTimeseries(panel, body, meta, widthPx) {
  const interval = sqlInterval(meta, widthPx);
  const t = panel.targets[0];
  const res = await getJSON(`/api/sql?panel=${panel.id}&ref=${t.refId}&interval=${interval}`);
  const valueCols = res.columns.filter((c) => c !== "time");
  const series = valueCols.map((c, i) => dataset(c, res.rows.map((r) => ({
    x: r.time instanceof Object ? new Date(r.time).getTime() : Number(r.time) * 1000,
    y: r[c] === null ? null : Number(r[c]),
  })), i, panel));
  if (!res.rows.length) return body.append(el("div", "nodata", "No data"));
  const d = panel.fieldConfig?.defaults ?? {};
  const lines = [];
  if (d.custom?.thresholdsStyle?.mode?.startsWith("dashed")) {
    const labels = { 1e-6: "C", 1e-5: "M", 1e-4: "X" };
    for (const s of d.thresholds?.steps ?? []) {
      if (s.value !== null && s.color !== "transparent") lines.push({ value: s.value, color: color(s.color), label: labels[s.value] ?? "" });
    }
  }
  const bands = await annotationsFor(panel, meta, interval);
  const canvas = el("canvas");
  body.append(canvas);
  lineChart(canvas, panel, series, meta.sql, { overlays: { lines, bands } });
}

async function sqlTable(panel, body, meta) {
  const t = panel.targets[0];
  const res = await getJSON(`/api/sql?panel=${panel.id}&ref=${t.refId}&interval=60`);
  if (!res.rows.length) return body.append(el("div", "nodata", "No data"));
  const wrap = el("div", "tablewrap");
  const table = el("table");
  const head = el("tr");
  for (const c of res.columns) head.append(el("th", null, c));
  table.append(head);
  const mappings = {};
  for (const o of panel.fieldConfig?.overrides ?? []) {
    for (const p of o.properties) if (p.id === "mappings") mappings[o.matcher.options] = p.value;
  }
  for (const r of res.rows) {
    const tr = el("tr");
    for (const c of res.columns) {
      let v = r[c];
      if (typeof v === "string" && /^\d{4}-\d\d-\d\dT/.test(v)) v = utc(v);
      const td = el("td", null, v === null ? "-" : String(v));
      for (const m of mappings[c] ?? []) {
        if (m.type === "regex" && new RegExp(m.options.pattern).test(String(v))) {
          td.style.color = color(m.options.result.color);
          break;
        }
      }
      tr.append(td);
    }
    table.append(tr);
  }
  wrap.append(table);
  body.append(wrap);
}

// ---- page ----
async function main() {
  const meta = await getJSON("/api/dashboard");
  const dash = meta.dashboard;
  document.getElementById("title").textContent = dash.title;
  document.getElementById("meta").textContent =
    `Rendered from ${meta.source} (every panel's own PromQL / SQL). ` +
    `Prometheus panels: ${utc(meta.prom.from * 1000)} – ${utc(meta.prom.to * 1000)} UTC, a real pipeline run scraped by a real Prometheus. ` +
    `PostgreSQL panels: data time ${utc(meta.sql.from * 1000)} – ${utc(meta.sql.to * 1000)} UTC (the replayed sample's own time range).`;
  const vars = document.getElementById("vars");
  for (const v of dash.templating.list) {
    vars.append(el("span", null, `${v.label ?? v.name}: ${v.includeAll ? "All" : v.current?.text ?? ""}`));
  }
  const grid = document.getElementById("grid");
  let bottom = 0;
  const jobs = [];
  for (const panel of dash.panels) {
    const g = panel.gridPos;
    const div = el("div", `panel${panel.type === "row" ? " row" : ""}`);
    const left = g.x * COL_W;
    const top = g.y * ROW_H;
    const w = g.w * COL_W - GAP;
    const h = g.h * ROW_H - GAP;
    Object.assign(div.style, { left: `${left}px`, top: `${top}px`, width: `${w}px`, height: `${h}px` });
    bottom = Math.max(bottom, top + h);
    const title = el("div", "title", panel.title);
    const dsType = panel.datasource?.type;
    if (panel.type !== "row") title.append(el("span", "ds", dsType === "prometheus" ? "Prometheus" : "PostgreSQL"));
    div.append(title);
    const body = el("div", "body");
    div.append(body);
    grid.append(div);
    if (panel.type === "row") continue;
    const job = (async () => {
      if (dsType === "prometheus" && panel.type === "timeseries") return promTimeseries(panel, body, meta, w);
      if (dsType === "prometheus" && panel.type === "stat") return promStat(panel, body, meta, w);
      if (panel.type === "timeseries") return sqlTimeseries(panel, body, meta, w);
      if (panel.type === "table") return sqlTable(panel, body, meta);
      throw new Error(`panel type ${panel.type} is not rendered by the preview`);
    })().catch((e) => {
      body.append(el("div", "error", String(e.message ?? e)));
      window.__errors = (window.__errors ?? []).concat(`${panel.title}: ${e.message ?? e}`);
    });
    jobs.push(job);
  }
  grid.style.height = `${bottom + 8}px`;
  await Promise.all(jobs);
  window.__rendered = true;
}

main().catch((e) => {
  document.body.append(el("div", "error", String(e.stack ?? e)));
  window.__errors = [String(e)];
  window.__rendered = true;
});
