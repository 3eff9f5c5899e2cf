"""Payment providers: the adapter interface and the built-in simulated provider."""
