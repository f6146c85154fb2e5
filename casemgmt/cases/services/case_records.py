"""What every new case shares, whichever way it opens (intake, an appeal, an extension, a
reopening): its number and what its audit row records of it."""

from __future__ import annotations

import secrets

CASE_NUMBER_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"  # Crockford base32: no I, L, O, U


def new_case_number() -> str:
    # 8 symbols of 5 random bits each (32 symbols): one call to the system's random source.
    bits = secrets.randbits(40)
    return "PA-" + "".join(CASE_NUMBER_ALPHABET[(bits >> shift) & 31] for shift in range(35, -1, -5))


# What a new case's audit row records of it (the service lines are added as text).
CASE_AUDIT_FIELDS = (
    "status",
    "external_id",
    "urgency",
    "line_of_business",
    "plan_id",
    "review_type",
    "member_id",
    "member_first_name",
    "member_last_name",
    "member_birth_date",
    "requesting_provider_npi",
    "servicing_provider_npi",
    "diagnosis_codes",
    "clinical_facts",
    "clinical_notes",
    "received_at",
    "due_at",
)
