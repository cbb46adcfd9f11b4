"""tm_noinfo: a file without MODULE()."""

value = 1
