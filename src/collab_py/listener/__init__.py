"""The listener engine and the services that run on it."""
