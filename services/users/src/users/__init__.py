"""Users service: accounts, login, access tokens (RS256) and rotating refresh tokens."""
