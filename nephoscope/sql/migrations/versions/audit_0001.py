"""The audit trail: records and the chain's head, as the pre-alembic ``audit.sqlite`` had them."""

import sqlalchemy as sa
from alembic import op

from nephoscope.sql.types import TABLE_OPTIONS, big_integer, key, long_text

revision = "audit_0001"
down_revision = None
branch_labels = ("audit",)
depends_on = None


def upgrade() -> None:
    op.create_table(
        "audit_records",
        sa.Column("seq", big_integer, primary_key=True, autoincrement=False),
        sa.Column("time_ms", big_integer, nullable=False),
        sa.Column("project", key(255), nullable=False),
        sa.Column("initiator_project", key(255), nullable=False),
        *(sa.Column(name, sa.Text, nullable=False) for name in (
            "initiator", "initiator_name", "address", "action", "outcome", "target_type", "target_id")),
        sa.Column("record", long_text, nullable=False),
        sa.Column("hash", key(64), nullable=False),
        **TABLE_OPTIONS,
    )
    op.create_index("audit_records_time", "audit_records", ["time_ms", "seq"])
    op.create_index("audit_records_project", "audit_records", ["project", "time_ms"])
    op.create_index("audit_records_initiator_project", "audit_records", ["initiator_project", "time_ms"])
    op.create_table(
        "audit_head",
        sa.Column("one", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("seq", big_integer, nullable=False),
        sa.Column("hash", key(64), nullable=False),
        sa.CheckConstraint("one = 1", name="audit_head_one"),
        **TABLE_OPTIONS,
    )


def downgrade() -> None:
    op.drop_table("audit_head")
    op.drop_table("audit_records")
