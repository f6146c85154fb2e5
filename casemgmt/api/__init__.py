"""The v1 REST API: one module per resource, plus authentication, idempotency, throttling and errors."""
