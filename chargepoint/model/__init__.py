"""Domain model of a charge point: plain objects with an injectable clock, no I/O."""
