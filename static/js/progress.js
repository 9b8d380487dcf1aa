// The progress page between polls: tells screen readers how far the transcription is, through the
// page's polite live region (once per finished chunk and once at the end, not on every 2-second
// poll); keeps the text of finished chunks in recording order (they arrive in the order they
// finish); ticks the elapsed and time-left clocks every second (polled fragments leave them to us,
// so that the server renders one fragment per state of the transcription); hides Cancel once there
// is nothing left to cancel, and fetches the timed transcript when the transcription has finished.
(function () {
  "use strict";

  const ENDED = ["finished", "failed", "canceled"];
  let lastAnnounced = null;
  let serverOffsetMs = 0; // the server's clock minus this browser's

  function noteServerTime(serverMs) {
    if (serverMs > 0) serverOffsetMs = serverMs - Date.now();
  }

  // As transcription/formats.py writes them: 7:05, 1:02:03; "about 12 min".
  function clock(ms) {
    const total = Math.floor(Math.max(0, ms) / 1000);
    const hours = Math.floor(total / 3600), minutes = Math.floor(total / 60) % 60, seconds = total % 60;
    const pad = function (n) { return String(n).padStart(2, "0"); };
    return hours ? hours + ":" + pad(minutes) + ":" + pad(seconds) : minutes + ":" + pad(seconds);
  }

  function roughDuration(ms) {
    const minutes = Math.round(Math.max(0, ms) / 60000);
    if (minutes < 1) return "under a minute";
    const hours = Math.floor(minutes / 60), rest = minutes % 60;
    if (!hours) return "about " + rest + " min";
    return rest ? "about " + hours + " h " + rest + " min" : "about " + hours + " h";
  }

  function tickClocks() {
    const progress = section();
    if (!progress || ENDED.includes(progress.dataset.status)) return;
    const started = Number(progress.dataset.startedAtMs);
    const elapsed = started ? Math.max(0, Date.now() + serverOffsetMs - started) : 0;
    const elapsedValue = progress.querySelector('[data-clock="elapsed"]');
    if (elapsedValue) elapsedValue.textContent = clock(elapsed);
    const processed = Number(progress.dataset.processedMs), duration = Number(progress.dataset.durationMs);
    const estimating = !(progress.dataset.status === "running" && processed > 0 && elapsed > 0);
    const remainingValue = progress.querySelector('[data-clock="remaining"]');
    const remainingLabel = progress.querySelector('[data-clock="remaining-label"]');
    if (remainingValue) {
      remainingValue.textContent = estimating ? "…" : roughDuration(elapsed * Math.max(0, duration - processed) / processed);
    }
    if (remainingLabel) remainingLabel.textContent = estimating ? "estimating the time left" : "left (estimate)";
  }

  function section() {
    return document.getElementById("progress");
  }

  function keepChunksInOrder() {
    const text = document.getElementById("live-text");
    if (!text) return;
    const chunks = Array.from(text.children);
    const sorted = chunks.slice().sort(function (a, b) { return a.dataset.index - b.dataset.index; });
    if (sorted.some(function (chunk, i) { return chunk !== chunks[i]; })) text.replaceChildren.apply(text, sorted);
  }

  document.addEventListener("DOMContentLoaded", function () {
    const progress = section();
    lastAnnounced = progress ? progress.dataset.announce : null; // what the page already shows is not news
    if (progress) noteServerTime(Number(progress.dataset.nowMs));
    window.setInterval(tickClocks, 1000);
  });

  document.addEventListener("htmx:afterRequest", function (event) {
    const date = event.detail.xhr && event.detail.xhr.getResponseHeader("Date");
    if (date) noteServerTime(Date.parse(date));
  });

  document.addEventListener("htmx:afterSwap", function () {
    const progress = section();
    if (!progress) return;
    keepChunksInOrder();
    tickClocks();
    const ended = ENDED.includes(progress.dataset.status);
    const cancel = document.getElementById("cancel-form");
    if (cancel && ended) cancel.hidden = true;
    if (progress.dataset.transcriptUrl) {
      htmx.ajax("GET", progress.dataset.transcriptUrl, { target: "#transcript-slot", swap: "innerHTML" });
      delete progress.dataset.transcriptUrl; // once
    }
    const message = progress.dataset.announce;
    const announcer = document.getElementById("progress-announcer");
    if (!announcer || !message || message === lastAnnounced) return;
    lastAnnounced = message;
    announcer.textContent = progress.dataset.status === "finished"
      ? "Transcription finished. The transcript is below the progress." : message;
  });
})();
