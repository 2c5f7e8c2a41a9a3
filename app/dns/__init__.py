"""DNS publication (the SML role): participant NAPTR (and optionally CNAME) records.

Records are computed per participant and stored (``dns_records``); every change is also written to
the ``dns_changes`` outbox in the same transaction. The embedded authoritative server answers from
them; in RFC 2136 mode a worker applies the outbox to the DNS primary.
"""
