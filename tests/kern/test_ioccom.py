"""ioctl command words: sys/ioccom.h's encoding, checked against fss(4)'s LP64 values."""

from __future__ import annotations

import ctypes

import pytest

from kern.ioccom import (
    _IO,
    _IOC,
    _IOR,
    _IOW,
    _IOWR,
    FIOASYNC,
    FIOCLEX,
    FIONBIO,
    FIONCLEX,
    FIONREAD,
    IOC_DIRMASK,
    IOC_IN,
    IOC_INOUT,
    IOC_OUT,
    IOC_VOID,
    IOCBASECMD,
    IOCGROUP,
    IOCPARM_LEN,
    IOCPARM_MASK,
    IOCSNPRINTF,
)
from kern.kern_time import timeval

MNAMELEN = 90


class fss_set(ctypes.Structure):
    _fields_ = [("fss_mount", ctypes.c_uint64),    # char *
                ("fss_bstore", ctypes.c_uint64),   # char *
                ("fss_csize", ctypes.c_int32),     # blksize_t
                ("fss_flags", ctypes.c_int)]


class fss_set50(ctypes.Structure):
    _fields_ = [("fss_mount", ctypes.c_void_p), ("fss_bstore", ctypes.c_void_p),
                ("fss_csize", ctypes.c_int32)]


class fss_get(ctypes.Structure):
    _fields_ = [("fsg_mount", ctypes.c_char * MNAMELEN), ("fsg_time", timeval),
                ("fsg_csize", ctypes.c_int32), ("fsg_mount_size", ctypes.c_int64),
                ("fsg_bs_size", ctypes.c_int64)]


def test_struct_layouts_are_lp64():
    assert ctypes.sizeof(fss_set) == 24
    assert fss_set.fss_csize.offset == 16 and fss_set.fss_flags.offset == 20
    assert ctypes.sizeof(fss_set50) == 24
    assert ctypes.sizeof(timeval) == 16
    assert ctypes.sizeof(fss_get) == 136
    assert (fss_get.fsg_time.offset, fss_get.fsg_csize.offset, fss_get.fsg_mount_size.offset,
            fss_get.fsg_bs_size.offset) == (96, 112, 120, 128)


def test_fss_commands():
    assert _IOW('F', 5, fss_set) == 0x80184605          # FSSIOCSET
    assert _IOR('F', 1, fss_get) == 0x40884601          # FSSIOCGET
    assert _IO('F', 2) == 0x20004602                    # FSSIOCCLR
    assert _IOW('F', 3, ctypes.c_int) == 0x80044603     # FSSIOFSET
    assert _IOR('F', 4, ctypes.c_int) == 0x40044604     # FSSIOFGET
    assert _IOW('F', 0, fss_set50) == 0x80184600        # FSSIOCSET50
    # on LP64 the compat FSSIOCGET50 collides with FSSIOCGET
    assert _IOR('F', 1, 136) == _IOR('F', 1, fss_get)


def test_decoding_macros():
    cmd = _IOWR('F', 7, fss_get)
    assert cmd & IOC_DIRMASK == IOC_INOUT == IOC_IN | IOC_OUT
    assert IOCPARM_LEN(cmd) == 136
    assert IOCGROUP(cmd) == ord('F')
    assert cmd & 0xff == 7
    assert IOCBASECMD(cmd) == cmd & ~(IOCPARM_MASK << 16)
    assert IOCPARM_LEN(IOCBASECMD(cmd)) == 0
    assert _IOC(IOC_VOID, ord('F'), 2, 0) == _IO('F', 2) == _IO(0x46, 2)
    assert _IOW(b'F', 5, 24) == 0x80184605
    # the length field keeps 13 bits, as in C
    assert IOCPARM_LEN(_IOW('x', 1, 0x2001)) == 1
    # the C macro names the direction from bit 30 up, so an IOC_IN command
    # prints as "R" and an IOC_OUT one as "W"; kept as NetBSD has it
    assert IOCSNPRINTF(0x80184605) == "_IOR('F', 5)"
    assert IOCSNPRINTF(0x40884601) == "_IOW('F', 1)"
    assert IOCSNPRINTF(_IOWR('F', 7, fss_get)) == "_IOWR('F', 7)"


def test_filio_values():
    assert FIOCLEX == 0x20006601
    assert FIONCLEX == 0x20006602
    assert FIONREAD == 0x4004667f
    assert FIONBIO == 0x8004667e
    assert FIOASYNC == 0x8004667d
    assert IOC_OUT == 0x40000000 and IOC_IN == 0x80000000 and IOC_VOID == 0x20000000


def test_bad_group_and_type():
    with pytest.raises(ValueError):
        _IO('FF', 1)
    with pytest.raises(TypeError):
        _IOW('F', 1, "not a type")
