"""Alembic environment of the API's tables: runs on the connection `api.db.migrate` hands it,
beside the indexer's tables, which have their own history (`indexer/migrations`)."""

from alembic import context
from sqlmodel import SQLModel

import api.models  # noqa: F401  (registers the tables on SQLModel.metadata)
from api.db import VERSION_TABLE

API_TABLES = {
    "login_nonces", "auth_sessions", "refresh_tokens", "maker_nonces", "orders", "trades", "webhooks",
    "webhook_deliveries",
}


def _is_api_table(obj, name, type_, reflected, compare_to):
    table = obj if type_ == "table" else getattr(obj, "table", None)
    return table is None or table.name in API_TABLES


connection = context.config.attributes["connection"]
context.configure(
    connection=connection,
    target_metadata=SQLModel.metadata,
    render_as_batch=True,
    version_table=VERSION_TABLE,
    include_object=_is_api_table,
)
with context.begin_transaction():
    context.run_migrations()
