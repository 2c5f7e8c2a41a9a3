"""The web face at ``/``: public address-book search and, after login, the console (server-rendered)."""
