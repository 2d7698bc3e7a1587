// The Advisor tab. TensorBoard loads this module in its plugin iframe and calls render().
// Every string from the server goes in through textContent or a URL parameter, never as markup.

const state = { runs: [], sweep: [], selected: null, query: "", onlyProblems: false };

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === "class") node.className = v;
    else if (k === "text") node.textContent = v;
    else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
    else node.setAttribute(k, v);
  }
  for (const c of children) if (c !== null && c !== undefined) node.append(c);
  return node;
}

function badge(sev) {
  return el("span", { class: `badge ${sev || "ok"}`, text: sev || "ok" });
}

async function getJSON(path, params) {
  const q = params ? "?" + new URLSearchParams(params).toString() : "";
  const res = await fetch(path + q);
  const body = await res.json();
  if (!res.ok) throw new Error(body.error || res.statusText);
  return body;
}

function matches(row) {
  if (state.onlyProblems && !(row.severity === "critical" || row.severity === "warning")) return false;
  const q = state.query.trim().toLowerCase();
  if (!q) return true;
  return [row.run, ...row.conditions].some((s) => s.toLowerCase().includes(q));
}

function renderList() {
  const body = document.getElementById("run-rows");
  body.replaceChildren();
  for (const row of state.runs.filter(matches)) {
    const top = row.top;
    const tr = el(
      "tr",
      { class: `run-row sev-${row.severity || "ok"}${row.run === state.selected ? " selected" : ""}`, tabindex: "0" },
      el("td", {}, badge(row.severity)),
      el("td", { class: "run-name", text: row.run }),
      el("td", {}, top ? el("code", { class: "cond", text: top.condition }) : el("span", { class: "muted", text: "no findings" })),
      el("td", { class: "top-summary", text: top ? top.summary : "" }),
    );
    const open = () => selectRun(row.run);
    tr.addEventListener("click", open);
    tr.addEventListener("keydown", (ev) => { if (ev.key === "Enter") open(); });
    body.append(tr);
  }
  document.getElementById("shown").textContent = `${body.children.length} of ${state.runs.length} run(s) shown`;
}

function findingItem(f) {
  const head = el("div", { class: "f-head" },
    el("span", { class: "prio", text: String(f.priority) }), badge(f.severity),
    el("code", { class: "cond", text: f.condition }),
    el("span", { class: "muted", text: `confidence ${f.confidence.toFixed(2)}` }),
    f.onset ? el("span", { class: "onset", text: `onset steps ${f.onset}` }) : null);
  const li = el("li", { class: `finding sev-${f.severity}` }, head, el("p", { class: "summary", text: f.summary }));
  if (f.evidence.length) {
    const dl = el("dl", { class: "evidence" });
    for (const e of f.evidence) dl.append(el("div", {}, el("dt", { text: e.label }), el("dd", { text: e.text })));
    li.append(dl);
  }
  if (f.remedies.length) {
    const tb = el("tbody");
    for (const r of f.remedies) {
      tb.append(el("tr", {}, el("td", {}, el("code", { text: r.action })), el("td", {}, el("code", { text: r.params })),
        el("td", { class: `kind ${r.kind === "auto" ? "auto" : "manual"}`, text: r.kind }),
        el("td", { text: r.kind === "auto" ? r.applies : "—" }), el("td", { text: r.rationale })));
    }
    const head = el("tr", {}, ...["remedy", "params", "kind", "applies", "why"].map((h) => el("th", { text: h })));
    li.append(el("table", { class: "remedies" }, el("thead", {}, head), tb));
  }
  return li;
}

function renderDetail(run) {
  const pane = document.getElementById("detail");
  const parts = [
    el("h2", {}, badge(run.severity), " ", el("span", { class: "run-name", text: run.run })),
    el("p", { class: "muted", text: `steps ${run.steps} · ${run.series} series · ${run.points} points · workload ${run.workload}` }),
  ];
  if (run.signals.length) {
    parts.push(el("p", { class: "muted signals", text: "signals: " + run.signals.map((s) => `${s.role}: ${s.tag}`).join("  ·  ") }));
  }
  for (const n of run.notes) parts.push(el("p", { class: "note", text: `note: ${n}` }));
  const charts = el("div", { class: "charts" });
  for (const c of run.charts) {
    const src = "./chart?" + new URLSearchParams({ run: run.run, index: String(c.index) }).toString();
    charts.append(el("img", { class: c.index === 0 ? "chart big" : "chart small", src, alt: c.title }));
  }
  parts.push(charts);
  if (run.detail.length) parts.push(el("ol", { class: "findings" }, ...run.detail.map(findingItem)));
  else parts.push(el("p", { class: "healthy", text: "✓ no findings" }));
  for (const p of run.problems) parts.push(el("p", { class: "problem", text: `problem: ${p}` }));
  pane.replaceChildren(...parts);
}

async function selectRun(name) {
  state.selected = name;
  renderList();
  try {
    renderDetail(await getJSON("./run", { run: name }));
  } catch (err) {
    document.getElementById("detail").replaceChildren(el("p", { class: "problem", text: String(err.message || err) }));
  }
  document.body.dataset.ready = "1";
}

function renderSweep() {
  const box = document.getElementById("sweep");
  box.replaceChildren();
  if (!state.sweep.length) return;
  box.append(el("h3", { text: "Sweep" }), el("ol", { class: "findings" }, ...state.sweep.map(findingItem)));
}

async function load() {
  const data = await getJSON("./runs");
  state.runs = data.runs;
  state.sweep = data.sweep;
  document.getElementById("summary").textContent = data.summary;
  renderSweep();
  const keep = state.runs.some((r) => r.run === state.selected);
  if (state.runs.length) await selectRun(keep ? state.selected : state.runs[0].run);
  else {
    renderList();
    document.getElementById("detail").replaceChildren(el("p", { class: "muted", text: "No runs with scalars yet." }));
    document.body.dataset.ready = "1";
  }
}

export async function render() {
  document.head.append(el("link", { rel: "stylesheet", href: "./style.css" }));
  const filter = el("input", { id: "filter", type: "search", placeholder: "filter runs or conditions", "aria-label": "filter" });
  filter.addEventListener("input", () => { state.query = filter.value; renderList(); });
  const only = el("input", { id: "only-problems", type: "checkbox" });
  only.addEventListener("change", () => { state.onlyProblems = only.checked; renderList(); });
  const reload = el("button", { type: "button", text: "Reload" });
  reload.addEventListener("click", () => load());
  const table = el("table", { class: "runs" },
    el("thead", {}, el("tr", {}, ...["", "run", "top finding", "summary"].map((h) => el("th", { text: h })))),
    el("tbody", { id: "run-rows" }));
  document.body.append(
    el("header", {}, el("h1", { text: "Advisor" }), el("p", { id: "summary", class: "muted" }),
      el("div", { class: "toolbar" }, filter, el("label", {}, only, " only problems (warning or critical)"), reload,
        el("span", { id: "shown", class: "muted" }))),
    el("main", {}, el("section", { class: "list" }, table, el("div", { id: "sweep" }),
      el("p", { class: "muted hint", text: "Diagnosed from the points TensorBoard keeps (1000 per tag by default); "
        + "start it with --samples_per_plugin scalars=0 for the exact figures of advisor analyze." })),
      el("section", { id: "detail" })),
  );
  try {
    await load();
  } catch (err) {
    document.getElementById("detail").replaceChildren(el("p", { class: "problem", text: String(err.message || err) }));
    document.body.dataset.ready = "error";
  }
}
