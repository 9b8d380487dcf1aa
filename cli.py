"""Flask CLI commands: `flask celery-test`, `flask init-db`, `flask users ...`."""

from __future__ import annotations

import click
from celery.exceptions import TimeoutError as CeleryTimeout
from flask import Flask, current_app
from flask.cli import with_appcontext
from kombu.utils.url import maybe_sanitize_url

from accounts import AccountError, create_user, normalize_username, set_password
from extensions import db
from models import User
from tasks.celery_app import ensure_broker_reachable

WORKER_COMMAND = "celery -A wsgi.celery_app worker -Q transcription,celery --loglevel INFO"


def register(app: Flask) -> None:
    app.cli.add_command(celery_test)
    app.cli.add_command(init_db)
    app.cli.add_command(users)


@click.command("celery-test")
@click.option("--async", "through_broker", is_flag=True,
              help="Send the health check through the broker to a worker instead of running it here.")
@click.option("--timeout", default=10.0, show_default=True, help="Seconds to wait for a worker's answer.")
@with_appcontext
def celery_test(through_broker: bool, timeout: float) -> None:
    """Run the health check task and say whether Celery works."""
    from tasks.health import health_check_task

    if not through_broker:
        result = health_check_task.apply()
        if result.failed():
            raise click.ClickException(f"The health check failed here: {result.result!r}")
        click.echo(f"OK: the health check ran in this process ({result.result['hostname']}).")
        return

    celery_app = current_app.extensions["celery"]
    broker = maybe_sanitize_url(celery_app.conf.broker_url)
    try:
        ensure_broker_reachable(celery_app, timeout=min(timeout, 5))
    except Exception as exc:
        raise click.ClickException(
            f"Cannot reach the broker at {broker} ({exc.__class__.__name__}: {exc}). "
            "Start Redis there, or set CELERY_BROKER_URL to a broker that runs.") from exc
    replies = celery_app.control.inspect(timeout=min(timeout, 2)).ping()
    if not replies:
        raise click.ClickException(
            f"The broker at {broker} answers, but no worker does. Start one with:\n  {WORKER_COMMAND}")
    try:
        answer = health_check_task.delay().get(timeout=timeout)
    except CeleryTimeout as exc:
        raise click.ClickException(
            f"Workers are up ({', '.join(sorted(replies))}) but none ran the health check within {timeout} s; "
            "they may all be busy, or not listening on the 'celery' queue. Start one with:\n  "
            + WORKER_COMMAND) from exc
    click.echo(f"OK: worker {answer['hostname']} ran the health check through {broker}.")


@click.command("init-db")
@with_appcontext
def init_db() -> None:
    """Create or upgrade the tables to the latest migration, even with AUTO_MIGRATE=0 (like `flask db upgrade`,
    which it also does for a database made before migrations existed)."""
    import database

    database.ensure_schema(current_app, force=True)
    click.echo(f"Database schema at revision {database.current_revision(db.engine)} in "
               f"{maybe_sanitize_url(db.engine.url.render_as_string(hide_password=True))}.")


@click.group("users")
def users() -> None:
    """User accounts: create one, set a password, list them."""


@users.command("create")
@click.argument("username")
@click.option("--admin", is_flag=True, help="Make the user an admin (sees every recording, manages users and jobs).")
@click.password_option(help="The password; asked for (twice, hidden) when not given.")
@with_appcontext
def create_user_command(username: str, admin: bool, password: str) -> None:
    """Add a user."""
    try:
        user = create_user(username, password, is_admin=admin)
    except AccountError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"User {user.username} created{' as an admin' if user.is_admin else ''}.")


@users.command("set-password")
@click.argument("username")
@click.password_option(help="The new password; asked for (twice, hidden) when not given.")
@with_appcontext
def set_password_command(username: str, password: str) -> None:
    """Set a user's password (for a forgotten one); their open sessions end."""
    user = db.session.scalars(db.select(User).where(User.username == normalize_username(username))).one_or_none()
    if user is None:
        raise click.ClickException(f"There is no user {username!r}.")
    try:
        set_password(user, password)
    except AccountError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"Password of {user.username} changed.")


@users.command("list")
@with_appcontext
def list_users_command() -> None:
    """Print every user, admins marked."""
    for user in db.session.scalars(db.select(User).order_by(User.username)):
        click.echo(f"{user.username}{'  (admin)' if user.is_admin else ''}")
