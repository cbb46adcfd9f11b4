"""tm_pkg's header: a constant and a ctypes layout, no storage (shared by every machine)."""

import ctypes

TM_PKG_MAGIC = 0x7e57


class tm_pkg_rec(ctypes.LittleEndianStructure):
    _pack_ = 1
    _fields_ = [("r_magic", ctypes.c_uint16), ("r_len", ctypes.c_uint32)]
