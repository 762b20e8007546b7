"""The services that run on the listener engine: accounting, e-invoicing and the institution's bot."""
