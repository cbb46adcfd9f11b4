"""Error numbers of NetBSD's sys/errno.h, with the messages its libc prints.

The kernel speaks NetBSD's numbering everywhere: EOPNOTSUPP is 45 here, not
Linux's 95.  Python's own ``errno`` module describes the host, so never mix
the two; use :func:`strerror` and :data:`errorcode` from this module.

The values are those of ``$NetBSD: errno.h,v 1.40 2013/01/02 christos$``
(sys/sys/errno.h, the revision NetBSD 8 ships: 1 to ELAST = 96 (EPROTO),
EWOULDBLOCK = EAGAIN, and the kernel's pseudo-errors EJUSTRETURN -2,
ERESTART -3, EPASSTHROUGH -4, EDUPFD -5, EMOVEFD -6).  The messages are
libc's strerror(3) texts (lib/libc/gen/errlist.c).  The file is kemu's
own; what it adds: ``errorcode`` (number to name, pseudo-errors included),
``strerror`` answering "Unknown error: N" for a number it does not know,
as libc's does, and a self-check that the table and the names agree.
"""

from __future__ import annotations

# name, number, strerror(3) text
_TABLE: tuple[tuple[str, int, str], ...] = (
    ("EPERM", 1, "Operation not permitted"),
    ("ENOENT", 2, "No such file or directory"),
    ("ESRCH", 3, "No such process"),
    ("EINTR", 4, "Interrupted system call"),
    ("EIO", 5, "Input/output error"),
    ("ENXIO", 6, "Device not configured"),
    ("E2BIG", 7, "Argument list too long"),
    ("ENOEXEC", 8, "Exec format error"),
    ("EBADF", 9, "Bad file descriptor"),
    ("ECHILD", 10, "No child processes"),
    ("EDEADLK", 11, "Resource deadlock avoided"),
    ("ENOMEM", 12, "Cannot allocate memory"),
    ("EACCES", 13, "Permission denied"),
    ("EFAULT", 14, "Bad address"),
    ("ENOTBLK", 15, "Block device required"),
    ("EBUSY", 16, "Device busy"),
    ("EEXIST", 17, "File exists"),
    ("EXDEV", 18, "Cross-device link"),
    ("ENODEV", 19, "Operation not supported by device"),
    ("ENOTDIR", 20, "Not a directory"),
    ("EISDIR", 21, "Is a directory"),
    ("EINVAL", 22, "Invalid argument"),
    ("ENFILE", 23, "Too many open files in system"),
    ("EMFILE", 24, "Too many open files"),
    ("ENOTTY", 25, "Inappropriate ioctl for device"),
    ("ETXTBSY", 26, "Text file busy"),
    ("EFBIG", 27, "File too large"),
    ("ENOSPC", 28, "No space left on device"),
    ("ESPIPE", 29, "Illegal seek"),
    ("EROFS", 30, "Read-only file system"),
    ("EMLINK", 31, "Too many links"),
    ("EPIPE", 32, "Broken pipe"),
    ("EDOM", 33, "Numerical argument out of domain"),
    ("ERANGE", 34, "Result too large or too small"),
    ("EAGAIN", 35, "Resource temporarily unavailable"),
    ("EINPROGRESS", 36, "Operation now in progress"),
    ("EALREADY", 37, "Operation already in progress"),
    ("ENOTSOCK", 38, "Socket operation on non-socket"),
    ("EDESTADDRREQ", 39, "Destination address required"),
    ("EMSGSIZE", 40, "Message too long"),
    ("EPROTOTYPE", 41, "Protocol wrong type for socket"),
    ("ENOPROTOOPT", 42, "Protocol option not available"),
    ("EPROTONOSUPPORT", 43, "Protocol not supported"),
    ("ESOCKTNOSUPPORT", 44, "Socket type not supported"),
    ("EOPNOTSUPP", 45, "Operation not supported"),
    ("EPFNOSUPPORT", 46, "Protocol family not supported"),
    ("EAFNOSUPPORT", 47, "Address family not supported by protocol family"),
    ("EADDRINUSE", 48, "Address already in use"),
    ("EADDRNOTAVAIL", 49, "Can't assign requested address"),
    ("ENETDOWN", 50, "Network is down"),
    ("ENETUNREACH", 51, "Network is unreachable"),
    ("ENETRESET", 52, "Network dropped connection on reset"),
    ("ECONNABORTED", 53, "Software caused connection abort"),
    ("ECONNRESET", 54, "Connection reset by peer"),
    ("ENOBUFS", 55, "No buffer space available"),
    ("EISCONN", 56, "Socket is already connected"),
    ("ENOTCONN", 57, "Socket is not connected"),
    ("ESHUTDOWN", 58, "Can't send after socket shutdown"),
    ("ETOOMANYREFS", 59, "Too many references: can't splice"),
    ("ETIMEDOUT", 60, "Operation timed out"),
    ("ECONNREFUSED", 61, "Connection refused"),
    ("ELOOP", 62, "Too many levels of symbolic links"),
    ("ENAMETOOLONG", 63, "File name too long"),
    ("EHOSTDOWN", 64, "Host is down"),
    ("EHOSTUNREACH", 65, "No route to host"),
    ("ENOTEMPTY", 66, "Directory not empty"),
    ("EPROCLIM", 67, "Too many processes"),
    ("EUSERS", 68, "Too many users"),
    ("EDQUOT", 69, "Disc quota exceeded"),
    ("ESTALE", 70, "Stale NFS file handle"),
    ("EREMOTE", 71, "Too many levels of remote in path"),
    ("EBADRPC", 72, "RPC struct is bad"),
    ("ERPCMISMATCH", 73, "RPC version wrong"),
    ("EPROGUNAVAIL", 74, "RPC prog. not avail"),
    ("EPROGMISMATCH", 75, "Program version wrong"),
    ("EPROCUNAVAIL", 76, "Bad procedure for program"),
    ("ENOLCK", 77, "No locks available"),
    ("ENOSYS", 78, "Function not implemented"),
    ("EFTYPE", 79, "Inappropriate file type or format"),
    ("EAUTH", 80, "Authentication error"),
    ("ENEEDAUTH", 81, "Need authenticator"),
    ("EIDRM", 82, "Identifier removed"),
    ("ENOMSG", 83, "No message of desired type"),
    ("EOVERFLOW", 84, "Value too large to be stored in data type"),
    ("EILSEQ", 85, "Illegal byte sequence"),
    ("ENOTSUP", 86, "Not supported"),
    ("ECANCELED", 87, "Operation canceled"),
    ("EBADMSG", 88, "Bad or Corrupt message"),
    ("ENODATA", 89, "No message available"),
    ("ENOSR", 90, "No STREAM resources"),
    ("ENOSTR", 91, "Not a STREAM"),
    ("ETIME", 92, "STREAM ioctl timeout"),
    ("ENOATTR", 93, "Attribute not found"),
    ("EMULTIHOP", 94, "Multihop attempted"),
    ("ENOLINK", 95, "Link has been severed"),
    ("EPROTO", 96, "Protocol error"),
)

EPERM = 1
ENOENT = 2
ESRCH = 3
EINTR = 4
EIO = 5
ENXIO = 6
E2BIG = 7
ENOEXEC = 8
EBADF = 9
ECHILD = 10
EDEADLK = 11
ENOMEM = 12
EACCES = 13
EFAULT = 14
ENOTBLK = 15
EBUSY = 16
EEXIST = 17
EXDEV = 18
ENODEV = 19
ENOTDIR = 20
EISDIR = 21
EINVAL = 22
ENFILE = 23
EMFILE = 24
ENOTTY = 25
ETXTBSY = 26
EFBIG = 27
ENOSPC = 28
ESPIPE = 29
EROFS = 30
EMLINK = 31
EPIPE = 32
EDOM = 33
ERANGE = 34
EAGAIN = 35
EWOULDBLOCK = EAGAIN
EINPROGRESS = 36
EALREADY = 37
ENOTSOCK = 38
EDESTADDRREQ = 39
EMSGSIZE = 40
EPROTOTYPE = 41
ENOPROTOOPT = 42
EPROTONOSUPPORT = 43
ESOCKTNOSUPPORT = 44
EOPNOTSUPP = 45
EPFNOSUPPORT = 46
EAFNOSUPPORT = 47
EADDRINUSE = 48
EADDRNOTAVAIL = 49
ENETDOWN = 50
ENETUNREACH = 51
ENETRESET = 52
ECONNABORTED = 53
ECONNRESET = 54
ENOBUFS = 55
EISCONN = 56
ENOTCONN = 57
ESHUTDOWN = 58
ETOOMANYREFS = 59
ETIMEDOUT = 60
ECONNREFUSED = 61
ELOOP = 62
ENAMETOOLONG = 63
EHOSTDOWN = 64
EHOSTUNREACH = 65
ENOTEMPTY = 66
EPROCLIM = 67
EUSERS = 68
EDQUOT = 69
ESTALE = 70
EREMOTE = 71
EBADRPC = 72
ERPCMISMATCH = 73
EPROGUNAVAIL = 74
EPROGMISMATCH = 75
EPROCUNAVAIL = 76
ENOLCK = 77
ENOSYS = 78
EFTYPE = 79
EAUTH = 80
ENEEDAUTH = 81
EIDRM = 82
ENOMSG = 83
EOVERFLOW = 84
EILSEQ = 85
ENOTSUP = 86
ECANCELED = 87
EBADMSG = 88
ENODATA = 89
ENOSR = 90
ENOSTR = 91
ETIME = 92
ENOATTR = 93
EMULTIHOP = 94
ENOLINK = 95
EPROTO = 96
ELAST = 96

# Pseudo-errors used only inside the kernel to steer the return to userland.
EJUSTRETURN = -2
ERESTART = -3
EPASSTHROUGH = -4
EDUPFD = -5
EMOVEFD = -6

errorcode: dict[int, str] = {num: name for name, num, _ in _TABLE}
errorcode.update({EJUSTRETURN: "EJUSTRETURN", ERESTART: "ERESTART",
                  EPASSTHROUGH: "EPASSTHROUGH", EDUPFD: "EDUPFD", EMOVEFD: "EMOVEFD"})
_MESSAGES: dict[int, str] = {num: msg for _, num, msg in _TABLE}


def strerror(error: int) -> str:
    """The text NetBSD's strerror(3) gives for ``error``."""
    try:
        return _MESSAGES[error]
    except KeyError:
        return f"Unknown error: {error}"


def _check_table() -> None:
    g = globals()
    for name, num, _ in _TABLE:
        assert g[name] == num, name


_check_table()
