"""Small kernel modules and drivers the module, autoconf and devsw tests load.

``module_path`` entries of the tests' configurations point here
(``"tm_base": "tests.kern.modules.tm_base"``).  Each file is executed afresh
for every machine that loads it, so its globals are that machine's.
"""
