// Sightline's page behaviour. The Content-Security-Policy allows no inline scripts or handlers,
// so every page's small behaviours live here, bound by element ids and data attributes.
(function () {
  "use strict";

  // Project switcher: choosing a project opens its settings page.
  document.addEventListener("change", function (e) {
    const select = e.target.closest && e.target.closest("#project-switcher");
    if (select && select.value) window.location = select.value;
  });

  // Trace list: keep pushed URLs short by dropping empty filter fields from htmx GETs.
  document.addEventListener("htmx:configRequest", function (e) {
    if (e.detail.verb !== "get" || !document.getElementById("trace-filters")) return;
    for (const key of Array.from(e.detail.parameters.keys())) {
      if (e.detail.parameters.get(key) === "") e.detail.parameters.delete(key);
    }
  });

  // Trace detail: mark the waterfall row whose panel is showing (after a click or history navigation).
  document.addEventListener("htmx:afterSettle", function () {
    const panel = document.getElementById("span-panel");
    if (!panel) return;
    document.querySelectorAll(".wf-row").forEach(function (row) {
      row.classList.toggle("selected", row.dataset.spanId === panel.dataset.spanId);
    });
  });
})();
