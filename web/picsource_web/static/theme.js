// Applies the saved light/dark theme before first paint (loaded in <head>, not deferred),
// and wires the navbar toggle. External file: the CSP forbids inline script.
(function () {
  "use strict";
  var root = document.documentElement;
  var saved = null;
  try { saved = localStorage.getItem("picsource-theme"); } catch (e) { /* private mode */ }
  if (saved !== "light" && saved !== "dark") {
    saved = window.matchMedia && window.matchMedia("(prefers-color-scheme: dark)").matches ? "dark" : "light";
  }
  root.setAttribute("data-theme", saved);
  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("[data-theme-toggle]").forEach(function (button) {
      button.addEventListener("click", function () {
        var next = root.getAttribute("data-theme") === "dark" ? "light" : "dark";
        root.setAttribute("data-theme", next);
        try { localStorage.setItem("picsource-theme", next); } catch (e) { /* ignore */ }
      });
    });
  });
})();
