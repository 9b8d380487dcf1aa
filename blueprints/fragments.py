"""Rendered progress fragments, kept per transcription state.

Every open progress page polls every 2 s, while a transcription's state changes
only when a chunk starts or finishes (minutes apart with real recordings). The
fragment is a pure function of the state it was read from (the browser works
out the clocks), so it is rendered once per state and served from here until
the state changes. Bounded in entries and in size; per process.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable

MAX_ENTRIES = 512
MAX_FRAGMENT_CHARS = 32_000  # a fragment carrying many chunks' text is rendered each time


class FragmentCache:
    def __init__(self, max_entries: int = MAX_ENTRIES):
        self._entries: OrderedDict[Hashable, str] = OrderedDict()
        self._max_entries = max_entries
        self._lock = threading.Lock()  # gunicorn's gthread workers serve requests from several threads

    def get_or_render(self, key: Hashable, render: Callable[[], str]) -> str:
        with self._lock:
            html = self._entries.get(key)
            if html is not None:
                self._entries.move_to_end(key)
                return html
        html = render()
        if len(html) <= MAX_FRAGMENT_CHARS:
            with self._lock:
                self._entries[key] = html
                if len(self._entries) > self._max_entries:
                    self._entries.popitem(last=False)
        return html


progress_fragments = FragmentCache()
