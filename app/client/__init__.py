"""Discovery client: what an access point does before it sends (no Flask, usable as a library).

function address → (directory) → participant id → NAPTR (or CNAME) → SMP → verified signature →
identifiers checked → endpoint and certificates. :func:`app.client.lookup.lookup` is the entry point;
``sdk-addressbook lookup`` is its command line.
"""
