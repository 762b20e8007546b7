"""The department platform each member org runs next to its node (P1): an HTTP API with OpenAPI for treasury
systems and bots, and a web UI for the org's departments, over the services and the event store.

Levels inside: ``schema`` (its tables) and ``database``; ``accounts`` (users, tokens, sessions, CSRF);
``projection`` (the store's events as contracts, stages and payments) and ``queries`` (lists, inbox, timeline,
dashboard); ``signer`` (idempotent actions, each transaction recorded before it is broadcast); ``actions`` (the
org's departments' services); ``api`` and ``ui`` (the routes); ``app`` (the FastAPI application and its runtime);
``demo`` (``collab serve --demo``).
"""
