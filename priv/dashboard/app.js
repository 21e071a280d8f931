// The dashboard: figures polled from /status, kills streamed from /api/v1/kills/stream, narrowed
// by the filter box (rules in the URL form, `|` between rules).
"use strict";

const MAX_KILLS = 50;
const figures = (name) => document.querySelector(`[data-figure="${name}"]`);
const number = new Intl.NumberFormat();

function isk(value) {
  if (typeof value !== "number") return "";
  const units = [[1e12, "T"], [1e9, "B"], [1e6, "M"], [1e3, "K"]];
  for (const [size, unit] of units) if (value >= size) return `${(value / size).toFixed(1)}${unit} ISK`;
  return `${Math.round(value)} ISK`;
}

function duration(seconds) {
  const d = Math.floor(seconds / 86400), h = Math.floor((seconds % 86400) / 3600), m = Math.floor((seconds % 3600) / 60);
  return d ? `${d}d ${h}h` : h ? `${h}h ${m}m` : `${m}m`;
}

async function refresh() {
  try {
    const res = await fetch("/status", { headers: { accept: "application/json" } });
    const s = await res.json();
    const m = s.metrics;
    figures("stored").textContent = number.format(s.summary.killmails_stored);
    figures("received").textContent = number.format(m.processing.kills_received);
    figures("lag").textContent = `${m.processing.lag_seconds}s`;
    figures("websocket").textContent = number.format(m.websocket.active_connections);
    figures("sse").textContent = number.format(m.sse.active_connections);
    figures("webhooks").textContent = number.format(m.webhooks.delivered);
    figures("cache").textContent = `${Math.round(s.summary.cache_hit_rate * 100)}%`;
    figures("uptime").textContent = duration(m.system.uptime_seconds);
  } catch (e) {
    // The next poll tries again.
  }
  try {
    const res = await fetch("/health");
    const report = await res.json();
    const health = document.getElementById("health");
    const ok = res.ok && report.status === "ok";
    health.textContent = ok ? "healthy" : report.status === "error" ? "unhealthy" : "degraded";
    health.className = `pill ${ok ? "ok" : "bad"}`;
    // The feed's own state: a live stream with no kills because zKillboard is down says so.
    const feed = (report.details && report.details.feed) || {};
    const notice = document.getElementById("feed");
    const feedOk = feed.status === "ok" || feed.status === "disabled";
    notice.hidden = feedOk;
    notice.textContent = feedOk ? "" : `Kill feed ${feed.status}: ${feed.message || "no answer"}`;
    feedDown = !feedOk;
    if (streamOpen) showLive();
  } catch (e) {
    // The next poll tries again.
  }
}

function text(tag, className, content) {
  const el = document.createElement(tag);
  el.className = className;
  el.textContent = content;
  return el;
}

/// "[CORP] <ALLY>", "Corporation Name", or nothing.
function organisation(party) {
  const corp = party.corporation_ticker ? `[${party.corporation_ticker}]` : party.corporation_name || "";
  const ally = party.alliance_ticker ? `<${party.alliance_ticker}>` : party.alliance_name || "";
  return [corp, ally].filter((x) => x).join(" ");
}

function show(kill) {
  const victim = kill.victim || {};
  const org = organisation(victim);
  const pilot = `${victim.character_name || "Unknown pilot"}${org ? " " + org : ""}`;
  const who = `${pilot} — ${victim.ship_name || "ship " + (victim.ship_type_id || "?")}`;
  const region = kill.region_name ? ` (${kill.region_name}${kill.space ? ", " + kill.space : ""})` : "";
  const attackers = kill.attacker_count || 0;
  const where = `${kill.solar_system_name || "System " + kill.system_id}${region} · ${attackers} ${attackers === 1 ? "attacker" : "attackers"}`;
  const link = document.createElement("a");
  link.className = "who";
  link.href = `https://zkillboard.com/kill/${kill.killmail_id}/`;
  link.target = "_blank";
  link.rel = "noopener";
  link.textContent = who;
  const item = document.createElement("li");
  item.dataset.killmailId = kill.killmail_id;
  item.append(
    link,
    text("span", "isk", isk(kill.zkb && kill.zkb.totalValue)),
    text("span", "where", where),
    text("span", "when", new Date(kill.kill_time).toLocaleTimeString()),
  );
  const list = document.getElementById("kills");
  list.prepend(item);
  while (list.children.length > MAX_KILLS) list.lastChild.remove();
  countKill(kill.kill_time);
}

// Kills per minute over the last hour: 60 bars, the newest on the right.
const perMinute = new Array(60).fill(0);
let chartMinute = Math.floor(Date.now() / 60000);

function slideChart() {
  const now = Math.floor(Date.now() / 60000);
  const moved = Math.min(60, now - chartMinute);
  for (let i = 0; i < moved; i++) { perMinute.shift(); perMinute.push(0); }
  chartMinute = now;
}

function countKill(time) {
  slideChart();
  const ago = Math.floor(Date.now() / 60000) - Math.floor(new Date(time).getTime() / 60000);
  if (ago >= 0 && ago < 60) perMinute[59 - ago] += 1;
  drawChart();
}

function drawChart() {
  const svg = document.getElementById("rate");
  const max = Math.max(1, ...perMinute);
  const bars = perMinute.map((n, i) => {
    const h = Math.round((n / max) * 38);
    return `<rect x="${i * 5}" y="${40 - h}" width="4" height="${h}"><title>${59 - i} min ago: ${n}</title></rect>`;
  });
  svg.innerHTML = bars.join("");
  const total = perMinute.reduce((a, b) => a + b, 0);
  document.getElementById("rate-total").textContent = `${total} in the last hour`;
}

/// The last hour's kills from the store, for the chart (the list keeps its own filter).
async function loadHour() {
  try {
    const res = await fetch("/api/v1/kills?since_hours=1&limit=1000");
    const body = await res.json();
    perMinute.fill(0);
    chartMinute = Math.floor(Date.now() / 60000);
    for (const kill of (body.data && body.data.kills) || []) {
      const ago = chartMinute - Math.floor(new Date(kill.kill_time).getTime() / 60000);
      if (ago >= 0 && ago < 60) perMinute[59 - ago] += 1;
    }
    drawChart();
  } catch (e) {
    // The next minute tries again.
  }
}

let source = null;
/// Whether the stream is open, and whether the feed behind it is down: an open stream with no
/// kills because zKillboard is unreachable must not look live.
let streamOpen = false;
let feedDown = false;

function showLive() {
  const badge = document.getElementById("stream");
  badge.textContent = feedDown ? "feed down" : "live";
  badge.className = `pill ${feedDown ? "bad" : "ok"}`;
}

/// `filter=a&filter=b` from the box's text: one rule per `|`.
function filterQuery(text) {
  const rules = text.split("|").map((r) => r.trim()).filter((r) => r.length > 0);
  return rules.map((r) => `filter=${encodeURIComponent(r)}`).join("&");
}

/// Shows the stored kills the filter matches, then follows live ones; a refused filter says why.
async function stream(query) {
  const badge = document.getElementById("stream");
  const error = document.getElementById("filter-error");
  if (source) source.close();
  const res = await fetch(`/api/v1/kills?limit=${MAX_KILLS}${query ? "&" + query : ""}`);
  const body = await res.json().catch(() => ({}));
  if (!res.ok) {
    error.hidden = false;
    error.textContent = `Filter refused: ${body.error || res.status}`;
    return;
  }
  error.hidden = true;
  document.getElementById("kills").replaceChildren();
  for (const kill of ((body.data && body.data.kills) || []).reverse()) show(kill);
  loadHour();
  source = new EventSource("/api/v1/kills/stream" + (query ? "?" + query : ""));
  source.onopen = () => { streamOpen = true; showLive(); };
  source.onerror = () => {
    streamOpen = false;
    badge.textContent = "reconnecting";
    badge.className = "pill bad";
  };
  source.onmessage = (event) => {
    let kill;
    try { kill = JSON.parse(event.data); } catch (e) { return; /* not a killmail */ }
    show(kill);
  };
}

document.getElementById("filter").addEventListener("submit", (event) => {
  event.preventDefault();
  const text = document.getElementById("filter-text").value;
  const query = filterQuery(text);
  history.replaceState(null, "", query ? `?${query}` : location.pathname);
  stream(query);
});

// A filter in the page's own URL (`/?filter=...`) is applied at load.
const initial = new URLSearchParams(location.search).getAll("filter");
document.getElementById("filter-text").value = initial.join(" | ");
refresh();
setInterval(refresh, 5000);
setInterval(() => { slideChart(); drawChart(); }, 60000);
stream(filterQuery(initial.join("|")));
