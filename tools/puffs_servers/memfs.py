"""memfs: an in-memory puffs file system server (after NetBSD's dtfs).

Directories, regular files (sparse: see ``SparseData``; st_blocks counts
the pages stored, where tmpfs reports the size rounded to a page), symbolic
links, device nodes, FIFOs and sockets, hard links, rename, file handles
({cookie, fileid, generation},
``FHSIZE`` = 24 bytes; a stale one is EINVAL as in 2007's dtfs, or
``stale_errno``: the dtfs of NetBSD's tests answers ESTALE), suspension
callbacks (recorded in ``suspends``).  Node data stays until reclaim: an
unlinked file that is still open keeps its contents, and ``node_inactive``
reports no references for a removed node so the kernel reclaims it at once.
Renaming one link of a file onto another link of it removes the source
name, as NetBSD's rename(2) does.  ``unmount_refusal``: an errno to refuse
UNMOUNT with (a forced unmount goes ahead anyway).

Run it inside a machine::

    server = PuffsServer(MemFS(), "memfs", fhsize=FHSIZE)
    k.run(daemon, server.main, "/mnt", proc=k.proc_create("memfs"))

or as another OS process (the same class, through tools.lib.libpuffs.remote)::

    server = RemoteServer("tools.puffs_servers.memfs:MemFS", "memfs", fhsize=FHSIZE)

From the kemu shell: ``mount_memfs [-o options] memfs /mnt``
(tools/cmds/mount_puffs.py).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from kern.errno import (
    EEXIST,
    EINVAL,
    EISDIR,
    ENOENT,
    ENOTDIR,
    ENOTEMPTY,
    EPERM,
)
from tools.lib.libpuffs import (
    PUFFS_IO_APPEND,
    VBLK,
    VCHR,
    VDIR,
    VLNK,
    VREG,
    Attr,
    ComponentName,
    Cred,
    DirEntry,
    NodeInfo,
    Operations,
    PuffsError,
    StatvfsData,
    puffs_access,
)
from tools.lib.libpuffs.ops import PATHCONF_DEFAULTS

ROOT_COOKIE = 1
ROOT_FILEID = 2
BLOCKSIZE = 512
PAGE_SIZE = 4096
FHSIZE = 24     # the file handle: cookie, fileid, generation


class SparseData:
    """A regular file's contents, kept by page as NetBSD's tmpfs keeps them (an
    anonymous memory object whose pages exist once written): a hole holds no
    memory and reads as zeros, so a write at 2 GiB stores one page.
    ``len()`` is the file's size; ``bytes()`` all of it, holes included."""

    __slots__ = ("pages", "size")

    def __init__(self) -> None:
        self.pages: dict[int, bytearray] = {}  # page index -> PAGE_SIZE bytes
        self.size = 0

    def __len__(self) -> int:
        return self.size

    def __bool__(self) -> bool:
        return self.size > 0

    def __bytes__(self) -> bytes:
        return self.read(0, self.size)

    def stored(self) -> int:
        """Bytes of memory holding data: the pages written, holes left out."""
        return len(self.pages) * PAGE_SIZE

    def read(self, offset: int, n: int) -> bytes:
        end = min(self.size, offset + n)
        if offset >= end:
            return b""
        out = bytearray(end - offset)
        for pg in range(offset // PAGE_SIZE, (end - 1) // PAGE_SIZE + 1):
            page = self.pages.get(pg)
            if page is None:
                continue  # a hole: zeros
            base = pg * PAGE_SIZE
            lo, hi = max(offset, base), min(end, base + PAGE_SIZE)
            out[lo - offset:hi - offset] = page[lo - base:hi - base]
        return bytes(out)

    def write(self, offset: int, data: bytes) -> None:
        end = offset + len(data)
        for pg in range(offset // PAGE_SIZE, (end - 1) // PAGE_SIZE + 1) if data else ():
            page = self.pages.get(pg)
            if page is None:
                page = self.pages[pg] = bytearray(PAGE_SIZE)
            base = pg * PAGE_SIZE
            lo, hi = max(offset, base), min(end, base + PAGE_SIZE)
            page[lo - base:hi - base] = data[lo - offset:hi - offset]
        self.size = max(self.size, end)

    def truncate(self, size: int) -> None:
        """A new size: pages past it go, and the rest of its last page is zeroed
        (it reads as zeros if the file grows again); growing makes a hole."""
        if size < self.size:
            for pg in [pg for pg in self.pages if pg * PAGE_SIZE >= size]:
                del self.pages[pg]
            page = self.pages.get(size // PAGE_SIZE)
            if page is not None:
                page[size % PAGE_SIZE:] = bytes(PAGE_SIZE - size % PAGE_SIZE)
        self.size = size


@dataclass
class MemNode:
    cookie: int
    vtype: int
    mode: int
    uid: int = 0
    gid: int = 0
    nlink: int = 1
    fileid: int = 0
    gen: int = 1
    rdev: int = 0
    flags: int = 0
    data: SparseData = field(default_factory=SparseData)
    entries: dict[bytes, int] = field(default_factory=dict)
    parent: int = 0
    link: bytes = b""
    atime: tuple[int, int] = (0, 0)
    mtime: tuple[int, int] = (0, 0)
    ctime: tuple[int, int] = (0, 0)
    birthtime: tuple[int, int] = (0, 0)

    @property
    def size(self) -> int:
        if self.vtype == VDIR:
            return BLOCKSIZE
        if self.vtype == VLNK:
            return len(self.link)
        return len(self.data)


class MemFS(Operations):
    """An in-memory file system; cookies are small integers, the root is 1."""

    root_cookie = ROOT_COOKIE

    def __init__(self, *, now: int = 1516747349, stale_errno: int = EINVAL,
                 unmount_refusal: int = 0) -> None:
        self.nodes: dict[int, MemNode] = {}
        self.next_cookie = ROOT_COOKIE
        self.next_fileid = ROOT_FILEID
        self.clock = now
        self.suspends: list[int] = []
        self.unmount_refusal = unmount_refusal  # an errno to refuse UNMOUNT with
        self.stale_errno = stale_errno          # fhtonode of a stale handle
        root = self._alloc(VDIR, 0o755, 0, 0)
        root.nlink = 2
        root.parent = root.cookie

    # ------------------------------------------------------------ helpers

    def _tick(self) -> tuple[int, int]:
        self.clock += 1
        return (self.clock, 0)

    def _alloc(self, vtype: int, mode: int, uid: int, gid: int) -> MemNode:
        cookie = self.next_cookie
        self.next_cookie += 1
        fileid = self.next_fileid
        self.next_fileid += 1
        now = self._tick()
        n = MemNode(cookie, vtype, mode & 0o7777, uid, gid, fileid=fileid, atime=now,
                    mtime=now, ctime=now, birthtime=now)
        self.nodes[cookie] = n
        return n

    def node(self, cookie: int) -> MemNode:
        n = self.nodes.get(cookie)
        if n is None:
            raise PuffsError(ENOENT)
        return n

    def _dir(self, cookie: int) -> MemNode:
        d = self.node(cookie)
        if d.vtype != VDIR:
            raise PuffsError(ENOTDIR)
        return d

    def _info(self, n: MemNode) -> NodeInfo:
        return NodeInfo(n.cookie, n.vtype, n.size, n.rdev)

    def _newnode(self, dir: int, cn: ComponentName, attr: Attr, vtype: int) -> MemNode:
        d = self._dir(dir)
        if cn.name in d.entries:
            raise PuffsError(EEXIST)
        uid = cn.cred.uid if not cn.cred.is_kernel else 0
        n = self._alloc(vtype, attr.mode if attr.mode is not None else 0o644, uid, d.gid)
        if attr.rdev is not None and vtype in (VBLK, VCHR):
            n.rdev = attr.rdev
        d.entries[cn.name] = n.cookie
        if vtype == VDIR:
            n.nlink = 2
            n.parent = d.cookie
            d.nlink += 1
        d.mtime = d.ctime = self._tick()
        return n

    def path_of(self, cookie: int) -> list[bytes]:
        """Names from the root down to ``cookie`` (for tests and debugging)."""
        names = []
        n = self.node(cookie)
        while n.cookie != ROOT_COOKIE:
            parent = self.node(n.parent)
            for name, c in parent.entries.items():
                if c == n.cookie:
                    names.append(name)
                    break
            n = parent
        return list(reversed(names))

    # ------------------------------------------------------------ fs operations

    async def fs_unmount(self, flags: int, pid: int) -> None:
        if self.unmount_refusal:
            raise PuffsError(self.unmount_refusal)

    async def fs_statvfs(self, pid: int) -> StatvfsData:
        used = sum(n.data.stored() for n in self.nodes.values()) // BLOCKSIZE + len(self.nodes)
        return StatvfsData(f_bsize=BLOCKSIZE, f_frsize=BLOCKSIZE, f_iosize=BLOCKSIZE,
                           f_blocks=used + 65536, f_bfree=65536, f_bavail=65536,
                           f_files=len(self.nodes) + 65536, f_ffree=65536, f_favail=65536,
                           f_namemax=255)

    async def fs_sync(self, waitfor: int, cred: Cred, pid: int) -> None:
        pass

    async def fs_fhtonode(self, fid: bytes) -> NodeInfo:
        if len(fid) != FHSIZE:
            raise PuffsError(EINVAL)
        cookie = int.from_bytes(fid[0:8], "little")
        fileid = int.from_bytes(fid[8:16], "little")
        gen = int.from_bytes(fid[16:24], "little")
        n = self.nodes.get(cookie)
        if n is None or n.fileid != fileid or n.gen != gen:
            raise PuffsError(self.stale_errno)  # a stale handle (2007 dtfs: EINVAL)
        return self._info(n)

    async def fs_nodetofh(self, cookie: int, room: int) -> bytes:
        n = self.node(cookie)
        return (n.cookie.to_bytes(8, "little") + n.fileid.to_bytes(8, "little")
                + n.gen.to_bytes(8, "little"))

    async def fs_suspend(self, status: int) -> None:
        self.suspends.append(status)

    # ------------------------------------------------------------ node operations

    async def node_lookup(self, dir: int, cn: ComponentName) -> NodeInfo:
        d = self._dir(dir)
        if cn.name == b"..":
            return self._info(self.node(d.parent))
        if cn.name == b".":
            return self._info(d)
        c = d.entries.get(cn.name)
        if c is None:
            raise PuffsError(ENOENT)
        return self._info(self.node(c))

    async def node_create(self, dir: int, cn: ComponentName, attr: Attr) -> int:
        vtype = attr.type if attr.type is not None else VREG
        return self._newnode(dir, cn, attr, vtype).cookie

    node_mknod = node_create  # the type (and rdev) come in attr

    async def node_mkdir(self, dir: int, cn: ComponentName, attr: Attr) -> int:
        return self._newnode(dir, cn, attr, VDIR).cookie

    async def node_symlink(self, dir: int, cn: ComponentName, attr: Attr,
                           target: bytes) -> int:
        n = self._newnode(dir, cn, attr, VLNK)
        n.link = bytes(target)
        return n.cookie

    async def node_access(self, node: int, mode: int, cred: Cred, pid: int) -> None:
        n = self.node(node)
        error = puffs_access(n.vtype, n.mode, n.uid, n.gid, mode, cred)
        if error:
            raise PuffsError(error)

    async def node_getattr(self, node: int, cred: Cred, pid: int) -> Attr:
        n = self.node(node)
        return Attr(type=n.vtype, mode=n.mode, nlink=n.nlink, uid=n.uid, gid=n.gid,
                    fileid=n.fileid, size=n.size, blocksize=BLOCKSIZE, atime=n.atime,
                    mtime=n.mtime, ctime=n.ctime, birthtime=n.birthtime, gen=n.gen,
                    flags=n.flags, rdev=n.rdev, bytes=self._bytes(n), filerev=0)

    @staticmethod
    def _bytes(n: MemNode) -> int:
        """va_bytes (st_blocks * 512): what a regular file stores, holes left out.

        A difference from NetBSD's tmpfs, whose tmpfs_getattr reports
        round_page(tn_size) whatever is stored (a 2 GiB hole counts 2 GiB):
        memfs reports the pages it holds, as a disk file system reports the
        blocks it allocated, so a test can see that a hole costs nothing.
        """
        if n.vtype == VREG:
            return n.data.stored()
        return (n.size + BLOCKSIZE - 1) // BLOCKSIZE * BLOCKSIZE

    async def node_setattr(self, node: int, attr: Attr, cred: Cred, pid: int) -> None:
        n = self.node(node)
        owner = cred.is_super or cred.uid == n.uid
        if attr.uid is not None or attr.gid is not None:
            if not cred.is_super:
                raise PuffsError(EPERM)
            n.uid = n.uid if attr.uid is None else attr.uid
            n.gid = n.gid if attr.gid is None else attr.gid
        if attr.mode is not None:
            if not owner:
                raise PuffsError(EPERM)
            n.mode = attr.mode & 0o7777
        if attr.size is not None:
            if n.vtype == VDIR:
                raise PuffsError(EISDIR)
            if n.vtype == VREG:
                n.data.truncate(attr.size)
                n.mtime = self._tick()
        if attr.flags is not None:
            n.flags = attr.flags
        if attr.atime is not None:
            n.atime = attr.atime
        if attr.mtime is not None:
            n.mtime = attr.mtime
        if attr.birthtime is not None:
            n.birthtime = attr.birthtime
        n.ctime = attr.ctime if attr.ctime is not None else self._tick()

    async def node_remove(self, dir: int, node: int, cn: ComponentName) -> None:
        d = self._dir(dir)
        n = self.node(node)
        if n.vtype == VDIR:
            raise PuffsError(EPERM)
        if d.entries.get(cn.name) != node:
            raise PuffsError(ENOENT)
        del d.entries[cn.name]
        n.nlink -= 1
        n.ctime = d.mtime = d.ctime = self._tick()

    async def node_link(self, dir: int, node: int, cn: ComponentName) -> None:
        d = self._dir(dir)
        n = self.node(node)
        if n.vtype == VDIR:
            raise PuffsError(EPERM)
        if cn.name in d.entries:
            raise PuffsError(EEXIST)
        d.entries[cn.name] = node
        n.nlink += 1
        n.ctime = d.mtime = d.ctime = self._tick()

    async def node_rmdir(self, dir: int, node: int, cn: ComponentName) -> None:
        d = self._dir(dir)
        n = self.node(node)
        if n.vtype != VDIR:
            raise PuffsError(ENOTDIR)
        if n.entries:
            raise PuffsError(ENOTEMPTY)
        if d.entries.get(cn.name) != node:
            raise PuffsError(ENOENT)
        del d.entries[cn.name]
        n.nlink = 0
        d.nlink -= 1
        d.mtime = d.ctime = self._tick()

    def _is_ancestor(self, a: int, b: int) -> bool:
        n = self.node(b)
        while True:
            if n.cookie == a:
                return True
            if n.parent == n.cookie or n.parent == 0:
                return False
            n = self.node(n.parent)

    async def node_rename(self, srcdir: int, src: int, cn_src: ComponentName, targdir: int,
                          targ: int | None, cn_targ: ComponentName) -> None:
        sd = self._dir(srcdir)
        td = self._dir(targdir)
        n = self.node(src)
        if sd.entries.get(cn_src.name) != src:
            raise PuffsError(ENOENT)
        t = td.entries.get(cn_targ.name)
        if t == src:
            # Two links of one file: NetBSD's rename(2) removes the source
            # name (the same name in the same directory never gets here).
            if sd is not td or cn_src.name != cn_targ.name:
                del sd.entries[cn_src.name]
                n.nlink -= 1
                n.ctime = sd.mtime = sd.ctime = self._tick()
            return
        if n.vtype == VDIR and self._is_ancestor(src, targdir):
            raise PuffsError(EINVAL)
        if t is not None:
            tn = self.node(t)
            if n.vtype == VDIR:
                if tn.vtype != VDIR:
                    raise PuffsError(ENOTDIR)
                if tn.entries:
                    raise PuffsError(ENOTEMPTY)
                tn.nlink = 0
                td.nlink -= 1
            else:
                if tn.vtype == VDIR:
                    raise PuffsError(EISDIR)
                tn.nlink -= 1
            tn.ctime = self._tick()
        del sd.entries[cn_src.name]
        td.entries[cn_targ.name] = src
        if n.vtype == VDIR and sd.cookie != td.cookie:
            n.parent = td.cookie
            sd.nlink -= 1
            td.nlink += 1
        now = self._tick()
        n.ctime = sd.mtime = sd.ctime = td.mtime = td.ctime = now

    async def node_readdir(self, dir: int, offset: int, cred: Cred) -> list[DirEntry]:
        d = self._dir(dir)
        ents = [(b".", d), (b"..", self.node(d.parent))]
        ents += [(name, self.node(c)) for name, c in d.entries.items()]
        if offset < 0:
            raise PuffsError(EINVAL)
        return [DirEntry(name, n.fileid, n.vtype, i + 1)
                for i, (name, n) in enumerate(ents) if i >= offset]

    async def node_readlink(self, node: int, cred: Cred) -> bytes:
        n = self.node(node)
        if n.vtype != VLNK:
            raise PuffsError(EINVAL)
        return n.link

    async def node_read(self, node: int, offset: int, size: int, cred: Cred,
                        ioflag: int) -> bytes:
        n = self.node(node)
        if n.vtype == VDIR:
            raise PuffsError(EISDIR)
        if offset < 0:
            raise PuffsError(EINVAL)
        n.atime = self._tick()
        return n.data.read(offset, size)

    async def node_write(self, node: int, offset: int, data: bytes, cred: Cred,
                         ioflag: int) -> int:
        n = self.node(node)
        if n.vtype != VREG:
            raise PuffsError(EISDIR if n.vtype == VDIR else EINVAL)
        if ioflag & PUFFS_IO_APPEND:
            offset = len(n.data)
        if offset < 0:
            raise PuffsError(EINVAL)
        n.data.write(offset, data)
        n.mtime = n.ctime = self._tick()
        return len(data)

    async def node_inactive(self, node: int, pid: int) -> int:
        n = self.nodes.get(node)
        return 0 if n is None or n.nlink <= 0 else 1

    async def node_reclaim(self, node: int, pid: int) -> None:
        n = self.nodes.get(node)
        if n is not None and n.nlink <= 0 and node != ROOT_COOKIE:
            del self.nodes[node]

    async def node_pathconf(self, node: int, name: int) -> int:
        if name not in PATHCONF_DEFAULTS:
            raise PuffsError(EINVAL)
        return PATHCONF_DEFAULTS[name]
