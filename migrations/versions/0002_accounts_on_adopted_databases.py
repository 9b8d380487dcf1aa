"""accounts on databases adopted from before them

A database that create_all built before accounts existed is stamped 0001 when it
is adopted (database.ensure_schema), though it has no users table and no
session_audio.owner_id or audio_deleted_at, which 0001 creates for new
databases. This adds whatever of them is missing; on a database made by 0001 it
does nothing. Recordings from before accounts get no owner: only admins see them.

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade():
    inspector = sa.inspect(op.get_bind())
    if not inspector.has_table("users"):
        op.create_table(
            "users",
            sa.Column("id", sa.Integer(), nullable=False),
            sa.Column("username", sa.String(length=64), nullable=False),
            sa.Column("password_hash", sa.String(length=255), nullable=False),
            sa.Column("is_admin", sa.Boolean(), nullable=False),
            sa.Column("session_token", sa.String(length=64), nullable=False),
            sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
            sa.PrimaryKeyConstraint("id"),
            sa.UniqueConstraint("username"),
        )
    columns = {column["name"] for column in inspector.get_columns("session_audio")}
    missing = {"owner_id", "audio_deleted_at"} - columns
    if not missing:
        return
    with op.batch_alter_table("session_audio", schema=None) as batch_op:
        if "owner_id" in missing:
            batch_op.add_column(sa.Column("owner_id", sa.Integer(), nullable=True))
            batch_op.create_foreign_key("fk_session_audio_owner_id_users", "users", ["owner_id"], ["id"])
            batch_op.create_index(batch_op.f("ix_session_audio_owner_id"), ["owner_id"], unique=False)
        if "audio_deleted_at" in missing:
            batch_op.add_column(sa.Column("audio_deleted_at", sa.DateTime(timezone=True), nullable=True))


def downgrade():
    pass  # 0001 holds all of it for every database; there is nothing of this revision's own to undo
