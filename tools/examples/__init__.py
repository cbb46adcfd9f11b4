"""Example kemu scripts, shipped with the package (``kemu demo`` runs snapshot.kemu)."""
