"""Alembic environment for Flask-Migrate: migrations run on the app's own engine and metadata."""

import logging

from alembic import context
from flask import current_app

from models import UTCDateTime

config = context.config
logger = logging.getLogger("alembic.env")
migrate_extension = current_app.extensions["migrate"]
target_metadata = migrate_extension.db.metadata


def render_item(type_, obj, autogen_context):
    """Our UTCDateTime is stored as a timezone-aware DATETIME; migrations need not import models."""
    if type_ == "type" and isinstance(obj, UTCDateTime):
        return "sa.DateTime(timezone=True)"
    return False


def skip_empty_revisions(context_, revision, directives):
    """`flask db migrate` with no model change writes no empty revision."""
    if getattr(config.cmd_opts, "autogenerate", False) and directives[0].upgrade_ops.is_empty():
        directives[:] = []
        logger.info("No changes in schema detected.")


def run_migrations_offline() -> None:
    """`flask db upgrade --sql`: print the SQL instead of running it."""
    context.configure(url=migrate_extension.db.engine.url, target_metadata=target_metadata,
                      literal_binds=True, render_item=render_item)
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    options = {"render_item": render_item, "process_revision_directives": skip_empty_revisions,
               **migrate_extension.configure_args}
    with migrate_extension.db.engine.connect() as connection:
        context.configure(connection=connection, target_metadata=target_metadata, **options)
        with context.begin_transaction():
            context.run_migrations()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
