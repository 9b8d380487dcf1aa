"""A person's path through the app in Chromium: upload through the page, watch the progress page
finish without a reload, play from a segment, search, download the SRT. Screenshots of each page."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.support.recordings import recordings_removed_afterwards
from tests.support.subtitles import assert_valid_timeline, parse_subtitles
from transcription.audio import chunk_count

RUN_TIMEOUT_MS = 60_000


@pytest.fixture()
def slow_chunks(app, fake_openai, monkeypatch):
    """30-second chunks answered after a pause, so the page is seen mid-run."""
    monkeypatch.setitem(app.config, "CHUNK_SECONDS", 30)
    fake_openai.delay_seconds = 2.0


def test_upload_watch_play_and_download(app, worker, slow_chunks, fake_openai, make_recording, signed_in_page,
                                        screenshot_dir):
    page = signed_in_page
    path, words = make_recording(140, seed=41)
    with recordings_removed_afterwards(app):
        expect(page.get_by_role("heading", name="Transcribe a recording")).to_be_visible()

        # The real file chooser, as a person clicking the drop zone's input.
        with page.expect_file_chooser() as chooser:
            page.locator("#audio").click()
        chooser.value.set_files(path)
        expect(page.locator("#file-choice")).to_contain_text(path.name)
        # What the upload's status line says, kept across the navigation that follows the upload.
        page.evaluate("""() => {
            const status = document.getElementById("upload-status");
            new MutationObserver(() => sessionStorage.setItem("upload", (sessionStorage.getItem("upload") || "")
                + "|" + status.textContent)).observe(status, {childList: true, characterData: true, subtree: true});
        }""")
        page.get_by_role("button", name="Upload and transcribe").click()

        page.wait_for_url(re.compile(r"/transcriptions/\d+$"))
        told = page.evaluate("sessionStorage.getItem('upload')") or ""
        assert "Uploaded. Checking the recording" in told, f"the upload went through XMLHttpRequest: {told!r}"
        page.evaluate("window.sameDocument = true")  # gone if the page reloads
        progress = page.locator("#progress")
        expect(progress).to_have_attribute("data-status", "running", timeout=RUN_TIMEOUT_MS)
        # Mid-run: some chunks done, others not yet.
        expect(page.locator(".chunk-map .chunk-done").first).to_be_visible(timeout=RUN_TIMEOUT_MS)
        expect(progress).to_have_attribute("data-status", "running")
        chunks = chunk_count(140_000, 30_000, lanes=app.config["TRANSCRIPTION_CONCURRENCY"])
        assert page.locator(".chunk-map .chunk").count() == chunks
        expect(page.locator(".live-chunk").first).to_be_visible()
        # Polled fragments leave the clocks to progress.js, which keeps them ticking.
        expect(page.locator('#progress [data-clock="elapsed"]')).to_have_text(re.compile(r"^\d+:\d\d$"))
        expect(page.locator('#progress [data-clock="remaining-label"]')).to_have_text("left (estimate)")
        expect(page.locator("#progress-announcer")).to_contain_text(re.compile(rf"Chunk \d+ of {chunks} done"))
        page.screenshot(path=screenshot_dir / "progress.png", full_page=True)
        fits_a_phone(page, "progress-phone", screenshot_dir)
        page.set_viewport_size({"width": 1200, "height": 860})

        expect(progress).to_have_attribute("data-status", "finished", timeout=RUN_TIMEOUT_MS)
        segments = page.locator("#segments .segment")
        expect(segments.first).to_be_visible()
        assert page.evaluate("window.sameDocument") is True, "the page updated itself, without a reload"
        assert " ".join(segments.locator(".segment-text").all_inner_texts()) == " ".join(w.text for w in words)
        expect(page.locator("#progress-announcer")).to_have_text(re.compile("Transcription finished"))
        page.screenshot(path=screenshot_dir / "transcript.png")

        # The player has the recording (served with Range requests) and seeks where a segment starts.
        page.wait_for_function("document.getElementById('player').readyState >= 1")
        target = segments.nth(6)
        start_s = int(target.get_attribute("data-start-ms")) / 1000
        target.locator(".segment-text").click()
        page.wait_for_function(f"Math.abs(document.getElementById('player').currentTime - {start_s}) < 1.5")
        expect(target).to_have_class(re.compile(r"\bplaying\b"))
        # By keyboard: Tab to a segment's time and press Enter.
        later = segments.nth(12)
        later_s = int(later.get_attribute("data-start-ms")) / 1000
        later.locator(".stamp").focus()
        page.keyboard.press("Enter")
        page.wait_for_function(f"Math.abs(document.getElementById('player').currentTime - {later_s}) < 1.5")

        # Search highlights every match.
        digit = words[3].text
        page.get_by_label("Find in the transcript").fill(digit)
        expected_matches = sum(1 for w in words if w.text == digit)
        expect(page.locator("#segments mark")).to_have_count(expected_matches)
        expect(page.locator("#search-count")).to_have_text(f"{expected_matches} matches")
        page.get_by_label("Find in the transcript").press("Enter")
        expect(page.locator("mark.current-match")).to_have_count(1)

        with page.expect_download() as download_info:
            page.get_by_role("link", name="Download .srt").click()
        download = download_info.value
        assert download.suggested_filename == path.stem + ".srt"
        cues = parse_subtitles(open(download.path(), encoding="utf-8").read(), "srt")
        assert_valid_timeline(cues, duration_ms=140_000)
        assert " ".join(cue.text for cue in cues) == " ".join(w.text for w in words)
        first_word = words[0]
        assert abs(cues[0].start_ms - first_word.start_ms) < 60, "cue times are on the recording's timeline"

        page.context.grant_permissions(["clipboard-read", "clipboard-write"])
        page.get_by_role("button", name="Copy text").click()
        expect(page.locator("#copy-status")).to_have_text("Copied to the clipboard.")
        copied = page.evaluate("navigator.clipboard.readText()")
        assert copied.split() == [w.text for w in words]

        fits_a_phone(page, "transcript-phone", screenshot_dir)

        # The recordings list has it; deleting asks first, then removes it.
        page.set_viewport_size({"width": 1200, "height": 860})
        page.get_by_role("link", name="Recordings").first.click()
        row = page.locator(".recording-list tbody tr", has_text=path.name)
        expect(row.locator(".badge")).to_have_text("finished")
        expect(row).to_contain_text("2:20")
        page.screenshot(path=screenshot_dir / "upload.png")
        fits_a_phone(page, "upload-phone", screenshot_dir)
        row.get_by_role("link", name=re.compile("^Delete")).click()
        expect(page.get_by_role("heading", name=re.compile("^Delete"))).to_be_visible()
        page.get_by_role("button", name="Delete permanently").click()
        expect(page.locator(".flash")).to_contain_text("Deleted")
        expect(page.locator(".recording-list tbody tr", has_text=path.name)).to_have_count(0)


def fits_a_phone(page, name: str, screenshot_dir) -> None:
    """The page at a phone's width: nothing wider than the screen (no sideways scrolling)."""
    page.set_viewport_size({"width": 390, "height": 844})
    page.evaluate("window.scrollTo(0, 0)")
    assert page.evaluate("document.documentElement.scrollWidth") <= 390, f"{name}: wider than a phone"
    page.screenshot(path=screenshot_dir / f"{name}.png")


def drop_files(page, files: list[tuple[str, int]]) -> None:
    """Drop files (name, size in bytes) on the drop zone, as dragging them from the desktop does."""
    transfer = page.evaluate_handle("""files => {
        const transfer = new DataTransfer();
        for (const [name, size] of files) transfer.items.add(new File([new Uint8Array(size)], name));
        return transfer;
    }""", files)
    page.dispatch_event("#dropzone", "drop", {"dataTransfer": transfer})


def test_the_browser_checks_type_and_size_before_sending_anything(app, signed_in_page, tmp_path, monkeypatch):
    monkeypatch.setitem(app.config, "MAX_UPLOAD_MB", 1)
    page = signed_in_page
    page.reload()
    posts: list[str] = []
    page.on("request", lambda request: posts.append(request.url) if request.method == "POST" else None)
    error = page.locator("#audio-error")

    notes = tmp_path / "minutes.txt"
    notes.write_text("not a recording")
    page.locator("#audio").set_input_files(notes)
    expect(error).to_have_text(re.compile("Unsupported file type"))
    page.get_by_role("button", name="Upload and transcribe").click()
    expect(error).to_be_visible()
    expect(page.locator("#audio")).to_be_focused()

    drop_files(page, [("a.mp3", 10), ("b.mp3", 10)])
    expect(error).to_have_text("Drop one recording at a time.")
    drop_files(page, [("big session.wav", 2 * 1024 * 1024)])
    expect(error).to_have_text(re.compile(r"2\.0 MB, larger than the 1 MB limit"))
    page.get_by_role("button", name="Upload and transcribe").click()
    drop_files(page, [("empty.m4a", 0)])
    expect(error).to_have_text("The file is empty.")
    drop_files(page, [("standup.ogg", 4096)])
    expect(error).to_be_hidden()
    expect(page.locator("#file-choice")).to_have_text("standup.ogg · 4 KB")
    assert page.locator("#audio").evaluate("input => input.files[0].name") == "standup.ogg", "the drop fills the input"
    assert posts == [], "nothing was sent"
