"""Private by default: sign-in on every page, ownership of recordings, CSRF and security headers.

`check_secret_key(config)` runs before anything else in create_app; `init_app(app)`
after the CSRF extension.
"""

from __future__ import annotations

from flask import Flask

from security.headers import set_security_headers
from security.login import init_login
from security.secret_key import InsecureSecretKey, check_secret_key

__all__ = ["InsecureSecretKey", "check_secret_key", "init_app"]


def init_app(app: Flask) -> None:
    init_login(app)
    app.after_request(set_security_headers)
