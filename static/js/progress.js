// Tells screen readers how a transcription progresses, through the page's polite live region:
// once per finished chunk and once when it ends, not on every 2-second poll.
(function () {
  "use strict";

  let lastAnnounced = null;

  function current() {
    const section = document.getElementById("progress");
    return section ? section.dataset.announce : null;
  }

  document.addEventListener("DOMContentLoaded", function () {
    lastAnnounced = current(); // what the page already shows is not news
  });

  document.addEventListener("htmx:afterSwap", function () {
    const message = current();
    const announcer = document.getElementById("progress-announcer");
    if (!announcer || !message || message === lastAnnounced) return;
    lastAnnounced = message;
    const section = document.getElementById("progress");
    announcer.textContent = section.dataset.status === "finished"
      ? "Transcription finished. The transcript is below the progress." : message;
  });
})();
