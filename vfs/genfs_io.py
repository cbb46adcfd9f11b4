"""The page cache of file data (miscfs/genfs/genfs_io.c, uvm_vnode.c, ubc, in small).

kemu's own model of NetBSD's vnode page cache, with NetBSD's names, flags
and protocols: genfs_getpages, genfs_getpages_read and genfs_do_io were
compared against ``$NetBSD: genfs_io.c,v 1.61 2015/05/06 hannken$`` (the
stored revision nearest NetBSD 8), genfs_do_putpages against NetBSD 10's
page-array version (see its docstring), uvm_vnp_setsize and
uvm_vnp_setwritesize against ``$NetBSD: uvm_vnode.c,v 1.117 2020/08/16
00:24:41 chs Exp $`` (sys/uvm; its rwlock vmobjlock is NetBSD 8's mutex,
v_interlock, here, so the v_interlock 1.117 takes inside it is the same
lock), ubc_uiomove and
ubc_zerorange against sys/uvm/uvm_bio.c.  The PGO_*, PG_*, UBC_*,
GOP_SIZE_MEM and GOP_UPDATE_* values are NetBSD's.  The notices are in
LICENSE.NetBSD.

A file system that keeps regular-file data in the page cache gives each
such vnode a ``uvm_object`` (``genfs_node_init``): pages of PAGE_SIZE bytes
keyed by file offset, each clean or dirty.  Its VOP_READ/VOP_WRITE move
bytes between the uio and the pages with ``ubc_uiomove``; its
VOP_GETPAGES/VOP_PUTPAGES are ``genfs_getpages``/``genfs_putpages``, which
read and write pages through the file system's block map (VOP_BMAP) with
bufs handed to VOP_STRATEGY of the device vnode.

The file system hooks are a ``genfs_ops``:

* ``gop_size(vp, size, flags)``: where the file ends for paging;
* ``gop_alloc(vp, off, len, flags, cred)``: allocate the blocks under a
  byte range before data lands in its pages (async, returns an errno);
* ``gop_write(vp, pgs, npages, flags)``: write pages out (default:
  ``genfs_gop_write``, which maps blocks with VOP_BMAP);
* ``gop_markupdate(vp, flags)``: note that the file's data changed.

Locking: the object lock is the vnode's ``v_interlock``.  VOP_PUTPAGES is
entered with it held and releases it before any I/O, as in NetBSD.  A page
is busy (PG_BUSY) while one lwp reads it in, writes it out or changes it;
others wait on the object's condvar "genput".

Accounting: resident and dirty pages are counted per machine in
``vfs.uvm.uvmexp()``; a write that takes the dirty count past its high
water mark kicks the page daemon.

Deviations (nothing is mapped: there is no pmap, no fault path, no mmap):

* Pages are ``vm_page`` objects in a dict keyed by offset, with the radix
  tree's dirty and write-back tags kept as sorted offset lists; no page
  queues, no PG_RDONLY, no PG_RELEASED (a page to drop is freed at once).
* ``genfs_getpages``: a request whose first page lies past EOF (without
  PGO_PASTEOF) ends short with no error (1.61: EINVAL); PGO_LOCKED hands
  back None for a missing or busy page and returns 0 (1.61: EBUSY when the
  centre page is missing); no GOP_MARKUPDATE of the access/modify time, no
  fstrans_start, no genfs node lock against truncate and no "startover"
  when v_size shrank meanwhile; reads are always synchronous (1.61 reads
  asynchronously without PGO_SYNCIO); there are no write faults, so no
  block allocation (GOP_ALLOC) here and no PGO_NOBLOCKALLOC logic.
* Read clustering and read-ahead are ``genfs_getpage_busy``'s: the pages
  after a missing one up to ``ra_end`` (one MAXPHYS cluster, not past EOF)
  are read in the same I/O; if that read fails the page is read alone
  before giving up.  ``ubc_uiomove`` drives it (uvm_ra in small: a read
  continuing where the last one ended reads a cluster further).
  ``genfs_getpage_nowait`` (kemu's, as mutex_enter_nowait is) does
  genfs_getpage_busy's common case as a plain call when it would neither
  sleep nor let another lwp run (a resident idle page, or a new one that
  needs no read; the same object lock pair); ubc_uiomove and
  ufs_balloc_range try it before awaiting genfs_getpage_busy.
* ``genfs_do_io`` is synchronous: one buf per contiguous run of blocks (no
  nested master buf), at most MAXPHYS each, waited for at once; a short
  transfer is EIO; a read stops at the first error, a write carries on
  and returns its first error (1.61 writes asynchronously, completion in
  uvm_aio_aiodone).  Holes read as zeros and are skipped on write.
* Dirtying a page does not put the vnode on the syncer's worklist
  (genfs_markdirty): dirty objects are listed in ``uvmexp().dirtyobjs``
  for the page daemon and sync.
* ``ubc_uiomove``/``ubc_zerorange`` copy straight into the pages (no UBC
  windows; ``advice`` and UBC_FAULTBUSY are ignored; ``ubc_purge`` has
  nothing to do).  A write that covers every byte of a page below EOF
  does not read it first.
* ``uvm_vnp_setsize`` frees the pages past the new EOF itself (waiting for
  busy ones) instead of calling VOP_PUTPAGES(PGO_FREE|PGO_SYNCIO), so it
  does so whenever the size goes below the old write size (1.117: when the
  old write size passes the new EOF rounded up to a page), and also zeroes
  the tail of the new last page.
* ``genfs_node_destroy`` throws away any page still resident.
* KASSERTs on the hot paths test their condition inline and call KASSERT
  (the same panic and message) only when it fails (uvm_vnp_setsize,
  uvm_vnp_setwritesize).
* ``uvm_vnp_setwritesize_nowait`` and ``uvm_vnp_setsize_nowait`` (kemu's,
  as mutex_enter_nowait is) do the whole of uvm_vnp_setwritesize, and of
  a uvm_vnp_setsize that drops no page, as a plain call when the object
  lock can be taken at once with nobody waiting for the CPU (else they do
  nothing and say so; the sizes are read under the lock only, and a size
  that would drop pages lets it go again at once); uvm_vnp_setwritesize
  tries its form first, and ext2fs_write calls both for each block a
  write extends.  The work under the lock is one plain function shared
  by both forms.
* genfs_getpage_busy's mutex_enter (its slow path) and genfs_do_putpages'
  two relocks of the object lock each pass a ``lock_site`` kept at module
  level for that call (kern_mutex's ``at``, kemu's): lockdebug's site is
  looked up once, not with a frame lookup at every call; the same sites and
  reports.
"""

from __future__ import annotations

from bisect import bisect_left, insort
from typing import TYPE_CHECKING, Any

from kern.cpu import curlwp, curlwp_or_none
from kern.errno import EINVAL, EIO
from kern.kern_condvar import cv_broadcast, cv_init, cv_wait, kcondvar_t
from kern.kern_mutex import lock_site, mutex_enter, mutex_enter_nowait, mutex_exit, mutex_owned
from kern.param import MAXPHYS, PAGE_MASK, PAGE_SHIFT, PAGE_SIZE, round_page, trunc_page  # noqa: F401 - re-exported
from kern.subr_prf import KASSERT, panic
from kern.subr_uio import uiomove
from vfs.buf import B_READ, B_WRITE, BC_BUSY
from vfs.uvm import uvm, uvm_kick_pdaemon, uvmexp
from vfs.vfs_bio import biowait, getiobuf, putiobuf
from vfs.vfs_trans import fstrans_done, fstrans_start, fstrans_start_nowait
from vfs.vnode import VSIZENOTSET
from vfs.vnode_if import VOP_BMAP, VOP_STRATEGY

if TYPE_CHECKING:
    from vfs.vnode import vnode


# pgo_put / VOP_PUTPAGES and pgo_get / VOP_GETPAGES flags (uvm/uvm_pager.h)
PGO_CLEANIT = 0x001        # write dirty pages back
PGO_SYNCIO = 0x002         # wait for the writes
PGO_DEACTIVATE = 0x004     # move to the inactive queue (nothing to do here)
PGO_FREE = 0x008           # free the (now clean) pages
PGO_ALLPAGES = 0x010       # every page of the object, offlo/offhi ignored
PGO_JOURNALLOCKED = 0x020
PGO_LOCKED = 0x040         # getpages: the object lock is held, don't sleep
PGO_BUSYFAIL = 0x080
PGO_OVERWRITE = 0x200      # getpages: the caller overwrites the whole pages
PGO_PASTEOF = 0x400        # getpages: pages beyond EOF are fine
PGO_NOBLOCKALLOC = 0x800
PGO_NOTIMESTAMP = 0x1000
PGO_RECLAIM = 0x2000       # putpages: the vnode is being reclaimed
PGO_LAZY = 0x8000          # putpages: a lazy flush (write-behind), not for integrity

# vm_page pg_flags (uvm/uvm_page.h)
PG_BUSY = 0x0001
PG_WANTED = 0x0002
PG_CLEAN = 0x0008
PG_FAKE = 0x0040           # contents not valid yet

# ubc_uiomove flags
UBC_READ = 0x001
UBC_WRITE = 0x002
UBC_FAULTBUSY = 0x004

# GOP_SIZE flags
GOP_SIZE_MEM = 0x4

# GOP_MARKUPDATE flags
GOP_UPDATE_ACCESSED = 1
GOP_UPDATE_MODIFIED = 2


class vm_page:
    """struct vm_page: one page of file data."""

    __slots__ = ("offset", "flags", "uobject", "data", "owner")

    def __init__(self, uobj: uvm_object, offset: int) -> None:
        self.offset = offset
        self.flags = PG_BUSY | PG_FAKE | PG_CLEAN
        self.uobject = uobj
        self.data = bytearray(PAGE_SIZE)
        self.owner: Any = None

    def __repr__(self) -> str:
        st = "clean" if self.flags & PG_CLEAN else "dirty"
        busy = " busy" if self.flags & PG_BUSY else ""
        return f"<vm_page off={self.offset:#x} {st}{busy}>"


class genfs_ops:
    """struct genfs_ops: what genfs needs from the file system."""

    def __init__(self, gop_size: Any = None, gop_alloc: Any = None, gop_write: Any = None,
                 gop_markupdate: Any = None) -> None:
        self.gop_size = gop_size or genfs_size
        self.gop_alloc = gop_alloc
        self.gop_write = gop_write or genfs_gop_write
        self.gop_markupdate = gop_markupdate


class uvm_object:
    """struct uvm_object of a vnode (uvm_vnode): its resident pages and their lock."""

    def __init__(self, vp: vnode, gops: genfs_ops) -> None:
        self.vmobj_vnode: vnode | None = vp
        self.vmobjlock = vp.v_interlock
        self.uo_pages: dict[int, vm_page] = {}
        self.uo_npages = 0
        self.uo_ndirty = 0
        # The radix tree's two tags, as sorted lists of page offsets: pages
        # that are dirty, and pages a putpages is writing back (busy, clean
        # until the write fails).  putpages finds the next tagged page
        # after an offset without visiting the others.
        self.uo_dirtyoffs: list[int] = []
        self.uo_wboffs: list[int] = []
        self.uo_cv = kcondvar_t()
        cv_init(self.uo_cv, "genput")
        self.g_op = gops  # the genfs_node part
        self.g_dirtygen = 0
        self.g_ranext = -1  # where the last read ended (sequential read detection)
        # The page counters of the machine the vnode lives in (the object
        # never leaves it): every page added, dirtied, cleaned or freed
        # counts there, without looking the machine up each time.
        self.uo_exp = uvmexp()

    def __repr__(self) -> str:
        return f"<uvm_object npages={self.uo_npages} dirty={self.uo_ndirty}>"


def genfs_node_init(vp: vnode, gops: genfs_ops) -> None:
    """Give ``vp`` a page cache whose I/O goes through ``gops``."""
    vp.v_uobj = uvm_object(vp, gops)


def genfs_node_destroy(vp: vnode) -> None:
    """Drop ``vp``'s page cache; every page must be gone (flush with PGO_FREE first)."""
    uobj = vp.v_uobj
    if uobj is None:
        return
    if uobj.uo_pages:
        # Whatever is left is thrown away (the file was removed or the
        # caller flushed and accepts losing what could not be written).
        for pg in list(uobj.uo_pages.values()):
            _page_free(uobj, pg)
    uobj.vmobj_vnode = None
    vp.v_uobj = None


def VTOG(vp: vnode) -> uvm_object:
    return vp.v_uobj


# ---------------------------------------------------------------- accounting

def _tag_clear(tag: list[int], off: int) -> None:
    i = bisect_left(tag, off)
    if i < len(tag) and tag[i] == off:
        del tag[i]


def _tag_next(tag: list[int], off: int) -> int | None:
    """The first tagged offset at or after ``off`` (radix_tree_gang_lookup_tagged_node)."""
    i = bisect_left(tag, off)
    return tag[i] if i < len(tag) else None


def _page_dirty(uobj: uvm_object, pg: vm_page, kick: bool = True) -> None:
    """Mark ``pg`` modified; past the high water mark, wake the page daemon.

    ``kick`` is False when a page whose write failed becomes dirty again:
    that is no new work, and the page daemon, whose own write may be the one
    that failed, must not wake itself up over and over.
    """
    flags = pg.flags
    pg.flags = flags & ~(PG_FAKE | PG_CLEAN)  # written: its contents are the file's now
    if flags & PG_CLEAN:
        uobj.uo_ndirty += 1
        tag = uobj.uo_dirtyoffs  # (the dirty tag set: a sorted insertion)
        off = pg.offset
        if not tag or tag[-1] < off:
            tag.append(off)  # the common case: a file written from start to end
        else:
            insort(tag, off)
        uobj.g_dirtygen += 1
        u = uobj.uo_exp
        u.dirtypages += 1
        u.dirtyobjs[uobj] = None
        if kick and u.dirtypages > u.dirtyhiwat:
            uvm_kick_pdaemon()


def _page_clean(uobj: uvm_object, pg: vm_page) -> None:
    if not pg.flags & PG_CLEAN:
        pg.flags |= PG_CLEAN
        uobj.uo_ndirty -= 1
        _tag_clear(uobj.uo_dirtyoffs, pg.offset)
        u = uobj.uo_exp
        u.dirtypages -= 1
        if uobj.uo_ndirty == 0:
            u.dirtyobjs.pop(uobj, None)


def _run_clean(uobj: uvm_object, run: list[vm_page]) -> None:
    """_page_clean of each page of ``run``: dirty pages at consecutive offsets,
    whose dirty tags are therefore one slice of the sorted tag list."""
    n = len(run)
    for pg in run:
        pg.flags |= PG_CLEAN
    _run_untag(uobj.uo_dirtyoffs, run)
    uobj.uo_ndirty -= n
    u = uobj.uo_exp
    u.dirtypages -= n
    if uobj.uo_ndirty == 0:
        u.dirtyobjs.pop(uobj, None)


def _run_tag(tag: list[int], run: list[vm_page]) -> None:
    """Tag each page of ``run`` (pages at consecutive offsets, none tagged)."""
    first = run[0].offset
    offs = range(first, run[-1].offset + PAGE_SIZE, PAGE_SIZE)
    if not tag or tag[-1] < first:
        tag.extend(offs)
    else:
        i = bisect_left(tag, first)
        tag[i:i] = offs


def _run_untag(tag: list[int], run: list[vm_page]) -> None:
    """_tag_clear of each page of ``run`` (pages at consecutive offsets, all tagged)."""
    i = bisect_left(tag, run[0].offset)
    del tag[i:i + len(run)]


def _page_insert(uobj: uvm_object, off: int, owner: Any) -> vm_page:
    """A new page of ``uobj`` at ``off``, busy (owned by lwp ``owner``) and PG_FAKE."""
    pg = vm_page(uobj, off)
    pg.owner = owner
    uobj.uo_pages[off] = pg
    uobj.uo_npages += 1
    u = uobj.uo_exp
    u.npages += 1
    u.filepages += 1
    return pg


def _page_free(uobj: uvm_object, pg: vm_page) -> None:
    _page_clean(uobj, pg)
    if uobj.uo_wboffs:
        _tag_clear(uobj.uo_wboffs, pg.offset)
    if uobj.uo_pages.get(pg.offset) is pg:
        del uobj.uo_pages[pg.offset]
        uobj.uo_npages -= 1
        u = uobj.uo_exp
        u.npages -= 1
        u.filepages -= 1
    if pg.flags & PG_WANTED:
        cv_broadcast(uobj.uo_cv)
    pg.flags = 0


def uvm_page_unbusy(uobj: uvm_object, pgs: list[vm_page]) -> None:
    """Release busy pages (object lock not needed: this never sleeps).

    A page still PG_FAKE was created to be overwritten and never was (the
    caller failed before writing it): its zeros are not the file's data, so
    it is freed rather than left resident, as NetBSD releases such pages.
    """
    wake = False
    for pg in pgs:
        flags = pg.flags
        if flags & PG_FAKE:
            _page_free(uobj, pg)
            wake = True
            continue
        if flags & PG_WANTED:
            wake = True
        pg.flags = flags & ~(PG_BUSY | PG_WANTED)
        pg.owner = None
    if wake:
        cv_broadcast(uobj.uo_cv)


def genfs_dirty_pages(vp: vnode | None = None) -> int:
    """Dirty pages of ``vp``, or of the whole machine."""
    if vp is None:
        return uvmexp().dirtypages
    return vp.v_uobj.uo_ndirty if vp.v_uobj is not None else 0


def genfs_resident_pages(vp: vnode) -> int:
    return vp.v_uobj.uo_npages if vp.v_uobj is not None else 0


# ---------------------------------------------------------------- block I/O

def genfs_size(vp: vnode, size: int, flags: int) -> int:
    """GOP_SIZE: pages end where the file does."""
    return size


async def genfs_do_io(vp: vnode, off: int, data: memoryview, length: int, write: bool) -> int:
    """Read or write ``length`` bytes of file ``vp`` at ``off`` (block aligned) from/to ``data``.

    Blocks are mapped with VOP_BMAP; contiguous runs become one buf sent to
    VOP_STRATEGY of the device vnode.  Holes read as zeros and are skipped
    on write (the file system allocates before data lands in pages).
    """
    mp = vp.v_mount
    fs_bshift = mp.mnt_fs_bshift if mp is not None else PAGE_SHIFT
    dev_bshift = mp.mnt_dev_bshift if mp is not None else 9
    bsize = 1 << fs_bshift
    pos = off
    end = off + length
    first_error = 0
    while pos < end:
        lbn = pos >> fs_bshift
        boff = pos & (bsize - 1)
        error, devvp, blkno, run = await VOP_BMAP(vp, lbn)
        if error:
            return error
        run = run or 0
        iobytes = min(((run + 1) << fs_bshift) - boff, end - pos, MAXPHYS)
        if blkno is None or blkno < 0 or devvp is None:
            iobytes = min(bsize - boff, end - pos)
            if not write:
                data[pos - off:pos - off + iobytes] = bytes(iobytes)
            pos += iobytes
            continue
        bp = getiobuf(vp, True)
        bp.b_flags = B_WRITE if write else B_READ
        bp.b_cflags = BC_BUSY
        bp.b_data = data[pos - off:pos - off + iobytes]
        bp.b_bcount = bp.b_bufsize = bp.b_resid = iobytes
        bp.b_blkno = bp.b_rawblkno = blkno + (boff >> dev_bshift)
        bp.b_lblkno = lbn
        bp.b_error = 0
        bp.b_proc = None
        if write:
            vp.v_numoutput += 1
        await VOP_STRATEGY(devvp, bp)
        error = await biowait(bp)
        if error == 0 and bp.b_resid:
            error = EIO
        putiobuf(bp)
        if error:
            if not write:
                return error
            first_error = first_error or error
        pos += iobytes
    return first_error


def _io_extent(vp: vnode, off: int) -> int:
    """Bytes of the page at ``off`` that are backed by blocks below EOF."""
    uobj = vp.v_uobj
    eof = uobj.g_op.gop_size(vp, vp.v_size, GOP_SIZE_MEM)
    if off >= eof:
        return 0
    mp = vp.v_mount
    bsize = 1 << (mp.mnt_fs_bshift if mp is not None else PAGE_SHIFT)
    n = min(PAGE_SIZE, eof - off)
    return min(PAGE_SIZE, (n + bsize - 1) & ~(bsize - 1))


def _runs(pgs: list[vm_page]) -> list[list[vm_page]]:
    """``pgs`` cut into runs of pages at consecutive offsets."""
    runs: list[list[vm_page]] = []
    run: list[vm_page] = []
    nxt = -1  # the offset that continues the current run
    for pg in pgs:
        o = pg.offset
        if o == nxt:
            run.append(pg)
        else:
            run = [pg]
            runs.append(run)
        nxt = o + PAGE_SIZE
    return runs


def _run_extent(vp: vnode, run: list[vm_page]) -> int:
    """Bytes of a run of pages backed by blocks below EOF (from its first page)."""
    for k in range(len(run) - 1, -1, -1):
        n = _io_extent(vp, run[k].offset)
        if n:
            return k * PAGE_SIZE + n
    return 0


async def genfs_gop_write(vp: vnode, pgs: list[vm_page], npages: int, flags: int) -> int:
    """GOP_WRITE: write busy pages through the block map; the first error is returned.

    Pages at consecutive offsets go out together (genfs_do_io cuts them
    into one buf per contiguous run of blocks, at most MAXPHYS each), as
    NetBSD maps a page cluster into one pager window for one I/O.
    """
    first = 0
    for run in _runs(pgs[:npages]):
        n = _run_extent(vp, run)
        if n == 0:
            continue
        data = memoryview(run[0].data) if len(run) == 1 else \
            memoryview(b"".join([pg.data for pg in run]))
        error = await genfs_do_io(vp, run[0].offset, data, n, True)
        if error and not first:
            first = error
    return first


async def _pages_fill(vp: vnode, run: list[vm_page]) -> int:
    """Read the contents of new pages at consecutive offsets from the disk, with
    one I/O per run of blocks (zeros past EOF and in holes)."""
    n = _run_extent(vp, run)
    if n:
        if len(run) == 1:
            error = await genfs_do_io(vp, run[0].offset, memoryview(run[0].data), n, False)
        else:
            buf = memoryview(bytearray(len(run) * PAGE_SIZE))
            error = await genfs_do_io(vp, run[0].offset, buf, n, False)
            if not error:
                # (each page copied from a view of the buffer: no copy of its slice first)
                for k, pg in enumerate(run):
                    pg.data[:] = buf[k * PAGE_SIZE:(k + 1) * PAGE_SIZE]
        if error:
            return error
    eof = vp.v_size
    for pg in run:
        # Bytes beyond EOF always read as zeros.
        start = max(0, min(PAGE_SIZE, eof - pg.offset))
        if start < PAGE_SIZE:
            pg.data[start:] = bytes(PAGE_SIZE - start)
        pg.flags &= ~PG_FAKE
    return 0


_getpage_site = lock_site()  # (its vmobjlock; see lock_site)
_nowait_site = lock_site()


def genfs_getpage_nowait(uobj: uvm_object | None, off: int, nofill: bool = False) -> vm_page | None:
    """kemu: ``await genfs_getpage_busy(vp, off, nofill)`` when it would neither
    sleep nor let another lwp run, as a plain call (as mutex_enter_nowait is
    mutex_enter's): the page at ``off`` (page aligned) is resident and not
    busy, or not resident and ``nofill`` says it needs no read, and the
    object lock is free with nobody waiting for the CPU.  Then the page is
    made busy (created, if need be) under the lock, as genfs_getpage_busy
    does, and returned; otherwise nothing is done (None) and the caller
    awaits genfs_getpage_busy, which does the whole of it.  The page is
    looked at before the lock is taken: mutex_enter_nowait lets nobody run,
    so nothing changes in between.  (No page cache: None, for
    genfs_getpage_busy to say so.)
    """
    if uobj is None:
        return None
    pg = uobj.uo_pages.get(off)
    if pg is None:
        if not nofill:
            return None
    elif pg.flags & PG_BUSY:
        return None
    lock = uobj.vmobjlock
    if not mutex_enter_nowait(lock, 1, _nowait_site):
        return None
    if pg is None:
        pg = _page_insert(uobj, off, curlwp_or_none())
    else:
        pg.flags |= PG_BUSY
        pg.owner = curlwp_or_none()
    mutex_exit(lock)
    return pg


_getpage_slow_site = lock_site()


async def genfs_getpage_busy(vp: vnode, off: int, nofill: bool = False,
                             ra_end: int = 0) -> tuple[int, vm_page | None]:
    """The page of ``vp`` at ``off``, busy, with valid contents.

    A page not resident is created; it is read from the disk unless
    ``nofill`` says the caller will overwrite every byte of it that lies
    below EOF (then it starts as zeros and stays PG_FAKE until written).
    When it is read, the pages after it up to ``ra_end`` (at most a MAXPHYS
    cluster, not past EOF) that are not resident either are read in the
    same I/O and left resident, clean and not busy: the read clustering and
    read-ahead of genfs_getpages.
    """
    uobj = vp.v_uobj
    if uobj is None:
        panic("genfs_getpage_busy: %r has no page cache", vp)
    off &= ~PAGE_MASK  # trunc_page
    me = curlwp_or_none()  # (curlwp; outside an lwp mutex_enter says so)
    lock = uobj.vmobjlock
    pages = uobj.uo_pages
    if not mutex_enter_nowait(lock, 1, _getpage_site):
        await mutex_enter(lock, at=_getpage_slow_site)
    while True:
        pg = pages.get(off)
        if pg is None:
            pg = _page_insert(uobj, off, me)
            break
        if pg.flags & PG_BUSY:
            pg.flags |= PG_WANTED
            await cv_wait(uobj.uo_cv, lock)
            continue
        pg.flags |= PG_BUSY
        pg.owner = me
        mutex_exit(lock)
        return 0, pg
    if nofill:
        # Zeros, and PG_FAKE until the caller writes it (genfs_page_dirty):
        # unbusied unwritten, it is thrown away.
        mutex_exit(lock)
        return 0, pg
    run = [pg]
    end = min(ra_end, off + MAXPHYS, round_page(vp.v_size))
    o = off + PAGE_SIZE
    while o < end and o not in pages:
        run.append(_page_insert(uobj, o, me))
        o += PAGE_SIZE
    mutex_exit(lock)
    error = await _pages_fill(vp, run)
    if error and len(run) > 1:
        # The read-ahead part must not fail the read: try the page alone.
        for p in run[1:]:
            _page_free(uobj, p)
        cv_broadcast(uobj.uo_cv)
        run = [pg]
        error = await _pages_fill(vp, run)
    if error:
        for p in run:
            _page_free(uobj, p)
        cv_broadcast(uobj.uo_cv)
        return error, None
    uvm_page_unbusy(uobj, run[1:])
    return 0, pg


def genfs_page_dirty(vp: vnode, pg: vm_page) -> None:
    """Mark a busy page modified."""
    _page_dirty(vp.v_uobj, pg)


# ---------------------------------------------------------------- ubc

async def ubc_uiomove(uobj: uvm_object, uio: Any, todo: int, advice: int, flags: int) -> int:
    """Move ``todo`` bytes between ``uio`` and the pages at uio_offset.

    For UBC_WRITE the caller has allocated the blocks (GOP_ALLOC) and the
    pages it writes to end up dirty.  Reads of a page not resident read it in.
    """
    vp = uobj.vmobj_vnode
    if vp is None:
        return EINVAL
    write = flags & UBC_WRITE != 0
    ra_end = 0
    if not write:
        # Read what this call needs in clusters; a read that goes on where
        # the last one ended reads one cluster further ahead (uvm_ra, in small).
        ra_end = uio.uio_offset + todo
        if uio.uio_offset == uobj.g_ranext:
            ra_end += MAXPHYS
    while todo > 0:
        off = uio.uio_offset
        pgoff = off & ~PAGE_MASK  # trunc_page
        inpg = off - pgoff
        n = PAGE_SIZE - inpg
        if n > todo:  # (MIN, without a call: once a page)
            n = todo
        nofill = False
        if write:
            # Nothing outside the bytes written lies below EOF: no need to read.
            size = vp.v_size
            before = inpg > 0 and pgoff < size
            after = off + n < pgoff + PAGE_SIZE and off + n < size
            nofill = not (before or after)
        pg = genfs_getpage_nowait(uobj, pgoff, nofill)
        if pg is None:
            error, pg = await genfs_getpage_busy(vp, pgoff, nofill, ra_end)
            if error:
                return error
            assert pg is not None
        mv = memoryview(pg.data)
        if n != PAGE_SIZE:  # (a whole page is the whole view: no slice)
            mv = mv[inpg:inpg + n]
        resid0 = uio.uio_resid
        error = await uiomove(mv, n, uio)
        moved = resid0 - uio.uio_resid
        if write and moved and pg.flags & (PG_CLEAN | PG_FAKE):  # (else it is dirty already)
            _page_dirty(uobj, pg)
        pflags = pg.flags
        if pflags & (PG_FAKE | PG_WANTED):
            uvm_page_unbusy(uobj, [pg])
        else:  # (uvm_page_unbusy of one page that nobody waits for, written out)
            pg.flags = pflags & ~PG_BUSY
            pg.owner = None
        if error:
            return error
        if moved == 0:
            break
        todo -= moved
    if not write:
        uobj.g_ranext = uio.uio_offset
    return 0


async def ubc_zerorange(uobj: uvm_object, off: int, length: int, flags: int) -> int:
    """Zero ``length`` bytes of the file at ``off`` in its pages (they become dirty)."""
    vp = uobj.vmobj_vnode
    if vp is None:
        return EINVAL
    while length > 0:
        pgoff = trunc_page(off)
        inpg = off - pgoff
        n = min(PAGE_SIZE - inpg, length)
        error, pg = await genfs_getpage_busy(vp, pgoff, False)
        if error:
            return error
        assert pg is not None
        pg.data[inpg:inpg + n] = bytes(n)
        _page_dirty(uobj, pg)
        uvm_page_unbusy(uobj, [pg])
        off += n
        length -= n
    return 0


def ubc_purge(uobj: uvm_object) -> None:
    """Nothing is mapped in kemu: there are no UBC windows to purge."""


# ---------------------------------------------------------------- size changes

_setsize_site = lock_site()
_setsize_nowait_site = lock_site()


async def uvm_vnp_setsize(vp: vnode, newsize: int) -> None:
    """Tell the page cache the file is now ``newsize`` bytes.

    Pages wholly past the new EOF are thrown away (dirty or not); the part
    of the last page beyond EOF is zeroed.  As NetBSD's, the old size is the
    write size, which a write raises before it allocates (so the pages of a
    write that failed go too); a vnode whose size was never set
    (VSIZENOTSET) has no pages to drop.  The object lock is held throughout,
    whether the file grows or shrinks, and the sizes change under it once
    the pages are gone (NetBSD: vmobjlock, which is v_interlock in kemu as
    in NetBSD 8).  1.117's assertions hold the callers to the protocol: the
    sizes only ever change here and in uvm_vnp_setwritesize, so v_size never
    passes v_writesize, and while a write has raised v_writesize the new size
    is either that write size or no more than v_size.
    """
    uobj = vp.v_uobj
    lock = uobj.vmobjlock if uobj is not None else vp.v_interlock
    if not mutex_enter_nowait(lock, 1, _setsize_site):
        await mutex_enter(lock)
    if _setsize_locked(vp, uobj, newsize):
        mutex_exit(lock)
        return
    # Pages past the new size go (a shrink below the write size).
    assert uobj is not None
    keep = round_page(newsize)
    while True:
        victims = [pg for o, pg in uobj.uo_pages.items() if o >= keep]
        busy = [pg for pg in victims if pg.flags & PG_BUSY]
        if not busy:
            break
        busy[0].flags |= PG_WANTED
        await cv_wait(uobj.uo_cv, lock)
    for pg in victims:
        _page_free(uobj, pg)
    last = uobj.uo_pages.get(trunc_page(newsize))
    if last is not None and newsize & PAGE_MASK:
        # Wait for a write-back in progress, then clear the tail.
        while last.flags & PG_BUSY and uobj.uo_pages.get(last.offset) is last:
            last.flags |= PG_WANTED
            await cv_wait(uobj.uo_cv, lock)
        if uobj.uo_pages.get(last.offset) is last:
            t = newsize & PAGE_MASK
            last.data[t:] = bytes(PAGE_SIZE - t)
    vp.v_size = vp.v_writesize = newsize
    mutex_exit(lock)


def uvm_vnp_setsize_nowait(vp: vnode, newsize: int) -> bool:
    """kemu: ``await uvm_vnp_setsize(vp, newsize)`` as a plain call when it
    drops no page (the size does not go below the write size, or the vnode
    has no page cache or no size yet) and the object lock can be taken at
    once with nobody waiting for the CPU: then all of it is done, True;
    otherwise nothing is done, False, and the caller awaits uvm_vnp_setsize.
    The sizes are looked at under the lock only, as uvm_vnp_setsize does (a
    size that would drop pages: the lock is let go again, nothing changed).
    A write extending its file sets each block's new size this way."""
    uobj = vp.v_uobj
    lock = uobj.vmobjlock if uobj is not None else vp.v_interlock
    if not mutex_enter_nowait(lock, 1, _setsize_nowait_site):  # (each block a write extends)
        return False
    done = _setsize_locked(vp, uobj, newsize)
    mutex_exit(lock)  # (not done: pages to drop, uvm_vnp_setsize's work, which may sleep)
    return done


def _setsize_locked(vp: vnode, uobj: uvm_object | None, newsize: int) -> bool:
    """uvm_vnp_setsize's KASSERTs, then, when no page is to go (the size does
    not go below the write size, or there is no page cache or no size yet),
    the sizes set: True; False, nothing set: the caller drops the pages
    first.  Under the object lock."""
    size, wsize = vp.v_size, vp.v_writesize
    if not (newsize != VSIZENOTSET and newsize >= 0 and size <= wsize and
            (size == wsize or newsize == wsize or newsize <= size)):
        # (the KASSERTs' calls only when one fails: each block a write extends)
        KASSERT(newsize != VSIZENOTSET and newsize >= 0)
        KASSERT(vp.v_size <= vp.v_writesize)
        KASSERT(vp.v_size == vp.v_writesize or
                newsize == vp.v_writesize or newsize <= vp.v_size)
    if newsize < wsize and uobj is not None and wsize != VSIZENOTSET:  # (a grow: one test)
        return False
    vp.v_size = vp.v_writesize = newsize
    return True


_setwritesize_nowait_site = lock_site()


async def uvm_vnp_setwritesize(vp: vnode, newsize: int) -> None:
    """Raise the size a write in progress may fill (``v_writesize``).

    As uvm_vnode.c 1.117: under the object lock (vmobjlock, which is
    v_interlock in kemu as in NetBSD 8; v_interlock itself for a vnode
    without a page cache), taken before the sizes are looked at, on a vnode
    whose size is set, and never below the committed size ``v_size``.
    """
    if uvm_vnp_setwritesize_nowait(vp, newsize):
        return
    uobj = vp.v_uobj
    lock = uobj.vmobjlock if uobj is not None else vp.v_interlock
    await mutex_enter(lock)
    _setwritesize_locked(vp, newsize)
    mutex_exit(lock)


def uvm_vnp_setwritesize_nowait(vp: vnode, newsize: int) -> bool:
    """kemu: ``await uvm_vnp_setwritesize(vp, newsize)`` as a plain call when the
    object lock can be taken at once with nobody waiting for the CPU (as
    mutex_enter_nowait is mutex_enter's): then all of it is done, True;
    otherwise nothing is done, False, and the caller awaits
    uvm_vnp_setwritesize (which tries this first)."""
    uobj = vp.v_uobj
    lock = uobj.vmobjlock if uobj is not None else vp.v_interlock
    if not mutex_enter_nowait(lock, 1, _setwritesize_nowait_site):  # (each block a write extends)
        return False
    _setwritesize_locked(vp, newsize)
    mutex_exit(lock)
    return True


def _setwritesize_locked(vp: vnode, newsize: int) -> None:
    """uvm_vnp_setwritesize's work under the object lock."""
    size, wsize = vp.v_size, vp.v_writesize
    if not (newsize != VSIZENOTSET and newsize >= 0 and size != VSIZENOTSET and
            wsize != VSIZENOTSET and size <= wsize and size <= newsize):
        # (the KASSERTs' calls only when one fails: each block a write extends)
        KASSERT(newsize != VSIZENOTSET and newsize >= 0)
        KASSERT(vp.v_size != VSIZENOTSET)
        KASSERT(vp.v_writesize != VSIZENOTSET)
        KASSERT(vp.v_size <= vp.v_writesize)
        KASSERT(vp.v_size <= newsize)
    vp.v_writesize = newsize


# ---------------------------------------------------------------- VOPs

async def genfs_getpages(v: Any) -> int:
    """VOP_GETPAGES: make pages resident.

    ``a_offset``: first byte; ``a_count``: number of pages (an int, or a
    one-element list as C's ``int *``); ``a_m``: a list that receives the
    pages, busy (the caller unbusies them with ``uvm_page_unbusy``), or None
    to just read them in.  With PGO_LOCKED the object lock is held and only
    resident, non-busy pages are returned, without sleeping.
    """
    ap = v
    vp = ap.a_vp
    uobj = vp.v_uobj
    count = ap.a_count[0] if isinstance(ap.a_count, list) else int(ap.a_count)
    off = trunc_page(ap.a_offset)
    if uobj is None:
        return EINVAL
    out = ap.a_m if isinstance(ap.a_m, list) else None
    if ap.a_flags & PGO_LOCKED:
        if not mutex_owned(uobj.vmobjlock):
            panic("genfs_getpages: PGO_LOCKED without the object lock")
        for i in range(count):
            pg = uobj.uo_pages.get(off + i * PAGE_SIZE)
            if out is not None:
                out.append(pg if pg is not None and not pg.flags & PG_BUSY else None)
        return 0
    eof = vp.v_size
    got: list[vm_page] = []
    for i in range(count):
        o = off + i * PAGE_SIZE
        if o >= round_page(eof) and not ap.a_flags & PGO_PASTEOF:
            break
        error, pg = await genfs_getpage_busy(vp, o, bool(ap.a_flags & PGO_OVERWRITE))
        if error:
            uvm_page_unbusy(uobj, got)
            return error
        assert pg is not None
        got.append(pg)
    if out is not None:
        out.extend(got)
    else:
        uvm_page_unbusy(uobj, got)
    return 0


async def genfs_putpages(v: Any) -> int:
    """VOP_PUTPAGES(vp, offlo, offhi, flags): write back and/or free pages.

    Entered with ``vp->v_interlock`` held; it is released before any I/O
    and not taken back.  Pages in [offlo, offhi) (to the end of the file
    with PGO_ALLPAGES or offhi == 0) are written if dirty (PGO_CLEANIT), then
    freed if clean (PGO_FREE).  A page whose write fails stays dirty; with
    PGO_SYNCIO the first error is returned.  The page daemon never sleeps waiting for a
    suspended file system: it gets the error of fstrans_start_nowait.
    """
    ap = v
    vp = ap.a_vp
    return await genfs_do_putpages(vp, ap.a_offlo, ap.a_offhi, ap.a_flags)


_putpages_trans_site = lock_site()
_putpages_written_site = lock_site()


async def genfs_do_putpages(vp: vnode, offlo: int, offhi: int, flags: int) -> int:
    """genfs_do_putpages as NetBSD's page-array version has it (genfs_io.c of the
    yamt-pagecache work, NetBSD 10's): the object lock is held over the scan and
    dropped only around a write or a wait; without PGO_FREE or PGO_DEACTIVATE
    only dirty pages are visited (the dirty tag; with an integrity sync,
    PGO_SYNCIO|PGO_CLEANIT without PGO_LAZY, also the pages other lwps are
    writing back, to wait for them); a dirty page goes out in one cluster with
    the dirty, idle pages around it (backwards only from the first page of the
    range), up to MAXPHYS, which may reach past ``offhi`` as NetBSD's does.

    Deviations: kemu's I/O is synchronous, so a cluster's write is finished
    when GOP_WRITE returns; a failed write leaves its pages dirty and the scan
    goes on (NetBSD stops at a synchronous error), and its error is returned
    only with PGO_SYNCIO (NetBSD's asynchronous writes report theirs to
    biodone, not to the caller).  A busy page is waited for by every caller
    but the page daemon, which passes it by: kemu's daemon offers whole
    objects, and NetBSD's, which scans its page queue and puts one page at a
    time, skips the busy ones (NetBSD's lazy flushes skip busy pages too;
    kemu's reclaim has no PGO_RECLAIM and relies on the wait).  Without the
    dirty-only walk, the resident pages in the range are taken when the scan
    starts; pages added meanwhile are left alone.
    """
    uobj = vp.v_uobj
    slock = vp.v_interlock
    if not mutex_owned(slock):
        panic("genfs_putpages: %r: v_interlock not held", vp)
    integrity_sync = flags & (PGO_LAZY | PGO_SYNCIO | PGO_CLEANIT) == PGO_SYNCIO | PGO_CLEANIT
    dirtyonly = not flags & (PGO_DEACTIVATE | PGO_FREE)
    # Nothing to do: no pages, or only clean ones and no write-back to wait for.
    if uobj is None or not uobj.uo_pages or \
            not flags & (PGO_CLEANIT | PGO_FREE | PGO_DEACTIVATE) or \
            (dirtyonly and not uobj.uo_dirtyoffs and not (integrity_sync and uobj.uo_wboffs)):
        mutex_exit(slock)
        return 0
    offlo = trunc_page(offlo)
    if flags & PGO_ALLPAGES or offhi == 0:
        offhi = 1 << 63
    if offhi <= offlo:
        mutex_exit(slock)
        return 0

    # Writing pages is a change to the file system: join its transaction.
    pagedaemon = curlwp() is uvm.pagedaemon_lwp
    trans_mp = None
    if flags & PGO_CLEANIT and uobj.uo_ndirty and vp.v_mount is not None:
        trans_mp = vp.v_mount
        if pagedaemon:
            # The page daemon must not sleep here.
            error = fstrans_start_nowait(trans_mp)
            if error:
                mutex_exit(slock)
                return error
        else:
            mutex_exit(slock)
            await fstrans_start(trans_mp)
            if vp.v_mount is not trans_mp:
                # The vnode changed mounts (was reclaimed) meanwhile.
                fstrans_done(trans_mp)
                trans_mp = None
            await mutex_enter(slock, at=_putpages_trans_site)

    maxpages = MAXPHYS // PAGE_SIZE
    pages = uobj.uo_pages
    resident: list[int] = []
    ri = 0
    if not dirtyonly:
        resident = sorted(o for o in pages if offlo <= o < offhi)
    error = 0
    nextoff = offlo
    while True:
        # The next page to look at (uvm_page_array_fill_and_peek).
        if dirtyonly:
            o = _tag_next(uobj.uo_dirtyoffs, nextoff)
            if integrity_sync and uobj.uo_wboffs:
                w = _tag_next(uobj.uo_wboffs, nextoff)
                if w is not None and (o is None or w < o):
                    o = w
            pg = pages.get(o) if o is not None else None
            if pg is None or o >= offhi:
                break
        else:
            while ri < len(resident) and (resident[ri] < nextoff or resident[ri] not in pages):
                ri += 1
            if ri == len(resident):
                break
            o = resident[ri]
            pg = pages[o]
        assert o is not None
        if pg.flags & PG_BUSY:
            if pagedaemon:
                # Someone else has the page: the daemon passes it by, as
                # uvmpd_scan_queue passes busy pages by.
                nextoff = o + PAGE_SIZE
                continue
            pg.flags |= PG_WANTED
            await cv_wait(uobj.uo_cv, slock)
            nextoff = o  # look at this page again
            continue
        nextoff = o + PAGE_SIZE
        cluster = [pg]
        if flags & PGO_CLEANIT and not pg.flags & PG_CLEAN:
            # The dirty, idle neighbours go out in the same write: backwards
            # only from the first page of the range (the scan ascends), then
            # forwards to fill MAXPHYS (uvn_findpages, UFP_DIRTYONLY).
            back: list[vm_page] = []
            if o == offlo:
                b = o - PAGE_SIZE
                while b >= 0 and len(back) < maxpages // 2:
                    q = pages.get(b)
                    if q is None or q.flags & (PG_BUSY | PG_CLEAN):
                        break
                    back.append(q)
                    b -= PAGE_SIZE
                back.reverse()
            cluster = back + cluster
            nxt = o + PAGE_SIZE
            while len(cluster) < maxpages:
                q = pages.get(nxt)
                if q is None or q.flags & (PG_BUSY | PG_CLEAN):
                    break
                cluster.append(q)
                nxt += PAGE_SIZE
            me = curlwp()
            for q in cluster:
                q.flags |= PG_BUSY
                q.owner = me
            # Clean before the write: a change made meanwhile dirties it
            # again.  (The cluster is dirty pages at consecutive offsets: its
            # tags move from the dirty list to the write-back list as a slice.
            # Busy, its pages get no other tags while the lock is dropped.)
            _run_clean(uobj, cluster)
            _run_tag(uobj.uo_wboffs, cluster)
            mutex_exit(slock)
            e = await uobj.g_op.gop_write(vp, cluster, len(cluster), flags)
            await mutex_enter(slock, at=_putpages_written_site)
            _run_untag(uobj.uo_wboffs, cluster)
            if e:
                for q in cluster:
                    _page_dirty(uobj, q, kick=False)
                uvmexp().pdfailed += len(cluster)
                if flags & PGO_SYNCIO:
                    error = error or e
            uvm_page_unbusy(uobj, cluster)
            nextoff = cluster[-1].offset + PAGE_SIZE
        if flags & PGO_FREE:
            for q in cluster:
                if offlo <= q.offset < offhi and q.flags & PG_CLEAN and \
                        not q.flags & PG_BUSY and pages.get(q.offset) is q:
                    _page_free(uobj, q)
    mutex_exit(slock)

    if trans_mp is not None:
        fstrans_done(trans_mp)
    return error
