// The live run page: follows /api/runs/RUN_ID/events (server-sent events) and updates the
// page. Data from the store is only ever set as textContent: never as HTML.
"use strict";

(function () {
  const section = document.getElementById("run");
  if (!section || !window.EventSource) return;
  const runId = section.dataset.runId;
  const maxLines = 2000; // the log keeps the newest lines
  let source = null;

  function el(tag, text, className) {
    const node = document.createElement(tag);
    if (text !== undefined && text !== null) node.textContent = String(text);
    if (className) node.className = className;
    return node;
  }

  function badge(status) {
    return el("span", status, "status status-" + String(status).replace(/[^a-z]/g, ""));
  }

  function when(stamp) {
    if (!stamp) return "";
    const date = new Date(stamp);
    return isNaN(date) ? String(stamp) : date.toISOString().slice(0, 19).replace("T", " ") + " UTC";
  }

  function setWidth(fill, done, total) {
    const percent = total ? Math.min(100, (100 * done) / total) : 0;
    fill.style.width = percent.toFixed(1) + "%";
  }

  function conditionRow(name) {
    const body = document.getElementById("conditions-body");
    for (const row of body.querySelectorAll("tr[data-condition]")) {
      if (row.dataset.condition === name) return row;
    }
    const row = document.createElement("tr");
    row.dataset.condition = name;
    row.appendChild(el("td", name, "condition-name"));
    const cell = el("td");
    const bar = el("div", null, "bar small");
    bar.appendChild(el("div", null, "fill"));
    cell.appendChild(bar);
    row.appendChild(cell);
    for (const kind of ["passed", "failed", "skipped", "stored"]) row.appendChild(el("td", "", "num " + kind));
    body.appendChild(row);
    return row;
  }

  function showProgress(progress) {
    document.getElementById("progress-stored").textContent = progress.stored;
    document.getElementById("progress-total").textContent = progress.total_trials;
    document.getElementById("progress-last").textContent = when(progress.last_stored_at);
    setWidth(document.getElementById("progress-fill"), progress.stored, progress.total_trials);
    const status = document.getElementById("run-status");
    status.replaceChildren(badge(progress.status));
    for (const condition of progress.by_condition) {
      const row = conditionRow(condition.condition);
      row.querySelector(".passed").textContent = condition.passed;
      row.querySelector(".failed").textContent = condition.failed;
      row.querySelector(".skipped").textContent = condition.skipped;
      row.querySelector(".stored").textContent = condition.stored + " / " + condition.total;
      setWidth(row.querySelector(".fill"), condition.stored, condition.total);
    }
    const cancelForm = document.querySelector("form.cancel");
    if (cancelForm) cancelForm.hidden = progress.status !== "running";  // ended: nothing to cancel
    const note = document.getElementById("cancel-note");
    note.hidden = !progress.cancel_requested;
    document.getElementById("cancel-reason").textContent = progress.cancel_requested || "";
  }

  function metricsText(metrics) {
    if (!metrics) return "";
    return Object.entries(metrics).map(([name, value]) => name + "=" + JSON.stringify(value)).join(", ");
  }

  function showTrials(page) {
    const body = document.getElementById("trials-body");
    const rows = page.rows.map((trial) => {
      const row = document.createElement("tr");
      row.appendChild(el("td", trial.condition));
      const itemCell = el("td");
      const link = el("a", trial.item_id);
      link.href = "/runs/" + encodeURIComponent(runId) + "/trials/" + encodeURIComponent(trial.trial_key);
      itemCell.appendChild(link);
      row.appendChild(itemCell);
      row.appendChild(el("td", trial.repeat, "num"));
      const statusCell = el("td");
      statusCell.appendChild(badge(trial.status));
      row.appendChild(statusCell);
      row.appendChild(el("td", metricsText(trial.metrics), "metrics"));
      row.appendChild(el("td", trial.latency_s == null ? "" : Number(trial.latency_s).toFixed(1) + " s", "num"));
      row.appendChild(el("td", trial.cost_usd == null ? "" : "$" + Number(trial.cost_usd).toFixed(4), "num"));
      return row;
    });
    body.replaceChildren(...rows);
    document.getElementById("trials-count").textContent = page.total;
    document.getElementById("trials-pages").textContent = Math.max(1, Math.ceil(page.total / page.limit));
  }

  function showLogs(lines) {
    const list = document.getElementById("log-lines");
    for (const line of lines) {
      const entry = el("li", null, "level-" + String(line.level).toLowerCase().replace(/[^a-z]/g, ""));
      entry.dataset.id = line.id;
      const time = el("time", when(line.created_at).slice(11, 19));
      time.title = when(line.created_at);
      entry.appendChild(time);
      entry.appendChild(el("span", line.level, "level"));
      entry.appendChild(el("span", line.condition + " / " + line.item_id + " / r" + line.repeat, "where"));
      entry.appendChild(el("span", line.message, "message"));
      list.appendChild(entry);
    }
    while (list.children.length > maxLines) list.removeChild(list.firstChild);
    document.getElementById("log-empty").hidden = list.children.length > 0;
  }

  function showProblem(problem) {
    const note = document.getElementById("live-problem");
    note.textContent = problem ? problem.message : "";
    note.hidden = !problem;
  }

  function connect() {
    source = new EventSource(section.dataset.eventsUrl);
    source.addEventListener("progress", (e) => { showProblem(null); showProgress(JSON.parse(e.data)); });
    source.addEventListener("trials", (e) => showTrials(JSON.parse(e.data)));
    source.addEventListener("logs", (e) => showLogs(JSON.parse(e.data)));
    source.addEventListener("problem", (e) => showProblem(JSON.parse(e.data)));
    source.onerror = () => {
      // the browser reconnects by itself; say so while it is away
      if (source.readyState === EventSource.CONNECTING) showProblem({ message: "connection to the server lost: reconnecting" });
    };
  }

  connect();
  window.addEventListener("pagehide", () => source && source.close());
})();
