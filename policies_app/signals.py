"""What the policy library announces. Other apps react in receivers of their own, so the library
imports none of them."""

from __future__ import annotations

from django.dispatch import Signal

# Sent by policy_version_publish inside its transaction, once the version is published, with
# `version_id` (int) and `user` (the editor who published it). Receivers run in that transaction:
# one that raises rolls the publish back; work that must wait for the commit goes to on_commit.
policy_version_published = Signal()
