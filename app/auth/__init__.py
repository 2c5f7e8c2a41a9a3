"""API credentials, roles and scopes."""
