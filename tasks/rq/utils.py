"""Small helpers shared by the job API: timeouts, UTC timestamps, names and ids."""

from __future__ import annotations

import importlib
import inspect
import re
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

from celery import Task

from .exceptions import TimeoutFormatError

JOB_ID_PATTERN = re.compile(r"[A-Za-z0-9_-]+")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"


def parse_timeout(value: int | float | str | None) -> int | None:
    """Seconds from an int, a numeric string or a string like '90s', '3m', '1h', '2d'."""
    if value is None or isinstance(value, int):
        return value
    if isinstance(value, float):
        return int(value)
    text = str(value).strip()
    try:
        return int(text)
    except ValueError:
        pass
    unit = _UNIT_SECONDS.get(text[-1:].lower())
    if unit is None or not text[:-1].isdigit():
        raise TimeoutFormatError(
            f"Timeout must be an integer or a string like '1h', '23m', '45s', '2d'; got {value!r}"
        )
    return int(text[:-1]) * unit


def utcnow() -> datetime:
    """The current time as a timezone-aware UTC datetime."""
    return datetime.now(UTC)


def utcformat(moment: datetime) -> str:
    """A datetime as stored in Redis: ISO 8601 in UTC with a trailing Z (as RQ stores it)."""
    return moment.astimezone(UTC).strftime(_FORMAT)


def utcparse(text: str | None) -> datetime | None:
    """The stored form back to a timezone-aware UTC datetime; None stays None."""
    if not text:
        return None
    return datetime.fromisoformat(text)  # reads the trailing Z as UTC, far faster than strptime


def as_text(value: bytes | str | None) -> str | None:
    """Redis answers in bytes unless the client decodes; accept both."""
    if isinstance(value, bytes):
        return value.decode()
    return value


def decode_hash(mapping: Mapping) -> dict[str, str]:
    """An HGETALL answer (bytes or str) as a dict of str."""
    return {as_text(key): as_text(value) for key, value in mapping.items()}


def validate_job_id(job_id: str) -> None:
    """Job ids become Redis keys and Celery task ids: only letters, digits, '_' and '-'."""
    if not isinstance(job_id, str):
        raise TypeError(f"Job id must be a string, not {type(job_id).__name__}")
    if not JOB_ID_PATTERN.fullmatch(job_id):
        raise ValueError(f"Job id {job_id!r} may only contain letters, numbers, underscores and dashes")


def function_name(func: Callable | str) -> str:
    """The importable name a job stores for its function: a dotted path or a Celery task name."""
    if isinstance(func, str):
        return func
    if isinstance(func, Task):
        return func.name
    if inspect.isfunction(func) or inspect.isbuiltin(func):
        name = f"{func.__module__}.{func.__qualname__}"
        # A worker can only import module-level functions; fail now rather than on the worker.
        if "<" in func.__qualname__ or func.__module__ == "__main__":
            raise ValueError(f"{name} is not importable by a worker; use a module-level function")
        return name
    raise TypeError(f"Expected a function, a Celery task or a dotted path, got {func!r}")


def import_attribute(name: str) -> Any:
    """The object a dotted path names: 'package.module.function' or 'package.module.Class.method'."""
    module_name, _, attribute_path = name.rpartition(".")
    attributes = [attribute_path]
    while module_name:
        try:
            target: Any = importlib.import_module(module_name)
        except ImportError:
            module_name, _, parent = module_name.rpartition(".")
            attributes.insert(0, parent)
            continue
        for attribute in attributes:
            target = getattr(target, attribute)
        return target
    raise ImportError(f"No module found for {name!r}")


def get_call_string(func_name: str, args: tuple | list, kwargs: Mapping, max_length: int = 75) -> str:
    """How the call reads in Python, e.g. `app.tasks.export_posts(42, fmt='csv')` (RQ's description)."""

    def short(value: Any) -> str:
        text = repr(value)
        return text if len(text) <= max_length else text[:max_length] + "..."

    parts = [short(arg) for arg in args]
    parts += sorted(f"{key}={short(value)}" for key, value in kwargs.items())
    return f"{func_name}({', '.join(parts)})"
