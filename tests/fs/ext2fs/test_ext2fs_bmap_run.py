"""ext2fs_bmaparray's run (``_run``): its at-once comparison of a contiguous
stretch gives what following the pointers one by one gives, on memoryviews of
an indirect block (as ext2fs_bptrs makes them) and on lists."""

from __future__ import annotations

import random
import struct

from fs.ext2fs.ext2fs_bmap import _run


def _walk(bap, i: int, n: int, daddr: int, maxrun: int) -> int:
    run = 0
    while run < maxrun and i < n and bap[i] == daddr + run + 1:
        run += 1
        i += 1
    return run


def test_run_matches_the_pointer_walk():
    rng = random.Random(13)
    for case in range(2000):
        n = rng.randrange(1, 40)
        start = rng.randrange(1, 1000)
        words = [start + k for k in range(n)]
        for _ in range(rng.randrange(0, 3)):  # a break or a hole somewhere
            words[rng.randrange(n)] = rng.choice([0, rng.randrange(1, 2000)])
        i = rng.randrange(0, n + 1)
        daddr = words[i - 1] if i > 0 and rng.random() < 0.8 else rng.randrange(0, 1000)
        maxrun = rng.choice([0, 1, 3, 15, 50])
        view = memoryview(bytearray(struct.pack(f"<{n}I", *words))).cast("I")
        for bap in (words, view):
            assert _run(bap, i, n, daddr, maxrun) == _walk(bap, i, n, daddr, maxrun), \
                (case, words, i, daddr, maxrun)


def test_run_stops_at_maxrun_and_the_end():
    words = list(range(101, 141))
    assert _run(words, 1, len(words), 101, 15) == 15
    assert _run(words, 30, len(words), 130, 15) == 10  # the block's end
    assert _run(words, 30, 35, 130, 15) == 5  # the n given (NDADDR for e2di_blocks)
    words[20] = 0
    assert _run(words, 1, len(words), 101, 30) == 19
