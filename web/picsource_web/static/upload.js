// Drag-and-drop multi-file upload with a progress bar per file.
// Each file is sent in its own request (XMLHttpRequest: fetch has no upload progress)
// with its own title, description and tags, and the CSRF token in a header.
// Without this script the form still posts all files with the shared fields.
(function () {
  "use strict";

  var MAX_PARALLEL = 2;

  function humanSize(bytes) {
    if (bytes < 1000) { return bytes + " B"; }
    if (bytes < 1000000) { return (bytes / 1000).toFixed(1) + " kB"; }
    return (bytes / 1000000).toFixed(1) + " MB";
  }

  function stem(name) {
    return name.replace(/\.[^.]+$/, "").replace(/[_-]+/g, " ").trim();
  }

  document.addEventListener("DOMContentLoaded", function () {
    var form = document.querySelector("[data-upload-form]");
    if (!form) { return; }
    var input = form.querySelector("[data-file-input]");
    var zone = form.querySelector("[data-dropzone]");
    var list = form.querySelector("[data-file-list]");
    var template = document.querySelector("[data-file-template]");
    var button = form.querySelector("[data-upload-button]");
    var shared = form.querySelector("[data-shared-fields]");
    var csrf = document.querySelector('meta[name="csrf-token"]').getAttribute("content");
    var items = [];

    input.removeAttribute("required");
    shared.querySelector("[data-shared-note]").textContent = "(visibility applies to every file; title, description and tags below are per file)";
    ["title", "tags", "description"].forEach(function (name) {
      var field = shared.querySelector('[name="' + name + '"]');
      if (field) { field.closest("label").classList.add("hidden"); }
    });

    function addFiles(files) {
      Array.prototype.forEach.call(files, function (file) {
        var node = template.content.firstElementChild.cloneNode(true);
        node.querySelector("[data-file-name]").textContent = file.name;
        node.querySelector("[data-file-size]").textContent = humanSize(file.size);
        node.querySelector('[data-field="title"]').value = stem(file.name).slice(0, 200);
        var preview = node.querySelector("[data-preview]");
        if (file.type.indexOf("image/") === 0) {
          var url = URL.createObjectURL(file);
          preview.src = url;
          preview.addEventListener("load", function () { URL.revokeObjectURL(url); }, { once: true });
          // A type this browser cannot draw (HEIC outside Safari): the plain grey square
          // stays, not a broken-image icon.
          preview.addEventListener("error", function () {
            URL.revokeObjectURL(url);
            preview.removeAttribute("src");
          }, { once: true });
        }
        var item = { file: file, node: node, state: "ready" };
        node.querySelector("[data-remove]").addEventListener("click", function () {
          if (item.state === "uploading") { return; }
          items = items.filter(function (other) { return other !== item; });
          node.remove();
        });
        items.push(item);
        list.appendChild(node);
      });
    }

    input.addEventListener("change", function () { addFiles(input.files); input.value = ""; });
    ["dragenter", "dragover"].forEach(function (type) {
      zone.addEventListener(type, function (event) {
        event.preventDefault();
        zone.classList.add("border-primary", "bg-primary/5");
      });
    });
    ["dragleave", "drop"].forEach(function (type) {
      zone.addEventListener(type, function (event) {
        event.preventDefault();
        zone.classList.remove("border-primary", "bg-primary/5");
      });
    });
    zone.addEventListener("drop", function (event) {
      if (event.dataTransfer && event.dataTransfer.files) { addFiles(event.dataTransfer.files); }
    });

    function setResult(item, kind, text, href) {
      var result = item.node.querySelector("[data-result]");
      result.textContent = "";
      result.className = "text-sm " + (kind === "error" ? "text-error" : kind === "info" ? "text-info" : "text-success");
      result.appendChild(document.createTextNode(text + " "));
      if (href) {
        var link = document.createElement("a");
        link.href = href;
        link.className = "link";
        link.textContent = "Open image";
        result.appendChild(link);
      }
      item.node.setAttribute("data-state", kind);
    }

    function send(item) {
      return new Promise(function (resolve) {
        var data = new FormData();
        data.append("file", item.file, item.file.name);
        ["title", "tags", "description"].forEach(function (name) {
          data.append(name, item.node.querySelector('[data-field="' + name + '"]').value);
        });
        data.append("visibility", form.querySelector('[name="visibility"]').value);
        var progress = item.node.querySelector("[data-progress]");
        var xhr = new XMLHttpRequest();
        xhr.open("POST", form.action);
        xhr.setRequestHeader("Accept", "application/json");
        xhr.setRequestHeader("X-CSRF-Token", csrf);
        xhr.upload.addEventListener("progress", function (event) {
          if (event.lengthComputable) { progress.value = Math.round(event.loaded / event.total * 100); }
        });
        xhr.addEventListener("load", function () {
          var body = {};
          try { body = JSON.parse(xhr.responseText); } catch (e) { body = {}; }
          progress.value = 100;
          if (body.id) { item.imageId = body.id; }
          if (xhr.status === 201) {
            item.state = "done";
            progress.classList.add("progress-success");
            setResult(item, "success", body.message || "Uploaded.", body.url);
          } else if (xhr.status === 200 && body.duplicate) {
            item.state = "done";
            progress.classList.add("progress-info");
            setResult(item, "info", body.message || "Already uploaded.", body.url);
          } else {
            item.state = "failed";
            progress.classList.add("progress-error");
            setResult(item, "error", body.detail || ("Upload failed (HTTP " + xhr.status + ")."));
          }
          resolve();
        });
        xhr.addEventListener("error", function () {
          item.state = "failed";
          progress.classList.add("progress-error");
          setResult(item, "error", "Network error: the upload did not reach the server.");
          resolve();
        });
        item.state = "uploading";
        xhr.send(data);
      });
    }

    // When a batch is done: "Add these to an album" posts the uploaded images' ids to the
    // album picker (the same step as ticking tiles in the grid).
    var albumForm = document.querySelector("[data-upload-album]");
    function offerAlbum() {
      if (!albumForm) { return; }
      albumForm.querySelectorAll('input[name="image_id"]').forEach(function (input) { input.remove(); });
      var ids = items.filter(function (item) { return item.state === "done" && item.imageId; })
        .map(function (item) { return item.imageId; });
      ids.forEach(function (id) {
        var input = document.createElement("input");
        input.type = "hidden";
        input.name = "image_id";
        input.value = id;
        albumForm.appendChild(input);
      });
      albumForm.querySelector("[data-upload-album-note]").textContent =
        ids.length + (ids.length === 1 ? " image is" : " images are") + " in your library.";
      albumForm.classList.toggle("hidden", ids.length === 0);
    }

    form.addEventListener("submit", function (event) {
      event.preventDefault();
      var queue = items.filter(function (item) { return item.state === "ready" || item.state === "failed"; });
      if (!queue.length) { input.click(); return; }
      button.disabled = true;
      queue.forEach(function (item) {
        item.node.querySelector("[data-progress]").classList.remove("progress-error");
      });
      var running = 0;
      var index = 0;
      function next() {
        if (index >= queue.length && running === 0) {
          button.disabled = false;
          offerAlbum();
          return;
        }
        while (running < MAX_PARALLEL && index < queue.length) {
          running += 1;
          send(queue[index++]).then(function () { running -= 1; next(); });
        }
      }
      next();
    });
  });
})();
