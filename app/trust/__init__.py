"""Certificates: loading, describing, the development PKI (chain validation comes with the trust model)."""
