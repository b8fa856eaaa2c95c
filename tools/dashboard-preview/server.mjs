// The preview server: serves a page that draws every panel of the Grafana dashboard
// (deploy/grafana/dashboards/flare-plus.json) from that dashboard's own queries, evaluated
// against a real Prometheus (HTTP API, query_range) and a real PostgreSQL (the panel's rawSql,
// with Grafana's SQL macros expanded the way Grafana expands them).
//
//   node server.mjs --prom http://127.0.0.1:19090 \
//     --pg postgres://grafana_reader:grafana-dev@127.0.0.1:55432/flare \
//     --from 1764070000 --to 1764070900 [--sql-from ISO --sql-to ISO] [--port 18080]
//
// --from/--to (unix seconds) is the dashboard's time range for the Prometheus panels. The SQL
// panels use --sql-from/--sql-to, by default the last 3 days of stored flux: during a replay
// the data's own time is historical (the 30-day sample is May 2024), which is what you would
// pick in Grafana's time picker to look at it.
//
// The page only ever sends a panel id (and the dashboard's template variables are substituted
// here and there exactly as Grafana does: $actor -> its "All" value); it cannot send SQL.
import fs from "node:fs";
import http from "node:http";
import path from "node:path";
import { fileURLToPath } from "node:url";
import pg from "pg";

const here = path.dirname(fileURLToPath(import.meta.url));
const dashboardPath = path.resolve(here, "../../deploy/grafana/dashboards/flare-plus.json");

function args() {
  const out = { port: 18080 };
  const argv = process.argv.slice(2);
  for (let i = 0; i < argv.length; i += 2) {
    const key = argv[i].replace(/^--/, "");
    out[key] = argv[i + 1];
  }
  for (const need of ["prom", "pg", "from", "to"]) {
    if (!out[need]) throw new Error(`missing --${need} (see the header of server.mjs)`);
  }
  return out;
}

const opts = args();
const dashboard = JSON.parse(fs.readFileSync(dashboardPath, "utf8"));
const pool = new pg.Pool({ connectionString: opts.pg, max: 2 });

/// Grafana's template variables as "All" / their configured current value.
function substituteVariables(text) {
  let out = text;
  for (const v of dashboard.templating.list) {
    let value;
    if (v.type === "datasource") value = v.current.value;
    else if (v.includeAll) value = v.allValue ?? ".*";
    else value = v.current.value;
    out = out.replaceAll(`\${${v.name}}`, value).replaceAll(`$${v.name}`, value);
  }
  return out;
}

/// Grafana's PostgreSQL macros ($__timeFilter, $__timeGroupAlias, $__interval).
function expandSql(sql, fromSec, toSec, intervalSec) {
  const iso = (s) => new Date(s * 1000).toISOString();
  const parseInterval = (text) => {
    const t = text.trim().replace(/^'|'$/g, "");
    if (t === "$__interval") return intervalSec;
    const m = /^(\d+)(s|m|h|d)$/.exec(t);
    if (!m) throw new Error(`cannot read interval ${text}`);
    return Number(m[1]) * { s: 1, m: 60, h: 3600, d: 86400 }[m[2]];
  };
  return substituteVariables(sql)
    .replace(/\$__timeGroupAlias\(([^,]+),([^)]+)\)/g, (_, col, iv) => {
      const secs = parseInterval(iv);
      return `floor(extract(epoch from ${col.trim()})/${secs})*${secs} AS "time"`;
    })
    .replace(/\$__timeFilter\(([^)]+)\)/g, (_, col) => `${col.trim()} BETWEEN '${iso(fromSec)}' AND '${iso(toSec)}'`)
    .replace(/\$__interval/g, `'${intervalSec}s'`);
}

function findPanel(id) {
  return dashboard.panels.find((p) => String(p.id) === String(id));
}

async function sqlRange() {
  if (opts["sql-from"] && opts["sql-to"]) {
    return [Date.parse(opts["sql-from"]) / 1000, Date.parse(opts["sql-to"]) / 1000];
  }
  const { rows } = await pool.query(
    "SELECT extract(epoch from max(\"timestamp\"))::float8 AS t FROM flare_goes_xray_flux WHERE feed = 'primary'",
  );
  const to = rows[0]?.t ?? Date.now() / 1000;
  return [to - 3 * 86400, to];
}

function send(res, status, body, type = "application/json") {
  res.writeHead(status, { "content-type": type, "cache-control": "no-store" });
  res.end(typeof body === "string" || Buffer.isBuffer(body) ? body : JSON.stringify(body));
}

const files = {
  "/": ["index.html", "text/html"],
  "/app.js": ["app.js", "text/javascript"],
  "/vendor/chart.js": ["node_modules/chart.js/dist/chart.umd.js", "text/javascript"],
  "/vendor/adapter.js": [
    "node_modules/chartjs-adapter-date-fns/dist/chartjs-adapter-date-fns.bundle.min.js",
    "text/javascript",
  ],
};

const server = http.createServer(async (req, res) => {
  const url = new URL(req.url, "http://localhost");
  try {
    if (files[url.pathname]) {
      const [file, type] = files[url.pathname];
      return send(res, 200, fs.readFileSync(path.join(here, file)), type);
    }
    if (url.pathname === "/favicon.ico") return send(res, 204, "");
    if (url.pathname === "/api/dashboard") {
      const [sqlFrom, sqlTo] = await sqlRange();
      return send(res, 200, {
        dashboard,
        source: path.relative(path.resolve(here, "../.."), dashboardPath),
        prom: { from: Number(opts.from), to: Number(opts.to), url: opts.prom },
        sql: { from: sqlFrom, to: sqlTo },
      });
    }
    if (url.pathname === "/api/prom") {
      // One target of one panel: the expression comes from the dashboard, not the page.
      const panel = findPanel(url.searchParams.get("panel"));
      const target = panel?.targets?.find((t) => t.refId === url.searchParams.get("ref"));
      if (!target?.expr) return send(res, 404, { error: "no such Prometheus target" });
      const q = new URLSearchParams({
        query: substituteVariables(target.expr),
        start: opts.from,
        end: opts.to,
        step: url.searchParams.get("step") ?? "10",
      });
      const r = await fetch(`${opts.prom}/api/v1/query_range?${q}`);
      const body = await r.json();
      return send(res, r.status, { expr: q.get("query"), ...body });
    }
    if (url.pathname === "/api/sql") {
      const [from, to] = await sqlRange();
      const interval = Math.max(60, Number(url.searchParams.get("interval") ?? 60));
      const kind = url.searchParams.get("kind");
      let raw;
      if (kind === "annotation") {
        raw = dashboard.annotations.list[Number(url.searchParams.get("index"))]?.target?.rawSql;
      } else {
        const panel = findPanel(url.searchParams.get("panel"));
        raw = panel?.targets?.find((t) => t.refId === url.searchParams.get("ref"))?.rawSql;
      }
      if (!raw) return send(res, 404, { error: "no such SQL query" });
      const sql = expandSql(raw, from, to, interval);
      const { rows, fields } = await pool.query(sql);
      return send(res, 200, { sql, columns: fields.map((f) => f.name), rows });
    }
    send(res, 404, { error: "not found" });
  } catch (e) {
    send(res, 500, { error: String(e?.message ?? e) });
  }
});

server.listen(Number(opts.port), "127.0.0.1", () => {
  console.log(`preview on http://127.0.0.1:${opts.port}/ (dashboard ${dashboardPath})`);
});
