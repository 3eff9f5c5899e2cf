"""Account rules: password policy, hashing, token issuing. No HTTP, no SQL."""
