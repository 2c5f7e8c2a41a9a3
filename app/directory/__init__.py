"""The public address-book directory: a read-only JSON:API for message clients (no auth, no CORS)."""
