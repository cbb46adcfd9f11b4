"""libpuffs's channel packs PUFFSGETOP's and PUFFSPUTOP's argument blocks and
reads the request header with the struct module: each packing must put
every field where the kernel's ctypes structs (fs/puffs/puffs_msgif_h.py,
struct puffs_reqh_get, puffs_reqh_put and puffs_req) have it."""

from __future__ import annotations

import ctypes

from fs.puffs.puffs_msgif_h import ALIGN, puffs_req, puffs_reqh_get, puffs_reqh_put
from tools.lib.libpuffs import channel


def test_getop_and_putop_blocks_are_the_kernels_structs_field_by_field():
    phg = puffs_reqh_get.from_buffer_copy(
        channel._PHG.pack(0x7f00_1234_5000, 65536 + 7, 3, -1))
    assert (phg.phg_buf, phg.phg_buflen, phg.phg_nops, phg.phg_more) == \
        (0x7f00_1234_5000, 65536 + 7, 3, -1)
    k = puffs_reqh_get(phg_buf=0x1000, phg_buflen=512, phg_nops=9, phg_more=1)
    assert channel._PHG.unpack(bytes(k)) == (0x1000, 512, 9, 1)

    php = puffs_reqh_put.from_buffer_copy(
        channel._PHP.pack(2, 2**64 - 5, 0x7f00_0000_8000, 4096 + 3))
    assert (php.php_nops, php.php_id, php.php_buf, php.php_buflen) == \
        (2, 2**64 - 5, 0x7f00_0000_8000, 4096 + 3)
    # the two blocks and the get buffer share one mapping without overlapping
    assert channel._PHP_OFF >= ctypes.sizeof(puffs_reqh_get)
    assert channel._ARGS >= channel._PHP_OFF + ctypes.sizeof(puffs_reqh_put)
    assert channel._PHP_OFF == ALIGN(channel._PHP_OFF) and channel._ARGS == ALIGN(channel._ARGS)


def test_the_request_header_forms_are_puffs_reqs_union():
    hdr = puffs_req(preq_id=77, preq_buflen=123)
    hdr.preq_opclass, hdr.preq_optype, hdr.preq_cookie = 0x81, 0x2a, 0x7f00_dead_b000
    frame = bytearray(bytes(hdr))
    assert channel.HDR_OUT.unpack_from(frame, channel.HDR_OUT_OFF) == \
        (0x81, 0x2a, 0x7f00_dead_b000)
    channel.HDR_RV.pack_into(frame, channel.HDR_RV_OFF, -35)
    back = puffs_req.from_buffer(frame)
    assert (back.preq_rv, back.preq_id, back.preq_buflen) == (-35, 77, 123)
