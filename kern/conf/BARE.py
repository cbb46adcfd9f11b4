"""BARE: the kernel core only (lwps, locks, sleep queues, time, kmem, faults).

No VFS, no devices, no modules, no daemons: a machine that boots in a
fraction of a millisecond, for scheduler scenarios explored thousands of
times (kern/machine/explore.py) and for tests of the core services.
"""

from kern.kernconf import KernelConfig

config = KernelConfig(name="BARE", autoload=False)
