"""SMP publication: OASIS SMP 1.0 (with CertPub), SMP 2.0 and Peppol documents, signed at write time.

Writers re-publish in their own transaction through :mod:`app.operations.publication` (the write
session's :class:`~app.publishing.publisher.Publisher`); readers fetch the stored bytes
(:mod:`app.publishing.reader`).
This package's modules import no Flask except ``views``.
"""
