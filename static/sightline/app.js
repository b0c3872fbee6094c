// Sightline's page behaviour. The Content-Security-Policy allows no inline scripts or handlers,
// so every page's small behaviours live here, bound by element ids and data attributes.
(function () {
  "use strict";

  // Project switcher: choosing a project opens the same page (section) in that project.
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

  // Copy buttons (ids, keys, snippets): <button data-copy="text"> or data-copy-target="#element-id".
  document.addEventListener("click", function (e) {
    const button = e.target.closest && e.target.closest("[data-copy], [data-copy-target]");
    if (!button) return;
    let text = button.dataset.copy;
    if (text === undefined && button.dataset.copyTarget) {
      const source = document.querySelector(button.dataset.copyTarget);
      text = source ? source.textContent : "";
    }
    const done = function (ok) {
      const label = button.textContent;
      button.textContent = ok ? "Copied" : "Copy failed";
      button.classList.toggle("copied", ok);
      window.setTimeout(function () { button.textContent = label; button.classList.remove("copied"); }, 1500);
    };
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(text).then(function () { done(true); }, function () { done(false); });
    } else {
      // Plain-http deployments have no clipboard API: select a temporary field and use the copy command.
      const field = document.createElement("textarea");
      field.value = text;
      field.setAttribute("readonly", "");
      field.className = "visually-hidden";
      document.body.appendChild(field);
      field.select();
      let ok = false;
      try { ok = document.execCommand("copy"); } catch (err) { ok = false; }
      field.remove();
      done(ok);
    }
  });

  // Tabs: <div data-tabs> with role=tab buttons controlling role=tabpanel panels (all panels show without JS).
  document.addEventListener("click", function (e) {
    const tab = e.target.closest && e.target.closest("[data-tabs] [role=tab]");
    if (!tab) return;
    const tabs = tab.closest("[data-tabs]");
    tabs.querySelectorAll("[role=tab]").forEach(function (other) {
      const selected = other === tab;
      other.setAttribute("aria-selected", selected ? "true" : "false");
      const panel = document.getElementById(other.getAttribute("aria-controls"));
      if (panel) panel.hidden = !selected;
    });
  });
})();
