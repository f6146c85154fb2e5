"""The case domain: requests, lines, flags, decisions and their clocks (app label `casemgmt`)."""
