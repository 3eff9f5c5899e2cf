"""What the services' HTTP layers share: problem+json rendering, common headers."""
