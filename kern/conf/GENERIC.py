"""GENERIC: the default machine (a MODULAR-style kernel that autoloads drivers).

Boot order follows NetBSD's main(): kernel services, then the module
framework, then autoconf's pseudo-devices.
"""

from kern.kernconf import KernelConfig

config = KernelConfig(
    name="GENERIC",
    boot=[
        "kern.subr_copy:uvm_user_init",        # user address spaces for processes
        "kern.kern_descrip:filedesc_init",     # descriptor tables for processes
        "vfs.vfs_init:vfsinit",                # current directories, VFS syscalls
        "vfs.uvm:uvm_init",                    # the page cache
        "kern.subr_devsw:devsw_init",          # devsw tables and the name<->major table
        "dev.mm:mm_init",                      # mm(4): /dev/null, /dev/zero, /dev/full
        "kern.subr_autoconf:config_init",      # cfdriver/cfattach lists (ioconf)
        "kern.kern_module:module_init",        # module framework, built-in list
        "kern.kern_module:module_init_builtins",   # module_init_class(MODULE_CLASS_ANY)
        "kern.sys_module:sys_module_init",         # modctl(2)
        "kern.sys_time:sys_time_init",             # gettimeofday, clock_gettime, settimeofday
        "kern.kern_proc:procinit",                 # process start times
        "kern.kern_sysctl:sysctl_init",            # the sysctl tree and its boot-time nodes
        "vfs.vfs_init:vfs_mountroot",              # mount rootfs on /, MAKEDEV
        "kern.subr_autoconf:configure_pseudo",     # <name>attach(count) of pseudo-devices
    ],
    # The kernel threads in the order of NetBSD's main() (init_main.c):
    # module_start_unload_thread, vfsinit (which starts vdrain), and the
    # pageout daemon after autoconfiguration.
    post_boot=[
        "kern.kern_module:module_start_thread",    # the auto-unload thread
        "vfs.vnode:vfs_vnode_sysinit",             # the vdrain thread (deferred vnode releases)
        "vfs.uvm:uvm_pdaemon_start",               # the pagedaemon
    ],
    builtin_modules=["rootfs"],
    module_path={
        "rootfs": "fs.rootfs.rootfs",
        "bufq_fcfs": "vfs.bufq_fcfs",
        "fss": "dev.fss.fss",
        "ext2fs": "fs.ext2fs.ext2fs_vfsops",
        "puffs": "fs.puffs.puffs_vfsops",
    },
    pseudo_devices={},
    # sys/conf/majors (amd64): name -> (block major, character major)
    majors={
        "mem": (-1, 2),
        "md": (17, 24),
        "fss": (163, 163),
        "rumpblk": (197, 197),
        "puffs": (-1, 178),  # the slot putter took over from puffs (majors 1.38)
    },
    devnodes={"fss": 4, "puffs": ("puffs", 0x7ffff),   # PUFFS_CLONER
              "mem": [("null", 2), ("full", 11), ("zero", 12)]},
    options={"_LP64": True, "DIAGNOSTIC": True},
)
