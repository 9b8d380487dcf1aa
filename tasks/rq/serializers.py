"""How job data is written into Redis: JSON, with the same encoder Celery uses for its messages.

kombu's encoder round-trips datetime, date, time, Decimal and UUID values, so a
job's args, kwargs, meta and result follow exactly the rules of a Celery task's.
"""

from __future__ import annotations

from typing import Any

from kombu.utils import json


def dumps(value: Any) -> str:
    """JSON text for `value`; TypeError when it is not JSON-serialisable."""
    if not value and isinstance(value, (tuple, list, dict)):
        return "{}" if isinstance(value, dict) else "[]"  # most jobs: no args or no kwargs
    return json.dumps(value)


def loads(text: str | bytes | None) -> Any:
    """The value back from its JSON text; None for a missing field."""
    if text is None:
        return None
    return json.loads(text)
