"""Who may do what, sign-in lockout and idle sessions."""
