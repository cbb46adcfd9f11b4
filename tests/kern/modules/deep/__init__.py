"""A chain of seven modules, one deeper than MODULE_MAX_DEPTH allows."""
