"""Payment rules: validation of payment details, requests, processing, refunds."""
