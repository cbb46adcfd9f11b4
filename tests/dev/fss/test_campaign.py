"""A seeded fault campaign: writers, an fss snapshot and its readers, with one to three faults.

Each run boots a machine from its seed and draws, from the same seed, where
the backing store lives (the root file system, or a second ext2 disk), the
snapshot's cluster size, the writers' and readers' work and one to three
faults among the sites below, each with a knob (the Nth call, or a small
probability a limited number of times).  The run then:

1. mounts the origin (an ext2 image, /dev/wd0 on /mnt) and gives every
   writer its files, synced;
2. creates the snapshot (FSSIOCSET on /dev/rfss0) with the creation-time
   faults armed, and keeps the origin image as it is then (the snapshot
   must show exactly that);
3. arms the run-time faults and runs two writers (pwrite, append, create,
   unlink, fsync on their own files, each call's outcome kept in a model of
   the files) and two readers (pread of random ranges of /dev/rfss0,
   compared with the kept image) concurrently;
4. disarms every fault, syncs, reads the whole snapshot once more,
   unconfigures it, unmounts (which must succeed), runs e2fsck on the origin
   (and the store's disk), remounts and reads every file back.

Fault sites (``SITES``): the origin disk (disk.read/write/short/slow on
wd0), the backing store (its disk wd1, or the VOPs of the fss0 thread that
reads and writes it), the writers' and readers' VOPs, allocation
(kthread_create, fd_allocfile: nothing on these paths allocates with
KM_NOSLEEP, the only kmem_alloc that can fail), copyin/copyout, and the
creation path (vfs_suspend, VFS_SYNC, fscow_establish).

What a run may legitimately end with depends on the faults that fired
(``LEGITIMATE``, checked by ``classify``):

* nothing fired: every call succeeds, every read is exact, e2fsck is clean;
* a fault on a writer's calls or on the origin disk: a writer's call may
  fail with an errno (its file then holds, in the range it wrote, either
  its old or its new bytes); disk.slow only delays and explains no error;
* a creation-time fault: FSSIOCSET fails with an errno, nothing is left;
* a fault on the read path (origin disk, store, reader): a snapshot read
  fails with an errno;
* a write error on the backing store: the snapshot becomes invalid (reads
  give ENXIO) -- and 1.104's B13 may deadlock the bs thread against a
  writer in the copy-on-write handler;
* a fault on the origin disk (or a writer's VOP_STRATEGY): the buffer
  cache forgets a failed metadata write as NetBSD 8's does
  (tests/fs/ext2fs/test_ext2fs_write_errors.py), so e2fsck may find the
  origin damaged, written data may be lost, and a lost inode bitmap makes
  the next create panic "ext2fs_valloc: dup alloc", as NetBSD's does;
* a fault on the store's disk: the same for the store's file system, and
  then the snapshot may read other clusters' data;
* 1.104's own defects, pinned by tests/dev/fss/test_defects.py and by
  "fidelity-fss": a short origin read comes back short with no error
  (disk.short on the origin), a failed indirect-cluster read or write is
  taken as a hole (the snapshot reads zeros or the origin's new data:
  any fault on the store).

Anything else (a Python exception in the kernel, another panic or
deadlock, a stale error, a lock left held, unmount failing once the faults
are gone, damage or lost data without a disk fault) is a kemu bug and
fails the run.

Two dozen runs by default (about 0.15 s of CPU each, so a few seconds of
the suite); ``pytest tests/dev/fss/test_campaign.py --kemu-sweep=N`` runs N
(with pytest-xdist, ``-n 2`` spreads them).  The summary of outcomes by
class is printed at the end of the session.
"""

from __future__ import annotations

import functools
import random
import shutil
from dataclasses import dataclass, field

import pytest
import trio
import trio.testing

import kern
from dev.fss.fssvar import FSSIOCCLR
from kern.errno import ENXIO, errorcode
from kern.exceptions import SyscallError
from kern.fcntl import O_APPEND, O_CREAT, O_EXCL, O_RDONLY, O_RDWR
from kern.machine import testing as kt
from kern.machine.testing import MiB, errno_of, sweep
from tools.lib import libc

pytestmark = pytest.mark.skipif(kt.e2fsprogs_missing() is not None,
                                reason=str(kt.e2fsprogs_missing()))

ORIGIN_SIZE = 4 * MiB
STORE_SIZE = 2 * MiB
WRITERS = 2
READERS = 2
FILES = 3          # per writer, made before the snapshot
FSIZE = 6000
KEY = "kemu_campaign"

# ---------------------------------------------------------------- the sites

# (site, scope): scope says which calls it is limited to.
SITES = [
    ("disk.write", "origin"), ("disk.read", "origin"), ("disk.short", "origin"),
    ("disk.slow", "origin"),
    ("disk.write", "store-disk"), ("disk.read", "store-disk"), ("disk.short", "store-disk"),
    ("VOP_WRITE", "fss0"), ("VOP_READ", "fss0"), ("VOP_PUTPAGES", "fss0"),
    ("VOP_WRITE", "writer"), ("VOP_FSYNC", "writer"), ("VOP_CREATE", "writer"),
    ("VOP_LOOKUP", "writer"), ("VOP_REMOVE", "writer"), ("VOP_PUTPAGES", "writer"),
    ("VOP_STRATEGY", "writer"), ("VOP_READ", "reader"), ("VOP_STRATEGY", "reader"),
    ("kthread_create", "creator"), ("fd_allocfile", "writer"),
    ("fd_allocfile", "reader"),
    ("copyin", "writer"), ("copyout", "reader"),
    ("vfs_suspend", "creator"), ("VFS_SYNC", "creator"), ("fscow_establish", "creator"),
]
CREATE_TIME = {"kthread_create", "vfs_suspend", "VFS_SYNC", "fscow_establish"}


@dataclass
class Fault:
    site: str
    scope: str
    knobs: dict
    phase: str            # "create" or "run"
    lwp: str = ""         # the lwp a writer/reader/creator/fss0 scope names
    fired: int = 0

    def __str__(self) -> str:
        return f"{self.site}@{self.lwp or self.scope}({self.phase})"


def draw_faults(rng: random.Random, store_on_disk: bool) -> list[Fault]:
    sites = [s for s in SITES if store_on_disk or s[1] != "store-disk"]
    out = []
    for site, scope in rng.sample(sites, rng.randint(1, 3)):
        if rng.random() < 0.6:
            knobs = {"fail_nth": rng.randint(1, 6)}
        else:
            knobs = {"probability": rng.choice([0.05, 0.1, 0.3, 0.6]),
                     "times": rng.randint(1, 3)}
        if site == "disk.slow":
            knobs["extra"] = {"ticks": rng.randint(1, 20)}
        if site in ("copyin", "copyout"):
            knobs["error"] = 14  # EFAULT
        elif site == "kthread_create":
            knobs["error"] = 35  # EAGAIN
        elif site == "fd_allocfile":
            knobs["error"] = 23  # ENFILE
        if site in CREATE_TIME or scope == "creator":
            phase = "create"
        elif scope in ("writer", "reader"):
            phase = "run"
        else:
            phase = rng.choice(["create", "run", "run"])
        lwp = {"fss0": "fss0", "creator": "creator",
               "writer": f"writer{rng.randrange(WRITERS)}",
               "reader": f"reader{rng.randrange(READERS)}"}.get(scope, "")
        out.append(Fault(site, scope, knobs, phase, lwp))
    return out


def arm(m: kern.Machine, faults: list[Fault], phase: str, devs: dict) -> list:
    armed = []
    for f in faults:
        if f.phase != phase:
            continue
        knobs = dict(f.knobs)
        if f.scope == "origin":
            knobs["dev"] = devs["origin"]
        elif f.scope == "store-disk":
            knobs["dev"] = devs["store"]
        elif f.lwp:
            knobs["lwp"] = f.lwp
        armed.append((f, m.faults.add(f.site, **knobs)))
    return armed


def disarm(m: kern.Machine, armed: list) -> None:
    for f, attr in armed:
        f.fired += attr.nfaults
        m.faults.remove(attr)
    armed.clear()


# ---------------------------------------------------------------- the model of the files

@dataclass
class FileModel:
    data: bytearray
    known: bytearray          # 1 where the byte is known
    exists: bool | None = True  # None: a failed create or unlink left it unknown


def _pattern(seed: int, n: int) -> bytes:
    r = random.Random(seed)
    return bytes(r.getrandbits(8) for _ in range(n))


async def writer(n: int, rng: random.Random, files: dict[str, FileModel], log: list) -> None:
    names = [f"w{n}_{i}" for i in range(FILES)]
    made = 0
    for _step in range(rng.randint(6, 12)):
        op = rng.choice(["pwrite", "pwrite", "pwrite", "append", "create", "fsync", "unlink"])
        live = [x for x in names if files[x].exists]
        if op in ("pwrite", "append", "fsync", "unlink") and not live:
            op = "create"
        if op == "create":
            name = f"w{n}_n{made}"
            made += 1
            names.append(name)
            data = _pattern(rng.getrandbits(32), rng.randint(1, 9000))
            try:
                fd = await libc.open(f"/mnt/{name}", O_RDWR | O_CREAT | O_EXCL, 0o644)
            except SyscallError as e:
                files[name] = FileModel(bytearray(), bytearray(), None)
                log.append((name, "create", e.errno))
                continue
            files[name] = FileModel(bytearray(), bytearray(), True)
            await _write(fd, name, files[name], data, 0, False, log)
            await libc.close(fd)
            continue
        name = rng.choice(live)
        fm = files[name]
        if op == "unlink":
            err = await errno_of(libc.unlink(f"/mnt/{name}"))
            fm.exists = False if err == 0 else None
            log.append((name, "unlink", err))
            continue
        try:
            fd = await libc.open(f"/mnt/{name}", O_RDWR | (O_APPEND if op == "append" else 0))
        except SyscallError as e:
            log.append((name, "open", e.errno))
            continue
        if op == "fsync":
            log.append((name, "fsync", await errno_of(libc.fsync(fd))))
        else:
            data = _pattern(rng.getrandbits(32), rng.choice([100, 1024, 4096, 5000, 9000]))
            off = len(fm.data) if op == "append" else rng.randrange(0, len(fm.data) + 2048)
            await _write(fd, name, fm, data, off, op == "append", log)
        await libc.close(fd)


async def _write(fd: int, name: str, fm: FileModel, data: bytes, off: int, append: bool,
                 log: list) -> None:
    try:
        if append:
            n = await libc.write(fd, data)
        else:
            n = await libc.pwrite(fd, data, off)
    except SyscallError as e:
        # As NetBSD's ext2fs_write: the file keeps its size; the bytes of the
        # range below it may hold old or new data.
        for i in range(off, min(off + len(data), len(fm.data))):
            fm.known[i] = 0
        log.append((name, "write", e.errno))
        return
    assert n == len(data), (name, n, len(data))
    end = off + n
    if end > len(fm.data):
        grow = end - len(fm.data)
        fm.data += bytes(grow)
        fm.known += b"\1" * grow
    fm.data[off:end] = data
    fm.known[off:end] = b"\1" * n
    log.append((name, "write", 0))


async def reader(n: int, rng: random.Random, frozen: bytes, out: list) -> None:
    try:
        fd = await libc.open("/dev/rfss0", O_RDONLY)
    except SyscallError as e:
        out.append(("open", e.errno))
        return
    for _ in range(rng.randint(4, 10)):
        off = rng.randrange(0, len(frozen), 512)
        size = rng.choice([512, 4096, 65536])
        try:
            got = await libc.pread(fd, size, off)
        except SyscallError as e:
            out.append(("errno", e.errno))
            continue
        want = frozen[off:off + size]
        if got == want:
            out.append(("ok", 0))
        elif want.startswith(got):
            out.append(("short", len(got)))
        else:
            out.append(("mismatch", off))
    await libc.close(fd)


# ---------------------------------------------------------------- one run

@dataclass
class Run:
    seed: int
    store_on_disk: bool = False
    csize: int = 0
    faults: list = field(default_factory=list)
    create: int = 0
    writes: list = field(default_factory=list)
    reads: list = field(default_factory=list)
    final_read: str = ""
    invalid: bool = False
    unmount: int = 0
    crash: str = ""
    origin_fsck: int = 0
    origin_fsck_out: str = ""
    store_fsck: int = 0
    lost: list = field(default_factory=list)
    fault_log: list = field(default_factory=list)
    dmesg: str = ""


@functools.lru_cache(maxsize=4)
def _template(kind: str, size: int, tmpdir: str) -> str:
    return kt.make_ext2_image(f"{tmpdir}/template-{kind}.img", size, mkfs="mke2fs")


def campaign_run(seed: int, workdir: str, tmpl_dir: str) -> Run:
    rng = random.Random(seed)
    r = Run(seed)
    r.store_on_disk = rng.random() < 0.5
    r.csize = rng.choice([0, 4096, 16384, 65536])
    r.faults = draw_faults(rng, r.store_on_disk)
    origin = f"{workdir}/origin.img"
    shutil.copyfile(_template("origin", ORIGIN_SIZE, tmpl_dir), origin)
    store_img = f"{workdir}/store.img"
    if r.store_on_disk:
        shutil.copyfile(_template("store", STORE_SIZE, tmpl_dir), store_img)
    files: dict[str, FileModel] = {}
    frozen: dict = {}
    wrngs = [random.Random(rng.getrandbits(32)) for _ in range(WRITERS)]
    rrngs = [random.Random(rng.getrandbits(32)) for _ in range(READERS)]

    async def main() -> None:
        async with kern.boot(seed=seed) as k:
            devs: dict = {}

            async def setup() -> None:
                await kt.attach_disk(origin, "/dev/wd0")
                await kt.mount_ext2("/dev/wd0", "/mnt")
                devs["origin"] = (await libc.stat("/dev/wd0")).st_rdev
                if r.store_on_disk:
                    await kt.attach_disk(store_img, "/dev/wd1")
                    await kt.mount_ext2("/dev/wd1", "/store")
                    devs["store"] = (await libc.stat("/dev/wd1")).st_rdev
                for w in range(WRITERS):
                    for i in range(FILES):
                        data = _pattern(seed * 100 + w * 10 + i, FSIZE)
                        fd = await libc.open(f"/mnt/w{w}_{i}", O_RDWR | O_CREAT, 0o644)
                        await libc.write(fd, data)
                        await libc.close(fd)
                        files[f"w{w}_{i}"] = FileModel(bytearray(data),
                                                       bytearray(b"\1" * FSIZE))
                await libc.sync()

            async def create() -> tuple[int, int]:
                fd = await libc.open("/dev/rfss0", O_RDWR)
                store = "/store/s" if r.store_on_disk else "/tmp/s"
                err = await errno_of(kt.fss_set_ioctl(fd, "/mnt", store, csize=r.csize))
                return err, fd

            armed: list = []
            try:
                await k.run(setup)
                armed = arm(k, r.faults, "create", devs)
                r.create, fd = await k.run(create, name="creator")
                disarm(k, armed)
                with open(origin, "rb") as f:
                    frozen["image"] = f.read()
                armed = arm(k, r.faults, "run", devs)
                logs: list = [[] for _ in range(WRITERS)]
                outs: list = [[] for _ in range(READERS)]

                async with trio.open_nursery() as nursery:
                    for w in range(WRITERS):
                        nursery.start_soon(_quiet, k.run, writer, w, wrngs[w], files, logs[w],
                                           f"writer{w}")
                    if r.create == 0:
                        for n in range(READERS):
                            nursery.start_soon(_quiet, k.run, reader, n, rrngs[n],
                                               frozen["image"], outs[n], f"reader{n}")
                disarm(k, armed)
                if k.failure is not None:
                    raise k.failure
                r.writes = [e for log in logs for e in log]
                r.reads = [e for out in outs for e in out]
                await k.run(finish, r, fd, frozen["image"], files)
            except kern.KernelError as e:
                disarm(k, armed)
                r.crash = f"{type(e).__name__}: {e}"
            finally:
                r.fault_log = [str(e) for e in k.faults.log]
                try:
                    r.dmesg = k.dmesg()
                except kern.KernelError:
                    pass
                r.invalid = "snapshot invalid" in r.dmesg

    try:
        trio.run(main, clock=trio.testing.MockClock(autojump_threshold=0))
    except kern.KernelError as e:
        r.crash = r.crash or f"{type(e).__name__}: {e}"
    if not r.crash:
        r.origin_fsck, r.origin_fsck_out = kt.e2fsck(origin)
        if r.store_on_disk:
            r.store_fsck = kt.e2fsck(store_img)[0]
    return r


async def _quiet(run, afn, *args) -> None:
    """Run an lwp; a crash of the machine shows at the next k.dmesg()."""
    *rest, name = args
    try:
        await run(afn, *rest, name=name)
    except kern.KernelError:
        pass


async def finish(r: Run, fd: int, frozen: bytes, files: dict[str, FileModel]) -> None:
    """With every fault gone: sync, the whole snapshot, unconfigure, unmount, read back."""
    await libc.sync()
    if r.create == 0:
        try:
            got = bytearray()
            while len(got) < len(frozen):
                chunk = await libc.pread(fd, 65536, len(got))
                if not chunk:
                    break
                got += chunk
            r.final_read = "exact" if bytes(got) == frozen else \
                ("short" if frozen.startswith(bytes(got)) else "mismatch")
        except SyscallError as e:
            r.final_read = errorcode.get(e.errno, str(e.errno))
        await errno_of(libc.ioctl(fd, FSSIOCCLR, None))
    await libc.close(fd)
    r.unmount = await errno_of(libc.unmount("/mnt", 0))
    if r.store_on_disk:
        await errno_of(libc.unmount("/store", 0))
    if r.unmount:
        return
    await kt.mount_ext2("/dev/wd0", "/mnt")
    for name, fm in files.items():
        if fm.exists is None:
            continue
        try:
            fd2 = await libc.open(f"/mnt/{name}", O_RDONLY)
        except SyscallError as e:
            if fm.exists:
                r.lost.append((name, "open", e.errno))
            continue
        if not fm.exists:
            r.lost.append((name, "still there"))
        try:
            data = await libc.pread(fd2, len(fm.data) + 1, 0)
        except SyscallError as e:
            r.lost.append((name, "read", e.errno))
            continue
        finally:
            await libc.close(fd2)
        if len(data) != len(fm.data):
            r.lost.append((name, "size", len(data), len(fm.data)))
        elif any(k and a != b for a, b, k in zip(data, fm.data, fm.known, strict=True)):
            r.lost.append((name, "data"))
    await errno_of(libc.unmount("/mnt", 0))


# ---------------------------------------------------------------- judging a run

def _fired(r: Run) -> list[Fault]:
    return [f for f in r.faults if f.fired]


def classify(r: Run) -> tuple[str, list[str], list[str]]:
    """(outcome class, symptoms, illegitimate symptoms) of a run."""
    # A slow disk only delays: it explains no error.
    fired = [f for f in _fired(r) if f.site != "disk.slow"]
    scopes = {f.scope for f in fired}
    sites = {(f.site, f.scope) for f in fired}
    origin_disk = "origin" in scopes or ("VOP_STRATEGY", "writer") in sites
    writer_side = bool(scopes & {"writer", "origin"})
    store_side = bool(scopes & {"fss0", "store-disk"})
    read_side = origin_disk or store_side or "reader" in scopes or \
        ("disk.read", "origin") in sites or ("disk.short", "origin") in sites
    symptoms: list[tuple[str, bool]] = []
    if r.crash:
        if "ext2fs_valloc: dup alloc" in r.crash:
            symptoms.append(("panic: ext2fs dup alloc",
                             origin_disk or ("disk.write", "store-disk") in sites
                             or ("disk.short", "store-disk") in sites))
        elif "Deadlock" in r.crash and "holds sc.sc_slock" in r.crash and \
                "cow_change_enter" in r.crash:
            symptoms.append(("deadlock: 1.104 B13", store_side))
        else:
            symptoms.append(("crash: " + r.crash.splitlines()[0][:80], False))
    if r.create:
        symptoms.append((f"create failed {errorcode.get(r.create, r.create)}",
                         any(f.phase == "create" for f in fired)))
    if any(e for _, _, e in r.writes):
        symptoms.append(("writer errno", writer_side))
    read_errs = {e for kind, e in r.reads if kind == "errno"}
    if r.final_read not in ("", "exact", "short", "mismatch"):
        read_errs.add(r.final_read)
    if read_errs - {ENXIO, "ENXIO"}:
        symptoms.append(("snapshot read errno", read_side))
    if r.invalid:
        symptoms.append(("snapshot invalid", store_side))
    if read_errs & {ENXIO, "ENXIO"}:
        symptoms.append(("snapshot ENXIO", r.invalid or bool(r.create)))
    shorts = any(kind == "short" for kind, _ in r.reads) or r.final_read == "short"
    if shorts:
        symptoms.append(("1.104: short origin read, no error",
                         ("disk.short", "origin") in sites))
    if any(kind == "mismatch" for kind, _ in r.reads) or r.final_read == "mismatch":
        symptoms.append(("1.104: failed indirect I/O taken as a hole / store damaged",
                         store_side))
    if not r.crash and r.unmount:
        # only a file system a disk fault damaged may refuse (EIO) to unmount
        symptoms.append((f"unmount {errorcode.get(r.unmount, r.unmount)}",
                         origin_disk and r.origin_fsck != 0))
    if not r.crash and r.origin_fsck:
        symptoms.append(("origin damaged (e2fsck)", origin_disk))
    if r.lost:
        symptoms.append(("synced data lost", origin_disk))
    if not r.crash and r.store_fsck:
        symptoms.append(("store damaged (e2fsck)", ("disk.write", "store-disk") in sites
                         or ("disk.short", "store-disk") in sites
                         or ("disk.read", "store-disk") in sites))
    names = [s for s, _ in symptoms]
    bad = [s for s, ok in symptoms if not ok]
    if not symptoms:
        cls = "clean, faults fired" if _fired(r) else "clean, no fault fired"
    else:
        cls = names[0]
    return cls, names, bad


# ---------------------------------------------------------------- the test

@pytest.fixture(scope="module")
def templates(tmp_path_factory):
    return str(tmp_path_factory.mktemp("campaign-templates"))


@pytest.mark.parametrize("seed", sweep(24, base=7000))
def test_campaign(seed, tmp_path, templates, record_property):
    r = campaign_run(seed, str(tmp_path), templates)
    cls, symptoms, bad = classify(r)
    record_property(KEY, {"class": cls, "symptoms": symptoms, "bad": bad,
                          "faults": [str(f) for f in r.faults],
                          "fired": [str(f) for f in _fired(r)]})
    assert not bad, (f"seed {seed}: {bad}; faults {[str(f) for f in r.faults]}, "
                     f"fired {[str(f) for f in _fired(r)]}; {r}")


def summary_lines(runs: list[dict]) -> list[str]:
    """The campaign's table: runs by outcome class, symptoms, faults that fired."""
    from collections import Counter

    classes = Counter(r["class"] for r in runs)
    symptoms = Counter(s for r in runs for s in r["symptoms"])
    fired = Counter(f for r in runs for f in {x.split("(")[0] for x in r["fired"]})
    bad = [r for r in runs if r["bad"]]
    out = [f"{len(runs)} runs, {len(bad)} with an outcome the faults do not explain",
           "", "outcome class (the first symptom)              runs"]
    out += [f"  {c:<45} {n:>6}" for c, n in classes.most_common()]
    out += ["", "symptom (a run may show several)               runs"]
    out += [f"  {c:<45} {n:>6}" for c, n in symptoms.most_common()]
    out += ["", "fault that fired (site@scope)                  runs"]
    out += [f"  {c:<45} {n:>6}" for c, n in fired.most_common()]
    for r in bad[:20]:
        out.append(f"UNEXPLAINED: {r['bad']} faults {r['faults']}")
    return out
