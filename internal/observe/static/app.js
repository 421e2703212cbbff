// asf dashboard: polls api/state every second and redraws. No dependencies.
"use strict";

const COLORS = ["#4fb3ff", "#4cc38a", "#f0b429", "#c77dff", "#ff8a5b", "#5be0e0", "#e05b9c", "#a0c94f"];
// A ring member whose computation took longer than STRAGGLER times the ring's
// median is highlighted. Computation, not step time: in a synchronous ring
// every member's step lasts as long as the slowest one's.
const STRAGGLER = 1.5;
const $ = (id) => document.getElementById(id);

function fmtDur(s) {
  if (!isFinite(s) || s < 0) return "-";
  if (s < 1) return (s * 1000).toFixed(1) + " ms";
  if (s < 120) return s.toFixed(1) + " s";
  if (s < 7200) return Math.floor(s / 60) + " min " + Math.round(s % 60) + " s";
  return Math.floor(s / 3600) + " h " + Math.round((s % 3600) / 60) + " min";
}
function fmtBytes(b) {
  if (!b) return "-";
  const u = ["B", "kB", "MB", "GB"];
  let i = 0;
  while (b >= 1000 && i < u.length - 1) { b /= 1000; i++; }
  return b.toFixed(i ? 1 : 0) + " " + u[i];
}
const pct = (v) => (100 * v).toFixed(2) + "%";
const ms = (s) => (s > 0 ? (1000 * s).toFixed(1) + " ms" : "-");

function median(xs) {
  const a = xs.filter((x) => x > 0).sort((p, q) => p - q);
  if (!a.length) return 0;
  const n = a.length;
  return n % 2 ? a[(n - 1) / 2] : (a[n / 2 - 1] + a[n / 2]) / 2;
}

function el(tag, attrs, ...kids) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k === "class") e.className = v; else e.setAttribute(k, v);
  }
  for (const k of kids) e.append(k instanceof Node ? k : document.createTextNode(String(k)));
  return e;
}

function fillTable(id, rows, cols) {
  const body = $(id).tBodies[0];
  body.replaceChildren();
  if (!rows.length) {
    body.append(el("tr", {}, el("td", { colspan: String(cols), class: "empty" }, "none yet")));
    return;
  }
  for (const r of rows) body.append(r);
}

// drawChart plots series [{pts: [[x, y]...], color}] on a canvas with axes.
function drawChart(canvas, series, yfmt, opts) {
  const dpr = window.devicePixelRatio || 1;
  const w = canvas.clientWidth, h = canvas.clientHeight;
  if (canvas.width !== Math.round(w * dpr) || canvas.height !== Math.round(h * dpr)) {
    canvas.width = Math.round(w * dpr);
    canvas.height = Math.round(h * dpr);
  }
  const g = canvas.getContext("2d");
  g.setTransform(dpr, 0, 0, dpr, 0, 0);
  g.clearRect(0, 0, w, h);
  const all = series.flatMap((s) => s.pts).filter((p) => isFinite(p[1]));
  g.font = "11px system-ui, sans-serif";
  g.fillStyle = "#8896a4";
  if (!all.length) { g.fillText("no steps yet", 10, h / 2); return; }
  let x0 = Math.min(...all.map((p) => p[0])), x1 = Math.max(...all.map((p) => p[0]));
  let y0 = Math.min(...all.map((p) => p[1])), y1 = Math.max(...all.map((p) => p[1]));
  if (opts && opts.zero) y0 = Math.min(0, y0);
  if (opts && opts.max !== undefined) y1 = Math.max(y1, opts.max), y0 = Math.min(y0, opts.min ?? y0);
  if (x1 === x0) x1 = x0 + 1;
  if (y1 === y0) { y1 += Math.abs(y1) * 0.1 || 1; y0 -= Math.abs(y0) * 0.1; }
  const L = 54, R = 8, T = 8, B = 20;
  const X = (x) => L + ((x - x0) / (x1 - x0)) * (w - L - R);
  const Y = (y) => T + (1 - (y - y0) / (y1 - y0)) * (h - T - B);
  g.strokeStyle = "#2a3540";
  g.lineWidth = 1;
  for (let i = 0; i <= 4; i++) {
    const y = y0 + ((y1 - y0) * i) / 4;
    g.beginPath(); g.moveTo(L, Y(y)); g.lineTo(w - R, Y(y)); g.stroke();
    g.fillText(yfmt(y), 4, Y(y) + 4);
  }
  g.fillText("step " + Math.round(x0), L, h - 5);
  const last = "step " + Math.round(x1);
  g.fillText(last, w - R - g.measureText(last).width, h - 5);
  for (const s of series) {
    if (!s.pts.length) continue;
    g.strokeStyle = s.color;
    g.lineWidth = 1.5;
    g.beginPath();
    s.pts.forEach((p, i) => (i ? g.lineTo(X(p[0]), Y(p[1])) : g.moveTo(X(p[0]), Y(p[1]))));
    g.stroke();
  }
}

// smooth returns the exponential moving average of pts (the per-step values are noisy).
function smooth(pts, a) {
  let m;
  return pts.map(([x, y]) => [x, (m = m === undefined ? y : a * y + (1 - a) * m)]);
}

function drawRing(svg, ring, members, slow) {
  svg.replaceChildren();
  const ns = "http://www.w3.org/2000/svg";
  const mk = (tag, a) => { const e = document.createElementNS(ns, tag); for (const k in a) e.setAttribute(k, a[k]); return e; };
  const n = ring.length, cx = 120, cy = 120, r = n > 1 ? 80 : 0;
  if (!n) {
    const t = mk("text", { x: cx, y: cy, "text-anchor": "middle", fill: "#8896a4", "font-size": 12 });
    t.textContent = "no ring yet";
    svg.append(t);
    return;
  }
  const pos = ring.map((_, i) => [cx + r * Math.sin((2 * Math.PI * i) / n), cy - r * Math.cos((2 * Math.PI * i) / n)]);
  if (n > 1) svg.append(mk("circle", { cx, cy, r, fill: "none", stroke: "#2a3540", "stroke-width": 2 }));
  ring.forEach((id, i) => {
    const [x, y] = pos[i];
    const bad = slow.has(id);
    svg.append(mk("circle", { cx: x, cy: y, r: 20, fill: bad ? "#7a1d1d" : "#1d4d7a", stroke: bad ? "#ef5b5b" : "#4fb3ff", "stroke-width": 2 }));
    const t = mk("text", { x, y: y + 4, "text-anchor": "middle", fill: "#d8e0e8", "font-size": 11 });
    t.textContent = id.length > 8 ? id.slice(0, 7) + "…" : id;
    svg.append(t);
    const m = members.find((mm) => mm.id === id);
    if (m && m.last_step > 0) {
      const lt = mk("text", { x, y: y + 34, "text-anchor": "middle", fill: "#8896a4", "font-size": 10 });
      lt.textContent = ms(m.last_step);
      svg.append(lt);
    }
  });
}

function render(s) {
  $("job").textContent = `${s.job} · ${s.spec} on ${s.dataset} · batch ${s.batch}`;
  const ph = $("phase");
  ph.textContent = s.phase || "?";
  ph.className = "badge " + (s.phase || "");
  document.title = `asf · ${s.job} · step ${s.step}/${s.total_steps}`;
  $("step").textContent = s.step;
  $("total").textContent = s.total_steps;
  $("epoch").textContent = s.epochs ? `${Math.min(s.epoch + 1, s.epochs)}/${s.epochs}` : "-";
  $("generation").textContent = s.generation;
  $("bar-fill").style.width = s.total_steps ? (100 * s.step) / s.total_steps + "%" : "0";
  const steps = s.steps || [];
  const sps = s.samples_per_sec > 0 ? s.samples_per_sec : 0;
  const left = (s.total_steps - s.step) * s.batch;
  $("eta").textContent = s.phase === "done" ? "done" : sps > 0 ? fmtDur(left / sps) : "-";
  $("loss").textContent = s.loss ? s.loss.toFixed(4) : "-";
  $("acc").textContent = s.accuracy ? pct(s.accuracy) : "-";
  $("testacc").textContent = s.has_test ? pct(s.test_accuracy) : "-";
  $("sps").textContent = sps ? Math.round(sps).toLocaleString() : "-";
  $("steptime").textContent = steps.length ? ms(steps[steps.length - 1].step_time) : "-";
  $("reduce").textContent = fmtBytes(s.reduce_bytes_per_step);

  const members = s.members || [];
  const med = median(members.filter((m) => m.rank >= 0).map((m) => m.last_compute));
  const slow = new Set(members.filter((m) => m.rank >= 0 && med > 0 && members.length > 1 && m.last_compute > STRAGGLER * med).map((m) => m.id));
  $("median").textContent = med ? `· median compute ${ms(med)}; over ${STRAGGLER}× is a straggler` : "";
  const maxCompute = Math.max(...members.map((m) => m.last_compute), 1e-9);
  fillTable("members", members.map((m) => {
    const name = el("td", {}, m.id);
    if (slow.has(m.id)) name.append(el("span", { class: "tag" }, (m.last_compute / med).toFixed(1) + "× slower"));
    return el("tr", { class: slow.has(m.id) ? "straggler" : "", "data-id": m.id }, name, el("td", {}, m.state),
      el("td", {}, m.rank >= 0 ? m.rank : "-"), el("td", {}, m.addr || "-"), el("td", {}, m.steps),
      el("td", {}, ms(m.last_step)), el("td", {}, ms(m.mean_step)), el("td", {}, ms(m.last_compute)),
      el("td", {}, el("span", { class: "tbar", style: `width:${Math.round((80 * m.last_compute) / maxCompute)}px` })),
      el("td", {}, ms(m.last_reduce)));
  }), 10);
  drawRing($("ring"), s.ring || [], members, slow);

  const pts = (f) => steps.map((p) => [p.step, f(p)]);
  drawChart($("chart-loss"), [{ pts: pts((p) => p.loss), color: "#2a5470" }, { pts: smooth(pts((p) => p.loss), 0.1), color: "#4fb3ff" }],
    (v) => v.toFixed(3), { zero: true });
  const accSeries = [{ pts: pts((p) => p.accuracy), color: "#23573f" }, { pts: smooth(pts((p) => p.accuracy), 0.1), color: "#4cc38a" }];
  const ep = (s.epochs_done || []).filter((e) => e.has_test);
  if (ep.length) accSeries.push({ pts: ep.map((e) => [(e.epoch + 1) * s.steps_per_epoch, e.test_accuracy]), color: "#f0b429" });
  drawChart($("chart-acc"), accSeries, (v) => (100 * v).toFixed(0) + "%", { min: 0, max: 1 });
  // Wall-clock throughput between consecutive points (the points may be thinned).
  const tput = [];
  for (let i = 1; i < steps.length; i++) {
    const dt = (Date.parse(steps[i].time) - Date.parse(steps[i - 1].time)) / 1000;
    if (dt > 0) tput.push([steps[i].step, (s.batch * (steps[i].step - steps[i - 1].step)) / dt]);
  }
  drawChart($("chart-sps"), [{ pts: tput, color: "#2f2540" }, { pts: smooth(tput, 0.2), color: "#c77dff" }],
    (v) => Math.round(v).toString(), { zero: true });
  const ids = [...new Set(steps.flatMap((p) => Object.keys(p.worker_times || {})))].sort();
  drawChart($("chart-step"), ids.map((id, i) => ({
    pts: steps.filter((p) => p.worker_times && id in p.worker_times).map((p) => [p.step, 1000 * p.worker_times[id]]),
    color: COLORS[i % COLORS.length],
  })), (v) => v.toFixed(0), { zero: true });
  $("legend-step").replaceChildren(...ids.map((id, i) => el("span", {}, el("i", { style: `background:${COLORS[i % COLORS.length]}` }), id)));

  const now = Date.parse(s.time);
  fillTable("generations", (s.generations || []).slice().reverse().slice(0, 20).map((g) =>
    el("tr", {}, el("td", {}, g.generation), el("td", {}, g.step), el("td", {}, fmtDur((now - Date.parse(g.time)) / 1000) + " ago"),
      el("td", {}, (g.ring || []).join(" → ")), el("td", {}, g.reason || ""))), 5);
  fillTable("checkpoints", (s.checkpoints || []).slice().reverse().map((c) =>
    el("tr", {}, el("td", {}, c.id), el("td", {}, c.step), el("td", {}, c.epoch + 1),
      el("td", {}, fmtDur((now - Date.parse(c.saved)) / 1000)), el("td", {}, fmtBytes(c.bytes)))), 5);
  fillTable("epochs", (s.epochs_done || []).map((e) =>
    el("tr", {}, el("td", {}, e.epoch + 1), el("td", {}, e.loss.toFixed(4)), el("td", {}, pct(e.accuracy)),
      el("td", {}, e.has_test ? pct(e.test_accuracy) : "-"), el("td", {}, Math.round(e.samples_per_sec)), el("td", {}, fmtDur(e.seconds)))), 6);
}

async function poll() {
  const c = $("conn");
  try {
    const r = await fetch("api/state", { cache: "no-store" });
    if (!r.ok) throw new Error(r.status + " " + r.statusText);
    render(await r.json());
    c.textContent = "live · " + new Date().toLocaleTimeString();
    c.className = "conn";
  } catch (e) {
    c.textContent = "coordinator unreachable (" + e.message + "); retrying";
    c.className = "conn lost";
  }
  setTimeout(poll, 1000);
}
poll();
