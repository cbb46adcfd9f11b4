"""puffs file servers that run as userland programs of a kemu machine (memfs)."""
