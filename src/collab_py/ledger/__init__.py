"""The listeners' database: schema, migrations, and what accounting and reconciliation read from it."""
