"""Authentication: password hashing, JWT tokens, failed-login throttling."""
