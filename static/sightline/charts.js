// Dashboards: draw the plotly figures that panels embed as JSON, and open the trace list on a click.
// The CSP allows no inline scripts: figures arrive as JSON in a data-figure attribute and are drawn here.
(function () {
  "use strict";

  function iso(date) {
    return date.toISOString().replace(/:00\.000Z$/, "Z").replace(/\.000Z$/, "Z");
  }

  function draw(el) {
    if (!el.dataset.figure || el.dataset.drawn || typeof Plotly === "undefined") return;
    el.dataset.drawn = "1";
    const fig = JSON.parse(el.dataset.figure);
    // No mode bar: it would sit over the newest points, which are the ones people click. Drag zooms,
    // a double click resets.
    const config = { displayModeBar: false, responsive: true };
    Plotly.newPlot(el, fig.data, fig.layout, config);
    const meta = (fig.layout && fig.layout.meta) || {};
    el.on("plotly_click", function (event) {
      const point = event.points && event.points[0];
      if (!point || !meta.links) return;
      const base = meta.links[point.curveNumber];
      if (!base) return;
      // x is the bucket's UTC wall time ("2026-11-30 08:00"): the link covers that one bucket.
      const x = fig.data[point.curveNumber].x[point.pointIndex];
      const since = new Date(x.replace(" ", "T") + ":00Z");
      const until = new Date(since.getTime() + meta.step * 1000);
      window.location.assign(base + (base.indexOf("?") >= 0 ? "&" : "?") +
        "since=" + encodeURIComponent(iso(since)) + "&until=" + encodeURIComponent(iso(until)));
    });
  }

  function drawAll(root) {
    (root || document).querySelectorAll(".plot[data-figure]:not([data-drawn])").forEach(draw);
  }

  document.addEventListener("DOMContentLoaded", function () { drawAll(document); });
  document.addEventListener("htmx:afterSettle", function () { drawAll(document); });

  // Controls: keep pushed URLs short (no empty filters; from/to only for a custom range).
  document.addEventListener("htmx:configRequest", function (e) {
    const form = document.getElementById("dashboard-controls");
    if (e.detail.verb !== "get" || !form || !form.contains(e.detail.elt)) return;
    const params = e.detail.parameters;
    const custom = params.get("range") === "custom";
    for (const key of Array.from(params.keys())) {
      if (params.get(key) === "" || (!custom && (key === "from" || key === "to"))) params.delete(key);
    }
  });

  // Choosing "Custom" shows the from/to inputs before a request is made.
  document.addEventListener("change", function (e) {
    if (!e.target.matches || !e.target.matches("#dashboard-controls input[name=range]")) return;
    const custom = e.target.value === "custom";
    document.querySelectorAll("#dashboard-controls .custom-range").forEach(function (el) {
      el.classList.toggle("is-off", !custom);
    });
  });
})();
