"""Job callbacks: `on_success`, `on_failure` and `on_stopped`, stored by name like the job function."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .utils import function_name, parse_timeout

CALLBACK_TIMEOUT = 60


class Callback:
    """A function to call when a job succeeds, fails or is stopped.

    Called as RQ calls them: `on_success(job, connection, result)`,
    `on_failure(job, connection, type, value, traceback)`, `on_stopped(job, connection)`.
    """

    def __init__(self, func: Callable[..., Any] | str, timeout: int | str | None = None):
        self.name = function_name(func)
        self.timeout = parse_timeout(timeout) or CALLBACK_TIMEOUT

    def __repr__(self) -> str:
        return f"Callback({self.name!r}, timeout={self.timeout})"


def as_callback(value: Callback | Callable[..., Any] | str | None) -> Callback | None:
    """RQ accepts a bare callable or name as well as a Callback."""
    if value is None or isinstance(value, Callback):
        return value
    return Callback(value)
