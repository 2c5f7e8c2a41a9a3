"""The SML role for a federation of SMPs (what the EC's BDMSL does), and this service's SMP as a client of one.

- :mod:`app.sml.registrations`: which SMP each participant is registered by, and the DNS records that
  follow from it (this service's own participants are the registrations of its local SMP);
- :mod:`app.sml.soap` and :mod:`app.sml.messages`: SOAP 1.1 envelopes, faults and the messages of the
  Peppol/BDMSL WSDLs, parsed with no DTDs, entities or network access;
- :mod:`app.sml.views`: the SOAP face at ``/sml/`` (a face: callers authenticate with their client
  certificate, passed on by the TLS-terminating proxy);
- :mod:`app.sml.client`: this service registering its own participants in an external SML.
"""
