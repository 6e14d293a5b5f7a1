// Small progressive enhancements; every page works without them.
// - forms with data-confirm ask before submitting (delete)
// - read-only inputs with data-select-on-focus select their text (share links, tokens)
// - tiles/images still being analysed poll their status URL and swap in the thumbnail;
//   polling stops when the page is left or a form is submitted (a delete must not be
//   followed by a status request for the image it removed), and for an image that is gone
// - the grid's selection bar: a count, shift-click ranges, select all (also Ctrl+A),
//   Esc to clear, buttons off while nothing is ticked, Enter in the tags box tags
// - the timeline's month menu jumps as soon as a month is chosen (Go without JS)
// - search boxes with data-suggest offer the signed-in user's own tags and labels
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

  function jumpMenu() {
    document.querySelectorAll("[data-jump-select]").forEach(function (select) {
      select.addEventListener("change", function () { select.form.submit(); });
    });
  }

  function selectionBar() {
    var bar = document.querySelector("[data-selection-bar]");
    if (!bar) { return; }
    var count = bar.querySelector("[data-selection-count]");
    var hint = count ? count.textContent : "";
    var all = bar.querySelector("[data-select-all]");
    var last = null;
    function boxes() { return Array.prototype.slice.call(document.querySelectorAll("[data-select-tile]")); }
    function update() {
      var list = boxes();
      var n = list.filter(function (b) { return b.checked; }).length;
      if (count) { count.textContent = n ? n + " selected:" : hint; }
      bar.querySelectorAll("[data-needs-selection]").forEach(function (b) { b.disabled = n === 0; });
      if (all) { all.checked = n > 0 && n === list.length; all.indeterminate = n > 0 && n < list.length; }
    }
    function setAll(on) { boxes().forEach(function (b) { b.checked = on; }); update(); }
    document.addEventListener("click", function (event) {
      var box = event.target.closest ? event.target.closest("[data-select-tile]") : null;
      if (!box) { return; }
      var list = boxes();
      if (event.shiftKey && last && last !== box && list.indexOf(last) >= 0) {
        var a = list.indexOf(last), b = list.indexOf(box);
        list.slice(Math.min(a, b), Math.max(a, b) + 1).forEach(function (x) { x.checked = box.checked; });
      }
      last = box;
      update();
    });
    if (all) { all.addEventListener("change", function () { setAll(all.checked); }); }
    document.addEventListener("keydown", function (event) {
      var typing = /^(INPUT|TEXTAREA|SELECT)$/.test(event.target.tagName) && event.target.type !== "checkbox";
      if (typing) { return; }
      if (event.key === "Escape") { setAll(false); }
      if ((event.ctrlKey || event.metaKey) && event.key.toLowerCase() === "a") { event.preventDefault(); setAll(true); }
    });
    var tags = bar.querySelector("[data-selection-tags]");
    var tag = bar.querySelector("[data-add-tags]");
    if (tags && tag) {
      tags.addEventListener("keydown", function (event) {
        if (event.key === "Enter") { event.preventDefault(); if (!tag.disabled) { tag.click(); } }
      });
    }
    update();
  }

  function suggestions() {
    var list = document.getElementById("search-suggestions");
    if (!list) { return; }
    document.querySelectorAll("input[data-suggest]").forEach(function (input) {
      var timer = null;
      var controller = null;
      input.addEventListener("input", function () {
        window.clearTimeout(timer);
        timer = window.setTimeout(function () {
          var words = input.value.split(/\s+/);
          var last = words.pop();
          if (!last) { list.textContent = ""; return; }
          if (controller) { controller.abort(); }
          controller = new AbortController();
          fetch(input.getAttribute("data-suggest") + "?q=" + encodeURIComponent(last.slice(0, 64)),
                { credentials: "same-origin", headers: { "Accept": "application/json" }, signal: controller.signal })
            .then(function (r) { return r.ok ? r.json() : { suggestions: [] }; })
            .then(function (data) {
              list.textContent = "";
              var head = words.join(" ");
              data.suggestions.forEach(function (s) {
                var option = document.createElement("option");
                option.value = (head ? head + " " : "") + s.text;
                option.label = s.kind + " \u00b7 " + s.count;
                list.appendChild(option);
              });
            })
            .catch(function () { /* aborted by the next keystroke, or offline */ });
        }, 150);
      });
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    confirmForms();
    suggestions();
    selectionBar();
    jumpMenu();
    selectOnFocus();
    pollPending();
  });
  document.addEventListener("submit", function (event) { if (!event.defaultPrevented) { stopPolling(); } });
  window.addEventListener("pagehide", stopPolling);
})();
