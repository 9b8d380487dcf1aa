"""The config an app built in the tests' process needs to share the workers' settings."""

from __future__ import annotations


def app_config(test_env: dict[str, str]) -> dict:
    """create_app overrides matching `test_env` (the environment the test workers get)."""
    return {
        "TESTING": True,
        "SQLALCHEMY_DATABASE_URI": test_env["DATABASE_URL"],
        "CELERY_BROKER_URL": test_env["CELERY_BROKER_URL"],
        "CELERY_RESULT_BACKEND": test_env["CELERY_RESULT_BACKEND"],
        "UPLOAD_FOLDER": test_env["UPLOAD_FOLDER"],
        "OPENAI_API_KEY": test_env["OPENAI_API_KEY"],
        "OPENAI_BASE_URL": test_env["OPENAI_BASE_URL"],
    }
