"""Writes to the case domain, one module per capability. Pages, the API, tasks and commands call these."""
