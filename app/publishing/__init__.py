"""SMP publication: OASIS SMP 1.0 (with CertPub), SMP 2.0 and Peppol documents, signed at write time.

Writers call :func:`app.publishing.store.republish` in their transaction; readers fetch stored bytes.
This package's modules import no Flask except ``views``.
"""
