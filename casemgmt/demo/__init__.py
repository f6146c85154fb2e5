"""The demonstration data `make run` loads: a user in each role, the seed policies, sample cases."""
