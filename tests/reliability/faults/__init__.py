"""The fault suite's machinery (tests/reliability/test_faults.py).

- `lab`: a PostgreSQL cluster and a Redis of the suite's own, on free ports, and the product's
  processes (gunicorn, a Celery worker with beat, the outbox relay) under a small supervisor;
- `receiver`: the local webhook endpoint that counts what it is sent;
- `client`: the integration client that submits cases and retries as the API tells it to;
- `django_side`: what runs inside Django against the suite's own database (seed, probe), in a
  subprocess, so the test process never points its own Django at that database;
- `scenario`: the run itself (load, faults, recovery) and the figures it prints.
"""
