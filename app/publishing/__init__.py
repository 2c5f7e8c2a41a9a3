"""SMP publication: OASIS SMP 1.0 (with CertPub), SMP 2.0 and Peppol documents, signed at write time.

Writers call :func:`app.publishing.publisher.republish` in their transaction (through
:mod:`app.operations.publication`); readers fetch the stored bytes (:mod:`app.publishing.reader`).
This package's modules import no Flask except ``views``.
"""
