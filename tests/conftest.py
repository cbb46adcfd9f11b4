"""Shared test configuration: the kemu plugin is loaded through its entry point.

The suite's hypothesis tests run derandomized and without the example
database, so every run of the suite draws the same examples (kemu's promise:
every run reproducible); ``pytest --hypothesis-profile=explore`` searches
afresh with the database, as hypothesis does by default.
"""

from hypothesis import settings

settings.register_profile("suite", derandomize=True, database=None)
settings.register_profile("explore", settings.get_profile("default"))
settings.load_profile("suite")
