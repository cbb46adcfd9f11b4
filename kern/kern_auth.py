"""Credentials (a small kauth(9)): uid, gid and groups, with NOCRED and FSCRED."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class kauth_cred:
    cr_uid: int = 0
    cr_euid: int = 0
    cr_gid: int = 0
    cr_egid: int = 0
    cr_groups: tuple[int, ...] = field(default=())
    cr_internal: str = ""  # "NOCRED" / "FSCRED" for the kernel's own markers

    def __repr__(self) -> str:
        if self.cr_internal:
            return self.cr_internal
        return f"<cred uid={self.cr_euid} gid={self.cr_egid}>"


kauth_cred_t = kauth_cred

NOCRED = kauth_cred(cr_internal="NOCRED")
FSCRED = kauth_cred(cr_internal="FSCRED")
ROOTCRED = kauth_cred()


def kauth_cred_geteuid(cred: kauth_cred) -> int:
    return cred.cr_euid


def kauth_cred_getegid(cred: kauth_cred) -> int:
    return cred.cr_egid


def kauth_cred_getuid(cred: kauth_cred) -> int:
    return cred.cr_uid


def kauth_cred_getgid(cred: kauth_cred) -> int:
    return cred.cr_gid


def kauth_cred_groupmember(cred: kauth_cred, gid: int) -> bool:
    return gid == cred.cr_egid or gid in cred.cr_groups


def kauth_cred_issuser(cred: kauth_cred) -> bool:
    """True for root and for the kernel's FSCRED."""
    return cred is FSCRED or (not cred.cr_internal and cred.cr_euid == 0)


def kauth_cred_make(uid: int, gid: int, groups: tuple[int, ...] = ()) -> kauth_cred:
    return kauth_cred(uid, uid, gid, gid, tuple(groups))
