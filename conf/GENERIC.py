"""GENERIC: the default machine."""

from kern.kernconf import KernelConfig

config = KernelConfig(
    name="GENERIC",
)
