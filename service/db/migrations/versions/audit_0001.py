"""audit: the NEN 7513 audit log (service/audit.py), append-only at the database level, kept RETENTION_YEARS.

Revision ID: audit_0001
Revises: (a branch's base)

Append-only, on both engines, by triggers no role of the service's passes: an UPDATE is refused, and so is a
DELETE of a row younger than the retention (DOMAIN.md §4.1 item 7: NEN 7513 logs at least 5 years, Stcrt. 2019,
38007); only what is past it may be deleted (the housekeeper's purge). On PostgreSQL a TRUNCATE is refused too,
and the purge is `audit_purge()`: a SECURITY DEFINER function owned by the schema's owner, the only way a service
role that has SELECT and INSERT alone (service/db/migrate.py grant) deletes anything. A log from before this
revision gets the column `patient_identifier` if it lacks it; its old triggers (which refused every DELETE) are
replaced.
"""

from __future__ import annotations

from alembic import op
from sqlalchemy import BigInteger, Column, Index, Integer, MetaData, Table, Text

from service.db.migrations.helpers import add_missing_column, create_missing

revision = "audit_0001"
down_revision = None
branch_labels = ("audit",)
depends_on = None

RETENTION_YEARS = 5
REFUSED = "audit log is append-only (rows are deleted only after the retention period)"

SQLITE = [
    "DROP TRIGGER IF EXISTS audit_no_update",
    "DROP TRIGGER IF EXISTS audit_no_delete",
    f"CREATE TRIGGER audit_no_update BEFORE UPDATE ON audit BEGIN SELECT RAISE(ABORT, '{REFUSED}'); END",
    (
        "CREATE TRIGGER audit_no_delete BEFORE DELETE ON audit WHEN julianday(OLD.recorded) IS NULL "
        f"OR julianday(OLD.recorded) >= julianday('now', '-{RETENTION_YEARS} years') "
        f"BEGIN SELECT RAISE(ABORT, '{REFUSED}'); END"
    ),
]

POSTGRESQL = [
    f"""CREATE OR REPLACE FUNCTION audit_refuse() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' AND OLD.recorded::timestamptz < now() - interval '{RETENTION_YEARS} years' THEN
        RETURN OLD;
    END IF;
    RAISE EXCEPTION '{REFUSED}';
END $$""",
    "DROP TRIGGER IF EXISTS audit_append_only ON audit",
    "CREATE TRIGGER audit_append_only BEFORE UPDATE OR DELETE ON audit FOR EACH ROW EXECUTE FUNCTION audit_refuse()",
    "DROP TRIGGER IF EXISTS audit_no_truncate ON audit",
    "CREATE TRIGGER audit_no_truncate BEFORE TRUNCATE ON audit FOR EACH STATEMENT EXECUTE FUNCTION audit_refuse()",
    f"""CREATE OR REPLACE FUNCTION audit_purge() RETURNS bigint LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, {{schema}}, pg_temp AS $$
DECLARE gone bigint;
BEGIN
    DELETE FROM audit WHERE recorded::timestamptz < now() - interval '{RETENTION_YEARS} years';
    GET DIAGNOSTICS gone = ROW_COUNT;
    RETURN gone;
END $$""",
    "REVOKE ALL ON FUNCTION audit_purge() FROM PUBLIC",
    "REVOKE UPDATE, DELETE, TRUNCATE ON audit FROM PUBLIC",
]


def upgrade() -> None:
    metadata = MetaData()
    audit = Table(
        "audit",
        metadata,
        Column("seq", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True),
        Column("recorded", Text, nullable=False),
        Column("action", Text, nullable=False),
        Column("event", Text, nullable=False),
        Column("outcome", Text, nullable=False),
        Column("who", Text),
        Column("responsible", Text),
        Column("patient", Text),
        Column("object", Text),
        Column("access_point", Text),
        Column("patient_identifier", Text),
        sqlite_autoincrement=True,
    )
    create_missing(audit)
    add_missing_column("audit", Column("patient_identifier", Text))
    create_missing_indexes(audit)
    bind = op.get_bind()
    if bind.dialect.name == "postgresql":
        current = bind.exec_driver_sql("SELECT current_schema()").scalar() or "public"
        schema = bind.dialect.identifier_preparer.quote(current)
        for statement in POSTGRESQL:
            bind.exec_driver_sql(statement.replace("{schema}", schema))
    else:
        for statement in SQLITE:
            bind.exec_driver_sql(statement)


def create_missing_indexes(audit: Table) -> None:
    """The indexes by either patient key (after the column, which an older log may have lacked)."""
    for index in (
        Index("audit_patient", audit.c.patient),
        Index("audit_patient_identifier", audit.c.patient_identifier),
    ):
        index.create(op.get_bind(), checkfirst=True)


def downgrade() -> None:
    raise NotImplementedError("the storage layer does not downgrade (restore a backup instead)")
