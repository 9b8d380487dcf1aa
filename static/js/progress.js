// The progress page between polls: tells screen readers how far the transcription is, through the
// page's polite live region (once per finished chunk and once at the end, not on every 2-second
// poll); keeps the text of finished chunks in recording order (they arrive in the order they
// finish); hides Cancel once there is nothing left to cancel, and fetches the timed transcript
// when the transcription has finished.
(function () {
  "use strict";

  const ENDED = ["finished", "failed", "canceled"];
  let lastAnnounced = null;

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
  });

  document.addEventListener("htmx:afterSwap", function () {
    const progress = section();
    if (!progress) return;
    keepChunksInOrder();
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
