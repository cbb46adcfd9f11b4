"""tm_pkg: a module spread over several files of one package."""
