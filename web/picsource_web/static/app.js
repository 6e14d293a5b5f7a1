// Small progressive enhancements; every page works without them.
// - forms with data-confirm ask before submitting (delete)
// - read-only inputs with data-select-on-focus select their text (share links, tokens)
// - tiles/images still being analysed poll their status URL and swap in the thumbnail;
//   polling stops when the page is left or a form is submitted (a delete must not be
//   followed by a status request for the image it removed), and for an image that is gone
(function () {
  "use strict";

  var polling = { stopped: false, controller: null };
  function stopPolling() {
    polling.stopped = true;
    if (polling.controller) { polling.controller.abort(); }
  }

  function confirmForms() {
    document.querySelectorAll("form[data-confirm]").forEach(function (form) {
      form.addEventListener("submit", function (event) {
        if (!window.confirm(form.getAttribute("data-confirm"))) { event.preventDefault(); }
      });
    });
  }

  function selectOnFocus() {
    document.querySelectorAll("[data-select-on-focus]").forEach(function (input) {
      input.addEventListener("focus", function () { input.select(); });
    });
  }

  function showReady(box, data) {
    var img = box.querySelector("[data-pending-img]");
    var note = box.querySelector("[data-pending-note]");
    if (!img || !data.thumb_url) { if (note) { note.textContent = data.status === "failed" ? "Analysis failed" : ""; } return; }
    img.addEventListener("load", function () {
      img.classList.remove("hidden");
      if (note) { note.remove(); }
    }, { once: true });
    img.alt = data.alt || img.alt;
    img.loading = "eager";  // a lazy image that is still display:none would never load
    img.src = data.thumb_url;
    box.removeAttribute("data-status-url");
  }

  function pollPending() {
    var boxes = Array.prototype.slice.call(document.querySelectorAll("[data-status-url]"));
    if (!boxes.length) { return; }
    var delay = 1500;
    function tick() {
      boxes = boxes.filter(function (box) { return box.hasAttribute("data-status-url"); });
      if (!boxes.length || polling.stopped) { return; }
      polling.controller = new AbortController();
      Promise.all(boxes.map(function (box) {
        return fetch(box.getAttribute("data-status-url"), { headers: { "Accept": "application/json" }, credentials: "same-origin", signal: polling.controller.signal })
          .then(function (r) {
            if (r.status === 404 || r.status === 410) { box.removeAttribute("data-status-url"); }
            return r.ok ? r.json() : null;
          })
          .then(function (data) {
            if (data && !data.pending) {
              if (box.getAttribute("data-size") === "large") { window.location.reload(); return; }
              showReady(box, data);
            }
          })
          .catch(function () { /* try again next tick */ });
      })).then(function () {
        if (polling.stopped) { return; }
        delay = Math.min(delay * 1.5, 15000);
        window.setTimeout(tick, delay);
      });
    }
    window.setTimeout(tick, delay);
  }

  document.addEventListener("DOMContentLoaded", function () {
    confirmForms();
    selectOnFocus();
    pollPending();
  });
  document.addEventListener("submit", function (event) { if (!event.defaultPrevented) { stopPolling(); } });
  window.addEventListener("pagehide", stopPolling);
})();
