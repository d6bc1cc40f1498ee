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
    showArtifacts(data.artifacts[String(index)]);
    section("Error", data.errors[index]);
    var logs = data.logs[String(index)];
    if (logs) {
      section("Logs", logs.map(function (l) { return l.join("  "); }).join("\n"));
    }
    section("Item metadata", itemData[2]);
  }

  function size(bytes) {
    if (bytes < 1024) { return bytes + " B"; }
    if (bytes < 1048576) { return (bytes / 1024).toFixed(1) + " kB"; }
    return (bytes / 1048576).toFixed(1) + " MB";
  }

  // An artifact: [name, kind, content, size, media type of an image]. Text is shown as text; bytes are offered as a
  // download (an octet-stream data URL: the browser saves it, never renders it).
  function showArtifacts(list) {
    if (!list || !list.length) { return; }
    detail.appendChild(el("h4", "Artifacts (" + list.length + ")"));
    list.forEach(function (artifact) {
      var name = artifact[0], kind = artifact[1], content = artifact[2];
      var box = el("div", null, "artifact");
      box.appendChild(el("div", name + " · " + size(artifact[3]), "artifact-name"));
      if (kind === "text") {
        box.appendChild(el("pre", content));
      } else if (content === null) {
        box.appendChild(el("span", "too large for this page: it is in results.jsonl beside it",
          "note"));
      } else {
        if (kind === "image") {
          var img = el("img"); img.alt = name; img.src = "data:" + artifact[4] + ";base64," + content;
          box.appendChild(img);
        }
        var link = el("a", "download " + name);
        link.href = "data:application/octet-stream;base64," + content;
        link.setAttribute("download", name);
        box.appendChild(link);
      }
      detail.appendChild(box);
    });
  }

  // Two conditions' outputs for the same item, one row per item, repeats stacked. The
  // reader picks the two conditions; #side-by-side?left=A&right=B&item=TEXT links to a view.
  function sideBySide(query) {
    var left = byId("sbs-left"), right = byId("sbs-right"), find = byId("sbs-item");
    var differ = byId("sbs-differ"), rowsBody = byId("sbs-rows"), note = byId("sbs-count");
    if (!left) { return; }
    if (data.conditions.length < 2) {
      note.textContent = "One condition only: nothing to put side by side.";
      byId("sbs-controls").hidden = true;
      return;
    }
    var trials = {};  // condition index -> item id -> [trial index, ...] by repeat
    var itemIds = [];
    data.rows.forEach(function (row, index) {
      var byItem = trials[row[0]] || (trials[row[0]] = {});
      if (!(row[1] in byItem)) { byItem[row[1]] = []; }
      byItem[row[1]].push(index);
      if (itemIds.indexOf(row[1]) < 0) { itemIds.push(row[1]); }
    });
    data.conditions.forEach(function (name, index) {
      [left, right].forEach(function (select) {
        var option = el("option", name); option.value = String(index); select.appendChild(option);
      });
    });
    var first = Math.max(0, data.conditions.indexOf(data.baseline));
    left.value = String(first);
    right.value = String(first === 0 ? 1 : 0);
    if (query) {
      [[left, "left"], [right, "right"]].forEach(function (pair) {
        var index = data.conditions.indexOf(query.get(pair[1]));
        if (index >= 0) { pair[0].value = String(index); }
      });
      find.value = query.get("item") || "";
    }
    var SBS_PAGE = 10, sbsPage = 0, shown = [];

    function outputs(condition, itemId) {
      return ((trials[condition] || {})[itemId] || []).map(function (i) {
        return data.outputs[i] === null ? "" : String(data.outputs[i]);
      });
    }
    function cell(condition, itemId) {
      var td = el("td", null, "sbs-cell");
      var list = (trials[condition] || {})[itemId] || [];
      if (!list.length) { td.appendChild(el("span", "no trial", "note")); }
      list.forEach(function (index) {
        var row = data.rows[index], facts = ["repeat " + row[2], data.statuses[row[3]]];
        data.columns.slice(4).forEach(function (name, m) {
          if (row[m + 4] !== null) { facts.push(name + " " + number(row[m + 4])); }
        });
        td.appendChild(el("div", facts.join(" · "), "sbs-facts status-" + data.statuses[row[3]]));
        td.appendChild(el("pre", data.outputs[index] === null
          ? (data.errors[index] || "(no output)") : data.outputs[index]));
      });
      return td;
    }
    function select() {
      var a = Number(left.value), b = Number(right.value);
      var text = find.value.trim().toLowerCase();
      shown = itemIds.filter(function (itemId) {
        if (text && String(itemId).toLowerCase().indexOf(text) < 0) { return false; }
        if (!differ.checked) { return true; }
        return outputs(a, itemId).join("\u0000") !== outputs(b, itemId).join("\u0000");
      });
      sbsPage = 0;
      draw();
    }
    function draw() {
      var a = Number(left.value), b = Number(right.value);
      byId("sbs-left-head").textContent = data.conditions[a];
      byId("sbs-right-head").textContent = data.conditions[b];
      while (rowsBody.firstChild) { rowsBody.removeChild(rowsBody.firstChild); }
      var pages = Math.max(1, Math.ceil(shown.length / SBS_PAGE));
      sbsPage = Math.min(Math.max(sbsPage, 0), pages - 1);
      var start = sbsPage * SBS_PAGE, stop = Math.min(shown.length, start + SBS_PAGE);
      for (var k = start; k < stop; k++) {
        var itemId = shown[k], itemData = data.items[itemId] || [null, null, null];
        var tr = el("tr", null, "sbs-row");
        var head = el("td", null, "sbs-item");
        head.appendChild(el("div", itemId, "sbs-id"));
        if (itemData[0] !== null) { head.appendChild(el("pre", itemData[0])); }
        if (itemData[1] !== null) { head.appendChild(el("div", "expected: " + itemData[1], "note")); }
        tr.appendChild(head);
        tr.appendChild(cell(a, itemId));
        tr.appendChild(cell(b, itemId));
        rowsBody.appendChild(tr);
      }
      note.textContent = shown.length
        ? "Items " + (start + 1) + "–" + stop + " of " + shown.length + " (page " + (sbsPage + 1)
          + " of " + pages + ")."
        : "No item matches.";
      byId("sbs-prev").disabled = sbsPage === 0;
      byId("sbs-next").disabled = sbsPage >= pages - 1;
    }
    [left, right, differ].forEach(function (control) {
      control.addEventListener("change", select);
    });
    find.addEventListener("input", select);
    byId("sbs-prev").addEventListener("click", function () { sbsPage -= 1; draw(); });
    byId("sbs-next").addEventListener("click", function () { sbsPage += 1; draw(); });
    select();
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
  sideBySide(hash.indexOf("#side-by-side?") === 0 ? new URLSearchParams(hash.slice(14)) : null);
  var linked = /^#trial-([0-9]+)$/.exec(hash);
  if (linked && data.rows[Number(linked[1])]) { show(Number(linked[1])); }
})();
