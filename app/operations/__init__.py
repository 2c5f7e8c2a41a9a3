"""Use cases: one function per command, one transaction each; the only writer of registry rows."""
