"""Internals of the dev/test OAuth2 provider; the public entry point is ``scripts.devstack.oauth_provider``."""
