(function () {
  "use strict";
  // Trial rows arrive as JSON data and are shown with textContent only: nothing from a
  // model output or a dataset is ever parsed as HTML or run as script.
  var source = document.getElementById("crucible-trials");
  if (!source) { return; }
  var data = JSON.parse(source.textContent);
  var PAGE = 50;
  var page = 0;
  var matching = [];
  var byId = function (id) { return document.getElementById(id); };
  var cond = byId("f-condition"), outcome = byId("f-outcome"), item = byId("f-item");
  var body = byId("trial-rows"), count = byId("trial-count"), detail = byId("trial-detail");

  function el(tag, text, cls) {
    var node = document.createElement(tag);
    if (text !== undefined && text !== null) { node.textContent = String(text); }
    if (cls) { node.className = cls; }
    return node;
  }
  function number(value) {
    if (value === null || value === undefined) { return ""; }
    var size = Math.abs(value);
    if (size !== 0 && (size < 0.001 || size >= 1e6)) { return value.toExponential(2); }
    return String(Math.round(value * 1000) / 1000);
  }

  data.conditions.forEach(function (name, index) {
    var option = el("option", name); option.value = String(index); cond.appendChild(option);
  });
  data.statuses.forEach(function (name, index) {
    var option = el("option", name); option.value = String(index); outcome.appendChild(option);
  });

  function applyFilters() {
    var c = cond.value === "" ? -1 : Number(cond.value);
    var s = outcome.value === "" ? -1 : Number(outcome.value);
    var text = item.value.trim().toLowerCase();
    matching = [];
    for (var i = 0; i < data.rows.length; i++) {
      var row = data.rows[i];
      if (c >= 0 && row[0] !== c) { continue; }
      if (s >= 0 && row[3] !== s) { continue; }
      if (text && String(row[1]).toLowerCase().indexOf(text) < 0) { continue; }
      matching.push(i);
    }
    page = 0;
    render();
  }

  function render() {
    while (body.firstChild) { body.removeChild(body.firstChild); }
    var pages = Math.max(1, Math.ceil(matching.length / PAGE));
    page = Math.min(page, pages - 1);
    var first = page * PAGE, last = Math.min(matching.length, first + PAGE);
    for (var k = first; k < last; k++) {
      var index = matching[k], row = data.rows[index];
      var tr = el("tr", null, "trial");
      tr.setAttribute("data-index", String(index));
      tr.appendChild(el("td", data.conditions[row[0]]));
      tr.appendChild(el("td", row[1]));
      tr.appendChild(el("td", row[2], "num"));
      tr.appendChild(el("td", data.statuses[row[3]], "status-" + data.statuses[row[3]]));
      for (var m = 4; m < row.length; m++) { tr.appendChild(el("td", number(row[m]), "num")); }
      body.appendChild(tr);
    }
    count.textContent = matching.length
      ? "Showing " + (first + 1) + "–" + last + " of " + matching.length + " trials (page "
        + (page + 1) + " of " + pages + "); click a row for its details."
      : "No trial matches these filters.";
    byId("f-prev").disabled = page === 0;
    byId("f-next").disabled = page >= pages - 1;
  }

  function section(title, text) {
    if (text === null || text === undefined || text === "") { return; }
    detail.appendChild(el("h4", title));
    detail.appendChild(el("pre", text));
  }

  function show(index) {
    var row = data.rows[index];
    var itemData = data.items[row[1]] || [null, null, null];
    while (detail.firstChild) { detail.removeChild(detail.firstChild); }
    detail.hidden = false;
    detail.appendChild(el("h3", data.conditions[row[0]] + " · " + row[1] + " · repeat "
      + row[2] + " · " + data.statuses[row[3]]));
    section("Input", itemData[0]);
    section("Expected", itemData[1]);
    section("Output", data.outputs[index]);
    var values = [];
    data.columns.slice(4).forEach(function (name, m) {
      if (row[m + 4] !== null) { values.push(name + " = " + row[m + 4]); }
    });
    section("Metrics and usage", values.join("\n"));
    section("Results", data.results[index]);
    section("Error", data.errors[index]);
    var logs = data.logs[String(index)];
    if (logs) {
      section("Logs", logs.map(function (l) { return l.join("  "); }).join("\n"));
    }
    section("Item metadata", itemData[2]);
  }

  body.addEventListener("click", function (event) {
    var tr = event.target.closest("tr");
    if (!tr) { return; }
    var selected = body.querySelector("tr.selected");
    if (selected) { selected.classList.remove("selected"); }
    tr.classList.add("selected");
    show(Number(tr.getAttribute("data-index")));
  });
  cond.addEventListener("change", applyFilters);
  outcome.addEventListener("change", applyFilters);
  item.addEventListener("input", applyFilters);
  byId("f-prev").addEventListener("click", function () { page -= 1; render(); });
  byId("f-next").addEventListener("click", function () { page += 1; render(); });
  // Links into the table: #trials?condition=NAME&outcome=failed&item=TEXT filters it,
  // #trial-N opens trial N (its index in results order).
  var hash = window.location.hash;
  if (hash.indexOf("#trials?") === 0) {
    var query = new URLSearchParams(hash.slice(8));
    var pick = function (select, list, name) {
      var index = list.indexOf(query.get(name));
      if (index >= 0) { select.value = String(index); }
    };
    pick(cond, data.conditions, "condition");
    pick(outcome, data.statuses, "outcome");
    item.value = query.get("item") || "";
  }
  applyFilters();
  var linked = /^#trial-([0-9]+)$/.exec(hash);
  if (linked && data.rows[Number(linked[1])]) { show(Number(linked[1])); }
})();
