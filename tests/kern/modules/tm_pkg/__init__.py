"""tm_pkg: a module spread over several files of one package, one of them a header."""

__kobj_headers__ = ("tm_pkg_hdr",)
