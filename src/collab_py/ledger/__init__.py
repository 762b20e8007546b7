"""The listeners' database: schema, migrations, what is read from it (queries) and reconciliation."""
