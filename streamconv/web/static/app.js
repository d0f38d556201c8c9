// streamconv web: one WebSocket; binary messages are frames, text messages JSON.
"use strict";
const state = { frames: {}, samples: 0, alive: null, latencies: [] };
window.streamconv = state;
const KEEP = 600;
const series = {};   // stream -> {raw: [], smoothed: [], truth: [], other: {}}
const charts = {};
const dec = new TextDecoder();

function frameImg(topic) {
  let img = document.getElementById("img-" + topic);
  if (!img) {
    const pane = document.createElement("div");
    pane.className = "pane";
    const h = document.createElement("h3");
    h.textContent = topic;
    img = document.createElement("img");
    img.id = "img-" + topic;
    img.dataset.topic = topic;
    img.className = "frame";
    pane.append(h, img);
    document.getElementById("frames").append(pane);
  }
  return img;
}

function onFrame(buf) {
  if (state.paused) return;  // a test reading the shown frame back holds the images still
  const view = new DataView(buf);
  const n = view.getUint32(0);
  const head = JSON.parse(dec.decode(new Uint8Array(buf, 4, n)));
  const blob = new Blob([new Uint8Array(buf, 4 + n)], { type: "image/jpeg" });
  const img = frameImg(head.topic);
  const url = URL.createObjectURL(blob);
  img.onload = () => {
    URL.revokeObjectURL(url);
    img.dataset.seq = head.seq;
    state.frames[head.topic] = { seq: head.seq, t_capture_ns: head.t_capture_ns };
    state.latencies.push(Date.now() - head.t_capture_ns / 1e6);
    if (state.latencies.length > 1000) state.latencies.shift();
  };
  img.src = url;
}

function onSamples(topics) {
  for (const [topic, values] of Object.entries(topics)) {
    const [stream, out] = topic.split("/");
    const s = series[stream] || (series[stream] = {});
    const arr = s[out] || (s[out] = []);
    for (const v of values) arr.push(v);
    if (arr.length > KEEP) arr.splice(0, arr.length - KEEP);
    state.samples += values.length;
  }
  document.body.dataset.samples = state.samples;
  for (const stream of Object.keys(series)) draw(stream);
}

function draw(stream) {
  const s = series[stream];
  const names = Object.keys(s).sort((a, b) => order(a) - order(b));
  const len = Math.max(...names.map((k) => s[k].length));
  const xs = Array.from({ length: len }, (_, i) => i - len + 1);
  const data = [xs, ...names.map((k) => Array(len - s[k].length).fill(null).concat(s[k]))];
  let c = charts[stream];
  if (!c || c.names.join() !== names.join()) {
    if (c) c.plot.destroy();
    let pane = document.getElementById("chart-" + stream);
    if (!pane) {
      pane = document.createElement("div");
      pane.className = "pane";
      pane.id = "chart-" + stream;
      const h = document.createElement("h3");
      h.textContent = stream + " (samples)";
      pane.append(h);
      document.getElementById("charts").append(pane);
    }
    const colours = { raw: "#888", smoothed: "#4af", truth: "#fa4" };
    const opts = {
      width: 520, height: 240, scales: { x: { time: false } },
      series: [{ label: "sample" }, ...names.map((k) => ({ label: k, stroke: colours[k] || "#6c6", width: 1 }))],
    };
    c = charts[stream] = { names, plot: new uPlot(opts, data, pane) };
  } else {
    c.plot.setData(data);
  }
}

function order(name) {
  return { raw: 0, smoothed: 1, truth: 2 }[name] ?? 3;
}

function fmt(v, digits) {
  return v === null || v === undefined ? "-" : Number(v).toFixed(digits);
}

// _stats as a table: one row per topic (rate, latency p50/p99, messages, drops, malformed, errors).
function showStats(meta, msg) {
  const table = document.createElement("table");
  table.id = "stats-table";
  const head = table.createTHead().insertRow();
  for (const h of ["topic", "rate /s", "p50 ms", "p99 ms", "messages", "drops", "malformed", "errors"]) {
    const th = document.createElement("th");
    th.textContent = h;
    head.append(th);
  }
  const body = table.createTBody();
  for (const [topic, t] of Object.entries(meta.topics || {}).sort()) {
    const row = body.insertRow();
    row.dataset.topic = topic;
    const cells = [topic, fmt(t.rate_hz, 1), fmt(t.latency_p50_ms, 2), fmt(t.latency_p99_ms, 2),
                   t.count, t.drops, t.malformed, t.errors];
    for (const c of cells) row.insertCell().textContent = c;
  }
  const foot = document.createElement("div");
  foot.className = "stats-foot";
  foot.textContent = `up ${fmt(meta.uptime_s, 0)} s · subscribers ${meta.subscribers ?? "-"} · ` +
    `malformed ${meta.malformed ?? 0} · drops ${meta.drops ?? 0} · gaps seen here ${msg.gaps} · ` +
    `JPEG encodes ${msg.encoded}`;
  document.getElementById("stats").replaceChildren(table, foot);
}

function setAlive(alive) {
  state.alive = alive;
  document.body.dataset.alive = alive ? "yes" : "no";
  document.getElementById("banner").classList.toggle("shown", !alive);
  document.getElementById("frames").classList.toggle("stale", !alive);
  if (alive) refreshTopics();
}

function connect() {
  const ws = new WebSocket((location.protocol === "https:" ? "wss://" : "ws://") + location.host + "/ws");
  ws.binaryType = "arraybuffer";
  ws.onopen = () => { document.getElementById("conn").textContent = "connected"; };
  ws.onmessage = (ev) => {
    if (typeof ev.data !== "string") return onFrame(ev.data);
    const msg = JSON.parse(ev.data);
    if (msg.type === "samples") onSamples(msg.topics);
    else if (msg.type === "status") setAlive(msg.alive);
    else if (msg.type === "stats") showStats(msg.stats.meta || {}, msg);
  };
  ws.onclose = () => {
    document.getElementById("conn").textContent = "disconnected from the viewer; retrying";
    setAlive(false);
    setTimeout(connect, 1000);
  };
}

async function refreshTopics() {
  try {
    const r = await fetch("/api/status");
    const st = (await r.json()).status || {};
    const sel = document.getElementById("ctl-topic");
    const current = sel.value;
    const topics = [];
    for (const [stream, info] of Object.entries(st.streams || {})) {
      for (const out of Object.keys(info.outputs || {})) topics.push(stream + "/" + out);
    }
    sel.replaceChildren(...topics.map((t) => new Option(t, t)));
    if (topics.includes(current)) sel.value = current;
  } catch (e) { /* the daemon is away; retried when it returns */ }
}

document.getElementById("ctl").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const topic = document.getElementById("ctl-topic").value;
  const weights = document.getElementById("ctl-weights").value.trim();
  let stages;
  if (weights) {
    stages = { kind: "causal_fir", weights: weights.split(/[\s,]+/).map(Number) };
  } else {
    let kernel = document.getElementById("ctl-kernel").value.trim();
    try { kernel = JSON.parse(kernel); } catch (e) { /* a name */ }
    stages = { kind: "kernel2d", kernel, padding: document.getElementById("ctl-padding").value };
    const size = document.getElementById("ctl-size").value.trim();
    if (size) stages.params = { size: Number(size) };
  }
  const r = await fetch("/api/set", { method: "POST", headers: { "Content-Type": "application/json" },
                                      body: JSON.stringify({ topic, stages }) });
  const reply = await r.json();
  document.getElementById("reply").textContent = reply.ok ? "applied to " + topic : "error: " + reply.error;
  document.getElementById("reply").dataset.ok = reply.ok ? "yes" : "no";
});

connect();
refreshTopics();
