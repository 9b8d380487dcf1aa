"""The signing key of sessions and CSRF tokens must be real in production.

Anyone who knows the key can forge a session cookie and sign in as anyone, so
a production app with the published development key, or with a short one,
refuses to start instead of running open.
"""

from __future__ import annotations

from collections.abc import Mapping

from config import DEVELOPMENT_SECRET_KEY

MIN_SECRET_KEY_LENGTH = 32
HOW_TO_SET = ("Set SECRET_KEY in the environment or in .env to a long random value, e.g. the output of\n"
              "  python3 -c 'import secrets; print(secrets.token_hex(32))'")


class InsecureSecretKey(RuntimeError):
    """The app would start with a SECRET_KEY that others know or can guess."""


def check_secret_key(config: Mapping) -> None:
    """Raise InsecureSecretKey if the config demands a strong key and does not have one."""
    if not config.get("REQUIRE_STRONG_SECRET_KEY"):
        return
    key = config.get("SECRET_KEY") or ""
    if not key or key == DEVELOPMENT_SECRET_KEY:
        raise InsecureSecretKey("SECRET_KEY is not set (the development default is public: anyone can read it in "
                                f"the source); APP_ENV=production refuses to start without a real one. {HOW_TO_SET}")
    if len(key) < MIN_SECRET_KEY_LENGTH:
        raise InsecureSecretKey(f"SECRET_KEY has {len(key)} characters; APP_ENV=production needs at least "
                                f"{MIN_SECRET_KEY_LENGTH}. {HOW_TO_SET}")
