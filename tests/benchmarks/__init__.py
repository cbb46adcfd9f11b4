"""The benchmarks under benchmarks/ keep running: their smoke modes and their measuring parts."""
