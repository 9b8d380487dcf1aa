// The transcript page: times that seek the player, the segment being played, search with
// highlighted matches, and copying the text. Works on a transcript that htmx loads into the page
// when the transcription finishes, as on one rendered with the page.
(function () {
  "use strict";

  const player = () => document.getElementById("player");

  // Times (and, on the finished transcript, whole segments) play the recording from there.
  function seek(milliseconds) {
    const audio = player();
    if (!audio) return;
    audio.currentTime = milliseconds / 1000;
    const playing = audio.play();
    if (playing && playing.catch) playing.catch(function () { /* autoplay refused: the time is set */ });
  }

  document.addEventListener("click", function (event) {
    const stamp = event.target.closest("[data-seek-ms]");
    if (stamp) {
      seek(Number(stamp.dataset.seekMs));
      return;
    }
    const segment = event.target.closest(".segment");
    // A click that ends a text selection is for copying, not for playing.
    if (segment && !String(window.getSelection() || "")) seek(Number(segment.dataset.startMs));
  });

  // The segment being played is marked, so a listener can follow along in the text.
  let starts = [];
  let segments = [];
  let playingIndex = -1;

  function indexSegments() {
    segments = Array.from(document.querySelectorAll("#segments .segment"));
    starts = segments.map(function (segment) { return Number(segment.dataset.startMs); });
    playingIndex = -1;
  }

  function markPlaying() {
    const audio = player();
    if (!audio || !segments.length) return;
    const now = audio.currentTime * 1000;
    let low = 0;
    let high = starts.length - 1;
    let found = -1;
    while (low <= high) { // the last segment that starts at or before now
      const middle = (low + high) >> 1;
      if (starts[middle] <= now) { found = middle; low = middle + 1; } else { high = middle - 1; }
    }
    if (found === playingIndex) return;
    if (playingIndex >= 0 && segments[playingIndex]) segments[playingIndex].classList.remove("playing");
    if (found >= 0) segments[found].classList.add("playing");
    playingIndex = found;
  }

  // Search: every match is highlighted; Enter (or the Enter key again) moves to the next one.
  let matches = [];
  let matchIndex = -1;

  function clearMarks() {
    document.querySelectorAll("#segments mark").forEach(function (mark) {
      mark.replaceWith(document.createTextNode(mark.textContent));
    });
    document.querySelectorAll("#segments .segment-text").forEach(function (text) { text.normalize(); });
    matches = [];
    matchIndex = -1;
  }

  function highlight(query) {
    clearMarks();
    const count = document.getElementById("search-count");
    const needle = query.trim().toLocaleLowerCase();
    if (!needle) {
      count.textContent = "";
      return;
    }
    document.querySelectorAll("#segments .segment-text").forEach(function (element) {
      const text = element.textContent;
      const haystack = text.toLocaleLowerCase();
      let from = 0;
      let at = haystack.indexOf(needle);
      if (at < 0) return;
      const parts = document.createDocumentFragment();
      while (at >= 0) {
        parts.appendChild(document.createTextNode(text.slice(from, at)));
        const mark = document.createElement("mark");
        mark.textContent = text.slice(at, at + needle.length);
        parts.appendChild(mark);
        matches.push(mark);
        from = at + needle.length;
        at = haystack.indexOf(needle, from);
      }
      parts.appendChild(document.createTextNode(text.slice(from)));
      element.replaceChildren(parts);
    });
    count.textContent = matches.length === 0 ? "No match"
      : matches.length === 1 ? "1 match" : matches.length + " matches";
  }

  function nextMatch() {
    if (!matches.length) return;
    if (matchIndex >= 0) matches[matchIndex].classList.remove("current-match");
    matchIndex = (matchIndex + 1) % matches.length;
    const mark = matches[matchIndex];
    mark.classList.add("current-match");
    mark.scrollIntoView({ block: "center" });
    document.getElementById("search-count").textContent =
      (matchIndex + 1) + " of " + matches.length + (matches.length === 1 ? " match" : " matches");
  }

  let searchTimer = null;
  document.addEventListener("input", function (event) {
    if (event.target.id !== "transcript-search") return;
    clearTimeout(searchTimer);
    searchTimer = setTimeout(function () { highlight(event.target.value); }, 120);
  });
  document.addEventListener("keydown", function (event) {
    if (event.target.id === "transcript-search" && event.key === "Enter") {
      event.preventDefault();
      clearTimeout(searchTimer);
      if (!matches.length) highlight(event.target.value);
      nextMatch();
    }
  });

  // Copy: the text, one segment per line.
  function transcriptText() {
    return Array.from(document.querySelectorAll("#segments .segment-text"))
      .map(function (element) { return element.textContent; }).join("\n");
  }

  function copyWithSelection(text) {
    // Browsers give the clipboard API only to secure origins; a server on a LAN address over http is not one.
    const area = document.createElement("textarea");
    area.value = text;
    area.className = "visually-hidden";
    area.setAttribute("readonly", "");
    document.body.appendChild(area);
    area.select();
    const copied = document.execCommand("copy");
    area.remove();
    return copied;
  }

  document.addEventListener("click", function (event) {
    if (!event.target.closest("#copy-transcript")) return;
    const status = document.getElementById("copy-status");
    const text = transcriptText();
    const done = function () { status.textContent = "Copied to the clipboard."; };
    const failed = function () {
      status.textContent = copyWithSelection(text) ? "Copied to the clipboard." : "Copying is not allowed here.";
    };
    if (navigator.clipboard && window.isSecureContext) navigator.clipboard.writeText(text).then(done, failed);
    else failed();
  });

  function enhance() {
    document.querySelectorAll("[data-needs-script]").forEach(function (element) { element.hidden = false; });
    indexSegments();
    markPlaying();
  }

  document.addEventListener("DOMContentLoaded", function () {
    enhance();
    const audio = player();
    if (audio) audio.addEventListener("timeupdate", markPlaying);
  });
  document.addEventListener("htmx:afterSettle", enhance);
})();
