// The deployment dashboard: polls /v1/deployment and redraws.  Charts are uPlot's
// (served from node_modules by the region); everything else is plain DOM.
"use strict";

const POLL_MS = 1500;
const WINDOW_S = 300;            // what the charts show, and what the server keeps
const CONFLICTS_SHOWN = 10;
const PALETTE = ["#2f6fde", "#e0622a", "#1f9d55", "#9b4dca", "#c98a00", "#d0342c", "#138a8a", "#6b7385"];

const state = {
  lastOk: 0,                      // client time (ms) of the last successful poll
  samples: new Map(),             // region -> Map(region time ms -> sample)
  skew: new Map(),                // region -> browser clock minus region clock, ms
  charts: new Map(),              // chart key -> {plot, seriesKey, el}
  sources: new Map(),             // region -> its sources when last seen up
};

const $ = (id) => document.getElementById(id);
const esc = (s) => String(s ?? "").replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
const fmt = (n) => (n == null ? "–" : n >= 100 ? Math.round(n).toLocaleString("en") : n.toFixed(n >= 10 ? 0 : 1));
// "1 item", "2 items", "1,500 items"
const plural = (n, word, words = `${word}s`) => `${Number(n).toLocaleString("en")} ${n === 1 ? word : words}`;
const ago = (s) => (s < 60 ? `${Math.round(s)} s` : s < 3600 ? `${Math.round(s / 60)} min` : `${Math.round(s / 3600)} h`);

function colorOf(name, names) {
  return PALETTE[[...names].sort().indexOf(name) % PALETTE.length];
}

async function poll() {
  const since = state.lastOk ? Math.min(WINDOW_S, (Date.now() - state.lastOk) / 1000 + 5) : WINDOW_S;
  try {
    const resp = await fetch(`/v1/deployment?history=${Math.ceil(since)}`, { cache: "no-store" });
    if (!resp.ok) throw new Error(`HTTP ${resp.status}`);
    render(await resp.json());
    state.lastOk = Date.now();
    $("updated").textContent = `updated ${new Date().toLocaleTimeString()}`;
  } catch (err) {
    // the serving region itself is unreachable: keep the last picture, say so
    $("updated").textContent = `cannot reach this region (${err.message}); retrying`;
  } finally {
    setTimeout(poll, POLL_MS);
  }
}

function render(dep) {
  $("served-by").textContent = `served by ${dep.served_by}`;
  const regions = dep.regions;
  const names = regions.map((r) => r.name);
  for (const r of regions) {
    if (r.summary) for (const src of Object.keys(r.summary.lag)) if (!names.includes(src)) names.push(src);
  }
  remember(regions);
  renderCards(regions, names);
  renderMatrix(regions, names);
  renderLagCharts(regions, names);
  renderThroughput(regions, names);
  renderTables(regions);
  renderConflicts(dep.conflicts);
}

// ---------------------------------------------------------------- samples

function remember(regions) {
  for (const r of regions) {
    if (!state.samples.has(r.name)) state.samples.set(r.name, new Map());
    const mine = state.samples.get(r.name);
    if (r.summary) {
      // region clock -> this browser's clock, so regions line up on one time axis.
      // Kept once measured (each poll's estimate jitters with network latency);
      // re-measured only if the region's clock jumped.
      const estimate = Date.now() - r.summary.now_ms;
      const known = state.skew.get(r.name);
      if (known === undefined || Math.abs(known - estimate) > 2000) state.skew.set(r.name, estimate);
      for (const s of r.summary.history) mine.set(s.t_ms, s);
    }
    const cutoff = Date.now() - WINDOW_S * 1000 - (state.skew.get(r.name) || 0);
    for (const t of mine.keys()) if (t < cutoff) mine.delete(t);
  }
}

// [browser time in s, sample] of a region, oldest first
function timeline(name) {
  const skew = state.skew.get(name) || 0;
  return [...state.samples.get(name)].sort((a, b) => a[0] - b[0]).map(([t, s]) => [(t + skew) / 1000, s]);
}

// ---------------------------------------------------------------- regions

function renderCards(regions, names) {
  const yes = (ok, word, bad) => (ok ? word : `<b class="bad">${bad}</b>`);
  $("regions").innerHTML = regions.map((r) => {
    const s = r.summary;
    const status = s ? s.health : "down";
    const dot = `<span class="dot" style="background:${colorOf(r.name, names)}"></span>`;
    const title = `<div class="title">${dot}<b>${esc(r.name)}</b><span class="badge ${status}">${status}</span></div>`;
    if (!s) {
      return `<div class="card down">${title}<div class="problem">${esc(r.error)}</div>
        <div class="muted">${esc(r.url)}</div></div>`;
    }
    const rep = s.replication;
    const last = s.history.length ? s.history[s.history.length - 1] : null;
    const rows = [
      ["store", `${esc(s.store.backend)} · ${yes(s.store.ok, "ok", "unreachable")}`],
      ["writes", `${s.writes.total.toLocaleString("en")}${last ? ` · ${fmt(last.writes_per_s)}/s` : ""}`],
    ];
    if (s.nodes) {
      // a region of several nodes: the live ones, and the one that answered this poll
      const live = s.nodes.live ? s.nodes.live.map(esc).join(", ") : "unknown";
      rows.push(["nodes", `${live} · answered by ${esc(s.nodes.this)}${s.nodes.leader ? " (leader)" : ""}`]);
    }
    if (rep) {
      const backlog = `${rep.publisher.backlog}${rep.publisher.backlog_capped ? "+" : ""}`;
      const consumerOk = rep.applier.connected || !rep.applier.sources.length;
      const share = rep.publisher.share && rep.publisher.share.nodes > 1
        ? ` · partitions p mod ${rep.publisher.share.nodes} = ${rep.publisher.share.slot}` : "";
      rows.push(["publisher", `${yes(rep.publisher.connected, "up", "down")} · backlog ${backlog}${share}`]);
      rows.push(["applier", `${yes(consumerOk, "up", "down")} · ${rep.applier.applied.toLocaleString("en")} applied`]);
      if (rep.quarantine) rows.push(["quarantine", quarantineCount(rep.quarantine)]);
    } else {
      rows.push(["replication", "off (no Kafka)"]);
    }
    const problems = s.problems.map((p) => `<div class="problem">${esc(p)}</div>`).join("");
    const held = rep && rep.quarantine ? quarantineReasons(rep.quarantine) : "";
    return `<div class="card ${status}">${title}<dl>${rows.map(([k, v]) => `<dt>${k}</dt><dd>${v}</dd>`).join("")}</dl>${held}${problems}</div>`;
  }).join("");
}

// what a region's quarantine holds (remote records put aside, never applied:
// replicator/quarantine.py).  Counts only: the records themselves are item data.
const byCount = (counts) => Object.entries(counts || {}).sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]));

function quarantineCount(q) {
  if (!q.held) return `<span class="quarantine" title="no remote records put aside">0</span> held`;
  const tip = [
    `by reason: ${byCount(q.by_reason).map(([k, n]) => `${k} ${n}`).join(", ")}`,
    `by source: ${byCount(q.by_source).map(([k, n]) => `${k} ${n}`).join(", ")}`,
    `${q.recent} in the last 5 min`,
    "inspect with: globaltables quarantine list",
  ].join("\n");
  const recent = q.recent ? ` · ${q.recent} new` : "";
  return `<b class="quarantine warn" title="${esc(tip)}">${q.held.toLocaleString("en")}</b> held${recent}`;
}

function quarantineReasons(q) {
  if (!q.held) return "";
  const items = byCount(q.by_reason).map(([k, n]) => `<span class="reason">${esc(k)} <b>${n}</b></span>`);
  return `<div class="quarantine-reasons" title="records put aside by reason">${items.join(" ")}</div>`;
}

function renderMatrix(regions, names) {
  const byName = new Map(regions.map((r) => [r.name, r]));
  // a source that does not answer: what its destinations last applied of it is stale
  const down = (name) => byName.has(name) && !byName.get(name).summary;
  const head = `<tr><th class="corner">source ↓ / destination →</th>${names.map((n) => `<th>${esc(n)}</th>`).join("")}</tr>`;
  const now = Date.now() / 1000;
  const rows = names.map((src) => {
    const cells = names.map((dst) => {
      if (src === dst) return `<td class="self">·</td>`;
      const d = byName.get(dst);
      if (!d || !d.summary) return `<td class="none" title="destination down">down</td>`;
      const p = d.summary.lag[src];
      if (!p) return `<td class="none">not a source</td>`;
      if (!p.applied) return `<td class="none"><div>–</div><div class="sub">nothing applied yet · ${p.records_behind} behind</div>${heldFrom(d, src)}</td>`;
      if (down(src)) {
        // no live lag to show: the last value is history, never in the healthy colour
        return `<td class="stale" title="source down: ${esc(src)} does not answer; last lag applied ${fmt(p.last_ms)} ms">
        <div class="lag">—</div>
        <div class="sub">source down · last ${fmt(p.last_ms)} ms</div>${heldFrom(d, src)}</td>`;
      }
      const cls = p.last_ms < 1000 ? "ok" : p.last_ms < 5000 ? "warn" : "bad";
      const idle = p.last_applied_at ? ago(Math.max(0, now - p.last_applied_at)) + " ago" : "nothing yet";
      return `<td class="${cls}" title="p50 ${fmt(p.p50_ms)} ms, max ${fmt(p.max_ms)} ms, last applied ${idle}">
        <div class="lag">${fmt(p.last_ms)}</div>
        <div class="sub">p99 ${fmt(p.p99_ms)} · ${p.records_behind} behind</div>${heldFrom(d, src)}</td>`;
    }).join("");
    return `<tr><th>${esc(src)}</th>${cells}</tr>`;
  });
  $("lag-matrix").innerHTML = head + rows.join("");
}

// records of one source that a destination put aside, under that pair's lag
function heldFrom(dst, src) {
  const q = dst.summary.replication && dst.summary.replication.quarantine;
  const n = q && q.by_source ? q.by_source[src] : 0;
  return n ? `<div class="sub held" title="records from ${esc(src)} put aside by ${esc(dst.name)}">${n} quarantined</div>` : "";
}

// ---------------------------------------------------------------- charts

function chart(key, container, title, series, data) {
  const seriesKey = series.map((s) => s.label + s.stroke).join("|");
  let c = state.charts.get(key);
  if (c && c.seriesKey !== seriesKey) {
    c.plot.destroy();
    c.el.remove();
    c = null;
  }
  if (!c) {
    const el = document.createElement("div");
    el.className = "chart";
    el.innerHTML = title ? `<h3>${esc(title)}</h3>` : "";
    container.appendChild(el);
    const opts = {
      width: Math.max(300, (el.clientWidth || container.clientWidth) - 4),
      height: 170,
      scales: {
        // always the last WINDOW_S seconds, so every chart shares one time frame
        x: { time: true, range: () => [Date.now() / 1000 - WINDOW_S, Date.now() / 1000] },
        y: { range: (u, min, max) => [0, Math.max(10, (max || 0) * 1.1)] },
      },
      series: [{}, ...series.map((s) => ({ ...s, width: 1.5, spanGaps: s.spanGaps ?? false }))],
      axes: [{ values: (u, ticks) => ticks.map(tick) }, { size: 55 }],
      legend: { live: false },
    };
    c = { plot: new uPlot(opts, data, el), seriesKey, el };
    state.charts.set(key, c);
  } else {
    c.plot.setData(data);
    if (title) c.el.querySelector("h3").textContent = title;
  }
}

// "14:05" on whole minutes, ":30" between them: short labels that never collide
function tick(t) {
  const d = new Date(t * 1000);
  const two = (n) => String(n).padStart(2, "0");
  return d.getSeconds() ? `:${two(d.getSeconds())}` : `${d.getHours()}:${two(d.getMinutes())}`;
}

function aligned(times, columns) {
  // uPlot wants one shared x array and one y array per series
  const xs = [...times].sort((a, b) => a - b);
  return [xs, ...columns.map((col) => xs.map((t) => (col.has(t) ? col.get(t) : null)))];
}

function renderLagCharts(regions, names) {
  const box = $("lag-charts");
  for (const r of regions) {
    if (r.summary) state.sources.set(r.name, Object.keys(r.summary.lag).sort());
    const sources = state.sources.get(r.name) || [];
    if (!sources.length) continue;  // not replicating (yet): nothing to draw
    const line = timeline(r.name);
    const data = [line.map(([t]) => t), ...sources.map((src) => line.map(([, s]) => s.lag_ms[src] ?? null))];
    const series = sources.map((src) => ({ label: `from ${src}`, stroke: colorOf(src, names) }));
    const title = `into ${r.name}${r.status === "down" ? " (down)" : ""}`;
    chart(`lag:${r.name}`, box, title, series, data);
    box.appendChild(state.charts.get(`lag:${r.name}`).el);  // keeps the regions' order
  }
}

function renderThroughput(regions, names) {
  const times = new Set();
  const cols = regions.map((r) => {
    const m = new Map(timeline(r.name).map(([t, s]) => [t, s.writes_per_s]));
    for (const t of m.keys()) times.add(t);
    return m;
  });
  const series = regions.map((r) => ({ label: r.name, stroke: colorOf(r.name, names), spanGaps: true }));
  chart("throughput", $("throughput-chart"), "", series, aligned(times, cols));
}

addEventListener("resize", () => {
  for (const c of state.charts.values()) c.plot.setSize({ width: Math.max(300, c.el.clientWidth - 4), height: 170 });
});

// ---------------------------------------------------------------- tables, conflicts

function renderTables(regions) {
  const up = regions.filter((r) => r.summary);
  const tables = [...new Set(up.flatMap((r) => r.summary.tables.map((t) => t.name)))].sort();
  if (!tables.length) {
    $("tables").innerHTML = `<tr><td class="empty">no tables yet</td></tr>`;
    return;
  }
  const head = `<tr><th>table</th>${regions.map((r) => `<th>${esc(r.name)}</th>`).join("")}</tr>`;
  const rows = tables.map((name) => {
    const cells = regions.map((r) => {
      if (!r.summary) return `<td class="empty">region down</td>`;
      const t = r.summary.tables.find((x) => x.name === name);
      if (!t) return `<td class="empty">–</td>`;
      const me = t.replicas.find((x) => x.region === r.name);
      const status = me ? me.status : t.status;
      const kind = t.replicas.length ? plural(t.replicas.length, "replica") : "local only";
      return `<td title="${esc(kind)}">${esc(status)} · ${plural(t.items, "item")}</td>`;
    }).join("");
    return `<tr><td><b>${esc(name)}</b></td>${cells}</tr>`;
  });
  $("tables").innerHTML = head + rows.join("");
}

function keyText(keys) {
  return Object.entries(keys || {}).map(([k, v]) => `${k}=${Object.values(v || {})[0]}`).join(", ");
}

// keys are item data: /v1/deployment gives them only to signed callers who may read
// the table (docs/security.md), never to this page, which cannot sign
function keyCell(c) {
  if (c.keys) return `<td class="key">${esc(keyText(c.keys))}</td>`;
  return `<td class="key hidden" title="keys need a signed request: globaltables conflicts">(hidden)</td>`;
}

// One conflict is logged by every region that saw the losing write lose: one row
// per conflict, with the regions that logged it.  Grouped on what the page shows
// (table, key when the caller may see it, winning and losing version), newest first.
const version = (v) => `${v && v.hlc}@${v && v.origin}`;
const conflictId = (c) => [c.table, keyText(c.keys), version(c.winner), version(c.loser)].join("|");

function groupConflicts(conflicts) {
  const groups = new Map();
  for (const c of conflicts) {
    const id = conflictId(c);
    const g = groups.get(id);
    if (!g) {
      groups.set(id, { ...c, id, seen_in: [c.detected_in] });
    } else {
      g.at_ms = Math.max(g.at_ms, c.at_ms);
      if (!g.seen_in.includes(c.detected_in)) g.seen_in.push(c.detected_in);
    }
  }
  for (const g of groups.values()) g.seen_in.sort();
  return [...groups.values()].sort((a, b) => b.at_ms - a.at_ms);
}

function renderConflicts(conflicts) {
  if (!conflicts.length) {
    $("conflicts").innerHTML = `<tr><td class="empty">no conflicts recorded</td></tr>`;
    return;
  }
  const head = "<tr><th>when</th><th>table</th><th>key</th><th>winner</th><th>lost</th><th>seen in</th></tr>";
  const rows = groupConflicts(conflicts).slice(0, CONFLICTS_SHOWN).map((c) => `<tr data-conflict="${esc(c.id)}">
    <td>${esc(new Date(c.at_ms).toLocaleTimeString())}</td>
    <td>${esc(c.table)}</td>${keyCell(c)}
    <td title="version ${esc(version(c.winner))}">${esc(c.winner.origin)}</td>
    <td title="version ${esc(version(c.loser))}">${esc(c.loser.origin)}</td>
    <td class="seen-in" title="${esc(plural(c.seen_in.length, "region"))} logged it">${c.seen_in.map(esc).join(", ")}</td></tr>`);
  $("conflicts").innerHTML = head + rows.join("");
}

// ---------------------------------------------------------------- data protection
//
// The serving region's backups, PITR windows, restores, exports and imports
// (GET /v1/protection, api/protection.py): all per region, as in DynamoDB.

const PROTECTION_POLL_MS = 5000;

const utc = (ms) => (ms == null ? "–" : new Date(ms).toISOString().replace("T", " ").slice(0, 19));
const bytes = (n) => {
  if (n == null) return "–";
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let i = 0;
  let v = n;
  while (v >= 1024 && i < units.length - 1) { v /= 1024; i += 1; }
  return i ? `${v.toFixed(1)} ${units[i]}` : `${v} B`;
};
const statusCell = (s) => {
  const cls = /FAILED|CANCEL/.test(s) ? "bad" : /AVAILABLE|ACTIVE|COMPLETED|ENABLED/.test(s) ? "ok" : "warn";
  return `<td class="status ${cls}">${esc(s)}</td>`;
};
const span = (ms) => (ms < 60000 ? `${Math.round(ms / 1000)} s` : ago(ms / 1000));

function protectionBlock(title, id, head, rows, empty, wide = false) {
  const body = rows.length
    ? `<tr>${head.map((h) => `<th>${h}</th>`).join("")}</tr>${rows.join("")}`
    : `<tr><td class="empty">${esc(empty)}</td></tr>`;
  return `<div class="block${wide ? " wide" : ""}"><h3>${title}</h3><div class="scroll"><table id="${id}" class="grid">${body}</table></div></div>`;
}

function renderProtection(p) {
  $("protection-where").textContent =
    `(${p.region}: backups, point-in-time recovery, restores, exports and imports; objects in ${p.objects.store}, bucket ${p.objects.bucket})`;
  const b = p.backups;
  const backupRows = b.recent.map((x) => `<tr data-backup="${esc(x.arn)}" title="${esc(x.arn)}">
    <td>${esc(utc(x.created_ms))}</td><td>${esc(x.table)}</td><td><b>${esc(x.name)}</b></td>${statusCell(x.status)}
    <td class="num">${esc(plural(x.items, "item"))}</td><td class="num">${esc(bytes(x.size_bytes))}</td></tr>`);
  const more = b.count > b.recent.length ? ` <span class="muted">(newest ${b.recent.length} of ${b.count})</span>` : "";
  const pitrRows = p.pitr.map((t) => {
    if (!t.enabled) return `<tr data-pitr="${esc(t.table)}"><td>${esc(t.table)}</td><td class="status muted">off</td><td class="empty">–</td></tr>`;
    const win = t.earliest_ms == null
      ? `<td class="empty">first snapshot being taken</td>`
      : `<td title="${esc(span(t.latest_ms - t.earliest_ms))} restorable, to the second">${esc(utc(t.earliest_ms))} → ${esc(utc(t.latest_ms))}</td>`;
    return `<tr data-pitr="${esc(t.table)}"><td>${esc(t.table)}</td><td class="status ok">on · ${esc(plural(t.period_days, "day"))}</td>${win}</tr>`;
  });
  const restoreRows = p.restores.map((r) => {
    const source = r.source_backup_arn
      ? `backup ${esc(r.source_backup_arn.split("/backup/")[1] || r.source_backup_arn)}`
      : `${esc((r.source_table_arn || "").split(":table/")[1] || r.source_table_arn)} at ${esc(utc(r.restore_ms))}`;
    const status = r.in_progress ? "RESTORING" : r.status;
    return `<tr data-restore="${esc(r.table)}"><td><b>${esc(r.table)}</b></td><td>${source}</td>${statusCell(status)}
      <td class="num">${r.items == null ? "–" : esc(plural(r.items, "item"))}</td></tr>`;
  });
  const where = (j) => `s3://${esc(j.bucket || "?")}/${esc(j.prefix || "")}`;
  // the lines an import could not take, and why: an object of the region's bucket
  const report = (j) => (j.error_report ? ` title="error report: s3://${esc(j.error_report.bucket)}/${esc(j.error_report.key)}"` : "");
  const failure = (j) => (j.failure_code || j.failure_message ? ` title="${esc([j.failure_code, j.failure_message].filter(Boolean).join(": "))}"` : "");
  const exportRows = p.exports.recent.map((j) => `<tr data-export="${esc(j.arn)}"${failure(j)}>
    <td>${esc(utc(j.start == null ? null : j.start * 1000))}</td><td>${esc(j.table)}</td>
    <td>${esc(j.type === "INCREMENTAL_EXPORT" ? "incremental" : "full")} · ${esc(j.format)}</td>${statusCell(j.status)}
    <td class="num">${j.items == null ? "–" : esc(plural(j.items, "item"))}</td><td>${where(j)}</td></tr>`);
  const importRows = p.imports.recent.map((j) => `<tr data-import="${esc(j.arn)}"${failure(j)}>
    <td>${esc(utc(j.start == null ? null : j.start * 1000))}</td><td>${esc(j.table)}</td><td>${esc(j.format)}</td>${statusCell(j.status)}
    <td class="num">${esc((j.imported ?? 0).toLocaleString("en"))} / ${esc((j.processed ?? 0).toLocaleString("en"))}</td>
    <td class="num${j.errors ? " warn" : ""}"${report(j)}>${esc((j.errors ?? 0).toLocaleString("en"))}</td><td>${where(j)}</td></tr>`);
  $("protection").innerHTML = [
    protectionBlock(`Backups${more}`, "backups", ["created (UTC)", "table", "name", "status", "items", "size"], backupRows, "no backups"),
    protectionBlock("Point-in-time recovery", "pitr", ["table", "PITR", "restorable window (UTC)"], pitrRows, "no tables"),
    protectionBlock("Restores", "restores", ["table", "from", "status", "items"], restoreRows, "no restored tables"),
    protectionBlock(`Exports${p.exports.running ? ` <span class="warn">(${p.exports.running} running)</span>` : ""}`, "exports",
      ["started (UTC)", "table", "kind", "status", "items", "to"], exportRows, "no exports", true),
    protectionBlock(`Imports${p.imports.running ? ` <span class="warn">(${p.imports.running} running)</span>` : ""}`, "imports",
      ["started (UTC)", "table", "format", "status", "imported / read", "errors", "from"], importRows, "no imports", true),
  ].join("");
}

async function pollProtection() {
  try {
    const resp = await fetch("/v1/protection", { cache: "no-store" });
    if (!resp.ok) throw new Error(`HTTP ${resp.status}`);
    renderProtection(await resp.json());
  } catch (err) {
    // an older region (404), or --no-public-status (403): say so, keep the rest of the page
    $("protection").innerHTML = `<div class="empty">cannot read /v1/protection (${esc(err.message)})</div>`;
  } finally {
    setTimeout(pollProtection, PROTECTION_POLL_MS);
  }
}

poll();
pollProtection();
