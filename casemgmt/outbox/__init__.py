"""The task outbox: every Celery task the app sends is first a row written in the transaction
that calls for it, then sent to the broker by the request after commit or, failing that, by the
relay (`manage.py outbox_relay`). docs/decisions/0003-task-outbox.md says why.
"""
