"""The reviewers' pages: queue, case, dashboard, letters."""
