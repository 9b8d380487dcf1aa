"""chunk format: MP3 sources send their own frames

Chunks of a transcription planned before this revision were all FLAC. A database
that create_all built (adopted at 0001, see 0002) may have the column already.

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade():
    columns = {column["name"] for column in sa.inspect(op.get_bind()).get_columns("transcription")}
    if "chunk_format" in columns:
        return
    with op.batch_alter_table("transcription", schema=None) as batch_op:
        batch_op.add_column(sa.Column("chunk_format", sa.String(length=8), nullable=False, server_default="flac"))


def downgrade():
    with op.batch_alter_table("transcription", schema=None) as batch_op:
        batch_op.drop_column("chunk_format")
