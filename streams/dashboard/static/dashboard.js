// The dashboard: polls /dashboard/data and draws it. Text goes in with textContent only:
// account names, owners and topics come from input events and are never trusted as HTML.
"use strict";

const REFRESH_MS = 5000;
const charts = {};

function pick(obj, path) {
  return path.split(".").reduce((o, k) => (o == null ? undefined : o[k]), obj);
}

function format(value, kind) {
  if (value === null || value === undefined) return "–";
  switch (kind) {
    case "money": return value.toLocaleString("en-US", { maximumFractionDigits: 0 });
    case "percent": return (value * 100).toFixed(1) + "%";
    case "days": return value.toFixed(1) + " d";
    case "ratio": return value.toFixed(2) + "x";
    case "decimal": return value.toFixed(2);
    case "minutes": return value.toFixed(1) + " min";
    default: return value.toLocaleString("en-US");
  }
}

function cell(row, text, className) {
  const td = document.createElement("td");
  td.textContent = text;
  if (className) td.className = className;
  row.appendChild(td);
  return td;
}

function fillTable(id, rows, columns) {
  const body = document.querySelector(`#${id} tbody`);
  body.replaceChildren();
  for (const item of rows) {
    const tr = document.createElement("tr");
    for (const column of columns) {
      const [text, className] = column(item);
      cell(tr, text, className);
    }
    body.appendChild(tr);
  }
}

function drawChart(id, type, labels, datasets, options = {}) {
  if (!charts[id]) {
    charts[id] = new Chart(document.getElementById(id), {
      type,
      data: { labels, datasets },
      options: { animation: false, maintainAspectRatio: false, ...options },
    });
    return;
  }
  const chart = charts[id];
  chart.data.labels = labels;
  datasets.forEach((d, i) => { chart.data.datasets[i].data = d.data; });
  chart.update();
}

function evidence(alert) {
  if (!alert) return "";
  const parts = [];
  if (alert.kind === "intent") {
    parts.push(alert.topics.map((t) => `${t.topic} ${t.score}`).join(", "));
  } else {
    parts.push(`${alert.score} pts in 7d vs ${alert.baseline.toFixed(1)}/wk`);
  }
  if (alert.ratio) parts.push(`${alert.ratio.toFixed(1)}x`);
  parts.push(`${alert.engaged_contacts} contacts`);
  const channels = alert.top_channels.map((c) => c.channel).join("/");
  if (channels) parts.push(channels);
  return parts.join(" · ");
}

// The lift with its interval, or the report's note saying why there is none: never a
// number the report does not give.
function lift(alerts) {
  if (alerts.lift === null) return `Lift: ${alerts.lift_note}`;
  const [low, high] = alerts.lift_ci_95.map((v) => format(v, "ratio"));
  return `Lift: ${format(alerts.lift, "ratio")} (95% interval ${low} to ${high})`;
}

function render(data) {
  const kpis = data.kpis;
  document.getElementById("as-of").textContent = `as of ${kpis.as_of}`;
  document.getElementById("as-of").dataset.value = kpis.as_of;
  for (const shown of document.querySelectorAll("[data-kpi]")) {  // tiles and table cells
    const value = pick(kpis, shown.dataset.kpi);
    shown.dataset.value = JSON.stringify(value === undefined ? null : value);
    (shown.querySelector("p") || shown).textContent = format(value, shown.dataset.format);
  }
  document.getElementById("alerts-lift").textContent = lift(kpis.targets.alerts);
  const tiers = ["1", "2", "3", "0"];
  drawChart("chart-tiers", "bar", ["Tier 1", "Tier 2", "Tier 3", "Untiered"],
    [{ label: "accounts", data: tiers.map((t) => data.tiers[t] || 0), backgroundColor: ["#1e7d32", "#3d6fb6", "#b26a00", "#9aa3b5"] }],
    { plugins: { legend: { display: false } } });
  const journey = kpis.overall.journey;
  const stages = Object.keys(journey.accounts_by_stage).reverse();  // customer on top
  drawChart("chart-journey", "bar", stages, [
    { label: "at this stage now", data: stages.map((s) => journey.accounts_by_stage[s]), backgroundColor: "#3d6fb6" },
    { label: "ever reached it", data: stages.map((s) => journey.reached[s] ?? null), backgroundColor: "#9aa3b5" },
  ], { indexAxis: "y" });
  const days = Object.keys(kpis.daily);
  const series = (name) => days.map((d) => kpis.daily[d][name]);
  drawChart("chart-engagement", "line", days, [
    { label: "engaged accounts", data: series("engaged_accounts"), borderColor: "#3d6fb6" },
    { label: "engagement points", data: series("engagement_points"), borderColor: "#1e7d32", yAxisID: "y1" },
  ], { scales: { y1: { position: "right", grid: { drawOnChartArea: false } } } });
  drawChart("chart-pipeline", "bar", days, [
    { label: "opportunities created", data: series("opportunities_created"), backgroundColor: "#3d6fb6" },
    { label: "won revenue", data: series("won_revenue"), backgroundColor: "#1e7d32", yAxisID: "y1" },
  ], { scales: { y1: { position: "right", grid: { drawOnChartArea: false } } } });
  drawChart("chart-winrate", "line", days, [
    { label: "win rate", data: series("win_rate"), borderColor: "#b26a00", spanGaps: true },
  ], { scales: { y: { min: 0, max: 1 } } });
  drawChart("chart-people", "line", days, [
    { label: "engaged contacts", data: days.map((d) => kpis.daily[d].engaged_contacts_7d.targets), borderColor: "#1e7d32", spanGaps: true },
  ]);
  fillTable("campaigns", Object.entries(kpis.campaigns), [
    ([name]) => [name],
    ([, c]) => [format(c.accounts_touched)],
    ([, c]) => [format(c.engaged_contacts)],
    ([, c]) => [format(c.spend, "money")],
    ([, c]) => [format(c.opportunities_influenced)],
    ([, c]) => [format(c.pipeline_influenced, "money")],
    ([, c]) => [format(c.won_revenue_influenced, "money")],
    ([, c]) => [format(c.opportunities_sourced)],
    ([, c]) => [format(c.pipeline_sourced, "money")],
    ([, c]) => [format(c.roi, "ratio")],
  ]);
  fillTable("surging", data.surging, [
    (s) => [s.name],
    (s) => [String(s.tier)],
    (s) => [s.owner || ""],
    (s) => [s.kinds],
    (s) => [s.strength.toFixed(2)],
    (s) => [evidence(s.alert)],
  ]);
  fillTable("changes", data.changes, [
    (c) => [c.changed_at.replace("T", " ").replace(/\.\d+Z|Z/, "")],
    (c) => [c.account_id],
    (c) => [`${c.previous_tier} → ${c.tier}`],
    (c) => [c.rule],
  ]);
  const when = (ms) => new Date(ms).toISOString().slice(0, 16).replace("T", " ");
  document.getElementById("unmatched-error").textContent = data.unmatched.error || "";
  fillTable("unmatched", data.unmatched.domains, [
    (d) => [d.domain],
    (d) => [format(d.events)],
    (d) => [format(d.people)],
    (d) => [when(d.first_seen)],
    (d) => [when(d.last_seen)],
  ]);
  document.getElementById("lag-error").textContent = data.lag.error || "";
  fillTable("lag", data.lag.partitions.filter((p) => p.highwater > 0), [
    (p) => [p.topic],
    (p) => [String(p.partition)],
    (p) => [p.committed === null ? "–" : String(p.committed)],
    (p) => [String(p.highwater)],
    (p) => [String(p.lag)],
    (p) => [p.status, `status-${p.status}`],
  ]);
  document.body.dataset.loaded = "true";
}

async function refresh() {
  try {
    const response = await fetch("/dashboard/data", { cache: "no-store" });
    if (!response.ok) throw new Error(`HTTP ${response.status}`);
    render(await response.json());
    document.getElementById("status").textContent = "";
  } catch (error) {
    document.getElementById("status").textContent = `refresh failed: ${error.message}`;
  }
  setTimeout(refresh, REFRESH_MS);
}

refresh();
