// The review queue's keyboard: p pass, f fail, s skip, 1–9 toggle a category, Enter save and next.
// Loaded only by the queue page; the CSP allows no inline scripts, so the keys are bound here.
(function () {
  "use strict";

  function typing(el) {
    if (!el || !el.tagName) return false;
    const tag = el.tagName.toLowerCase();
    if (tag === "textarea" || tag === "select") return true;
    return tag === "input" && !["radio", "checkbox", "submit", "button"].includes(el.type);
  }

  function setVerdict(form, value) {
    const radio = form.querySelector('input[name="verdict"][value="' + value + '"]');
    if (radio) radio.checked = true;
  }

  document.addEventListener("keydown", function (e) {
    const panel = document.getElementById("review-panel");
    if (!panel || e.ctrlKey || e.metaKey || e.altKey || e.isComposing) return;
    if (typing(e.target)) {
      if (e.key === "Escape") e.target.blur(); // leave the text box; the keys work again
      return;
    }
    const form = document.getElementById("label-form");
    const key = e.key.toLowerCase();
    if (!form) {
      const next = document.getElementById("next-form");
      if (next && (key === "enter" || key === "n")) {
        e.preventDefault();
        next.requestSubmit();
      }
      return;
    }
    if (key === "p" || key === "f") {
      e.preventDefault();
      setVerdict(form, key === "p" ? "pass" : "fail");
    } else if (key === "s") {
      e.preventDefault();
      const skip = document.getElementById("skip-form");
      if (skip) skip.requestSubmit();
    } else if (/^[1-9]$/.test(key)) {
      const box = form.querySelector('input[name="categories"][data-key="' + key + '"]');
      if (box) {
        e.preventDefault();
        box.checked = !box.checked;
      }
    } else if (key === "enter") {
      e.preventDefault();
      form.requestSubmit(); // the browser checks that a verdict is chosen; htmx sends the form
    }
  });
})();
