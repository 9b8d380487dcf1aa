"""Progress fragments are rendered once per state of the transcription, and never served stale."""

from blueprints.fragments import FragmentCache
from extensions import db
from models import ChunkStatus, Transcription, TranscriptionStatus
from tests.support.recordings import make_transcription, recordings_removed_afterwards


def test_the_cache_renders_once_per_key_and_stays_bounded():
    cache = FragmentCache(max_entries=2)
    renders = []

    def render(text):
        return lambda: renders.append(text) or text

    assert cache.get_or_render("a", render("A")) == "A"
    assert cache.get_or_render("a", render("A again")) == "A"
    cache.get_or_render("b", render("B"))
    cache.get_or_render("c", render("C"))  # evicts "a", the least recently used
    assert cache.get_or_render("a", render("A anew")) == "A anew"
    assert renders == ["A", "B", "C", "A anew"]


def test_a_poll_shows_a_chunk_the_moment_it_is_saved(app, client):
    with recordings_removed_afterwards(app):
        with app.app_context():
            transcription = make_transcription(None, status=TranscriptionStatus.RUNNING, chunks=4)
            transcription_id = transcription.id
        url = f"/transcriptions/{transcription_id}/progress"
        first = client.get(url).get_data(as_text=True)
        assert client.get(url).get_data(as_text=True) == first, "an unchanged state gives the same fragment"
        assert "chunk 2 of 4 done" in first
        with app.app_context():
            transcription = db.session.get(Transcription, transcription_id)
            chunk = transcription.chunks[2]
            chunk.status, chunk.text = ChunkStatus.DONE, "the newest words"
            transcription.chunks_done = 3
            db.session.commit()
        after = client.get(url).get_data(as_text=True)
        assert "chunk 3 of 4 done" in after and "the newest words" in after
        # The clocks are the browser's to tick: nothing in a polled fragment depends on the time.
        assert 'data-clock="elapsed"></span>' in after
