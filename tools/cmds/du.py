"""du: display disk usage statistics, after NetBSD 8's usr.bin/du/du.c (read
at 1.36, 2012): -d's depth is atoi(3)'s, 0 to SHRT_MAX.

``du [-H | -L | -P] [-a | -d depth | -s] [-cghkmnrx] [file ...]``

Sizes come from st_blocks (512-byte blocks) and are shown in 512-byte
blocks, or KiB/MiB/GiB with -k/-m/-g, or humanized with -h
(humanize_number(3): "4.0K").  -a lists files too, -s only the operands,
-d N directories down to depth N; -c adds a "total" line; -x stays on the
operand's file system; a file with several links is counted once.  The
walk is fts(3)'s post-order, physical by default (-H/-L follow links).
Without operands du reports ".".  Not implemented: -n (nodump flags),
-i (inode counts).
"""

from __future__ import annotations

from kern.errno import strerror
from tools.cmds import command
from tools.cmds._prog import GetoptError, eprintf, getopt, printf, usage_exit, warnx
from tools.cmds.find import FTS_D, FTS_DC, FTS_DNR, FTS_DP, FTS_NS, _Find
from tools.lib.stdlib import INT_MAX, SHRT_MAX, atoi

DU_USAGE = "usage: du [-H | -L | -P] [-a | -d depth | -s] [-cghkmnrx] [file ...]"


def humanize(nbytes: int) -> str:
    """humanize_number(buf, 5, n, "", HN_AUTOSCALE, HN_B | HN_NOSPACE | HN_DECIMAL)."""
    if nbytes < 1000:
        return f"{nbytes}B"
    units = "KMGTPE"
    value = float(nbytes)
    for u in units:
        value /= 1024
        if value < 9.95:
            return f"{value:.1f}{u}"
        if round(value) < 1000:
            return f"{round(value)}{u}"
    return f"{round(value)}E"


@command("du", summary="display disk usage statistics")
async def du_main(argv: list[str]) -> int:
    try:
        opts, args = getopt(argv, "HLPacd:ghkmnrsx")
    except GetoptError as e:
        await eprintf(e.msg + "\n")
        await usage_exit(DU_USAGE)
    f = _Find()
    f.isdepth = True
    aflag = sflag = cflag = hflag = dflag = False
    depth = INT_MAX
    blocksize = 512
    for o, a in opts:
        if o in "HLP":
            f.follow = o
        elif o == "a":
            aflag = True
        elif o == "s":
            sflag = True
        elif o == "d":
            dflag = True
            depth = atoi(a)                 # "x" is 0, as atoi(3) has it
            if depth < 0 or depth > SHRT_MAX:
                await warnx(f"invalid argument to option d: {a}")
                await usage_exit(DU_USAGE)
        elif o == "c":
            cflag = True
        elif o == "h":
            hflag = True
        elif o == "k":
            blocksize = 1024
        elif o == "m":
            blocksize = 1024 * 1024
        elif o == "g":
            blocksize = 1024 * 1024 * 1024
        elif o == "x":
            f.xdev = True
    if (aflag and (sflag or dflag)) or (sflag and dflag):
        await usage_exit(DU_USAGE)
    if sflag:
        depth = 0
    rval = 0
    total = 0
    seen: set[tuple[int, int]] = set()

    async def prstat(path: str, blocks: int) -> None:
        if hflag:
            await printf(f"{humanize(blocks * 512)}\t{path}\n")
        else:
            unit = blocksize // 512
            await printf(f"{(blocks + unit - 1) // unit}\t{path}\n")

    for root in args or ["."]:
        sums: dict[int, int] = {}                 # blocks below each open directory level
        async for e in f.walk(root):
            if e.info == FTS_D:
                sums[e.level] = 0
                continue
            if e.info in (FTS_DNR, FTS_NS):
                await warnx(f"{e.path}: {strerror(e.errno)}")
                rval = 1
                continue
            if e.info == FTS_DC:
                continue
            st = e.statp
            if e.info == FTS_DP:
                blocks = sums.pop(e.level, 0) + st.st_blocks
                if e.level > 0:
                    sums[e.level - 1] = sums.get(e.level - 1, 0) + blocks
                if e.level <= depth:
                    await prstat(e.path, blocks)
                if e.level == 0 and cflag:
                    total += blocks
                continue
            # a file: links counted once
            if st.st_nlink > 1:
                key = (st.st_dev, st.st_ino)
                if key in seen:
                    continue
                seen.add(key)
            if e.level > 0:
                sums[e.level - 1] = sums.get(e.level - 1, 0) + st.st_blocks
            if aflag or e.level == 0:
                await prstat(e.path, st.st_blocks)
            if e.level == 0 and cflag:
                total += st.st_blocks
    if cflag:
        await prstat("total", total)
    return rval
