// The upload form, enhanced: drop a file anywhere on the drop zone, check its type and size before
// sending, and show a progress bar while the bytes travel (XMLHttpRequest upload events).
// Without this script the form posts as a plain multipart form; the server checks everything again.
(function () {
  "use strict";

  function formatBytes(bytes) {
    if (bytes >= 1024 * 1024 * 1024) return (bytes / (1024 * 1024 * 1024)).toFixed(2) + " GB";
    if (bytes >= 1024 * 1024) return (bytes / (1024 * 1024)).toFixed(1) + " MB";
    return Math.max(1, Math.round(bytes / 1024)) + " KB";
  }

  function formatSeconds(seconds) {
    seconds = Math.max(0, Math.round(seconds));
    if (seconds < 60) return seconds + " s";
    const minutes = Math.floor(seconds / 60);
    return minutes + " min " + String(seconds % 60).padStart(2, "0") + " s";
  }

  function init(form) {
    const input = form.querySelector("input[type=file]");
    const zone = form.querySelector("#dropzone");
    const choice = form.querySelector("#file-choice");
    const error = form.querySelector("#audio-error");
    const panel = form.querySelector("#upload-progress");
    const bar = form.querySelector("#upload-bar");
    const status = form.querySelector("#upload-status");
    const submit = form.querySelector("#upload-submit");
    const stop = form.querySelector("#upload-cancel");
    const maxBytes = Number(form.dataset.maxUploadMb) * 1024 * 1024;
    const allowed = form.dataset.allowedExtensions.split(",");
    let request = null;

    function showError(message) {
      error.textContent = message;
      error.hidden = !message;
      zone.classList.toggle("has-error", Boolean(message));
      if (message) input.setAttribute("aria-invalid", "true");
      else input.removeAttribute("aria-invalid");
    }

    // The same rules as the server's, so a wrong file is refused before minutes of uploading.
    function problemWith(file) {
      if (!file) return "Choose a recording to upload.";
      const extension = file.name.includes(".") ? file.name.split(".").pop().toLowerCase() : "";
      if (!allowed.includes(extension)) {
        return "Unsupported file type. Upload one of: " + allowed.join(", ") + ".";
      }
      if (file.size === 0) return "The file is empty.";
      if (maxBytes > 0 && file.size > maxBytes) {
        return "The file is " + formatBytes(file.size) + ", larger than the " + form.dataset.maxUploadMb +
          " MB limit. Split the recording or compress it (for example to MP3 or M4A) and upload it again.";
      }
      return "";
    }

    function describeChoice() {
      const file = input.files[0];
      choice.hidden = !file;
      choice.textContent = file ? file.name + " · " + formatBytes(file.size) : "";
      showError(file ? problemWith(file) : "");
    }

    input.addEventListener("change", describeChoice);

    ["dragenter", "dragover"].forEach(function (type) {
      zone.addEventListener(type, function (event) {
        event.preventDefault();
        zone.classList.add("dragging");
      });
    });
    ["dragleave", "drop"].forEach(function (type) {
      zone.addEventListener(type, function (event) {
        event.preventDefault();
        if (type === "drop" || !zone.contains(event.relatedTarget)) zone.classList.remove("dragging");
      });
    });
    zone.addEventListener("drop", function (event) {
      const files = event.dataTransfer && event.dataTransfer.files;
      if (!files || !files.length) return;
      if (files.length > 1) {
        showError("Drop one recording at a time.");
        return;
      }
      input.files = files;
      describeChoice();
    });

    function finish() {
      request = null;
      submit.disabled = false;
      stop.hidden = true;
    }

    form.addEventListener("submit", function (event) {
      const problem = problemWith(input.files[0]);
      if (problem) {
        event.preventDefault();
        showError(problem);
        input.focus();
        return;
      }
      if (!window.FormData || !window.XMLHttpRequest) return; // the plain form post
      event.preventDefault();
      const started = performance.now();
      request = new XMLHttpRequest();
      request.open("POST", form.getAttribute("action") || window.location.pathname);
      request.upload.addEventListener("progress", function (progress) {
        if (!progress.lengthComputable) return;
        const seconds = (performance.now() - started) / 1000;
        const rate = progress.loaded / Math.max(seconds, 0.001);
        const percent = Math.floor((100 * progress.loaded) / progress.total);
        bar.value = percent;
        let text = "Uploading: " + formatBytes(progress.loaded) + " of " + formatBytes(progress.total) +
          " (" + percent + "%)";
        if (seconds > 2 && progress.loaded < progress.total) {
          text += ", about " + formatSeconds((progress.total - progress.loaded) / rate) + " left";
        }
        status.textContent = text;
      });
      request.upload.addEventListener("load", function () {
        bar.value = 100;
        status.textContent = "Uploaded. Checking the recording…";
      });
      request.addEventListener("load", function () {
        const landed = new URL(request.responseURL, window.location.href);
        if (request.status < 400 && landed.pathname !== window.location.pathname) {
          window.location.assign(landed.href); // the redirect to the progress page
          return;
        }
        // The server refused it: show its page (the form with its message) in place.
        const page = new DOMParser().parseFromString(request.responseText, "text/html");
        const main = page.querySelector("main");
        finish();
        if (main) {
          document.querySelector("main").replaceWith(main);
          const newForm = document.getElementById("upload-form");
          if (newForm) init(newForm);
          const message = document.querySelector("main [role=alert]:not([hidden])");
          if (message) message.scrollIntoView({ block: "center" });
        } else {
          status.textContent = "The upload failed (HTTP " + request.status + "). Please try again.";
        }
      });
      request.addEventListener("error", function () {
        finish();
        status.textContent = "The connection was lost during the upload. Please try again.";
      });
      request.addEventListener("abort", function () {
        finish();
        panel.hidden = true;
        status.textContent = "";
      });
      panel.hidden = false;
      bar.value = 0;
      status.textContent = "Uploading…";
      submit.disabled = true;
      stop.hidden = false;
      request.send(new FormData(form));
    });

    stop.addEventListener("click", function () {
      if (request) request.abort();
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    const form = document.getElementById("upload-form");
    if (form) init(form);
  });
})();
