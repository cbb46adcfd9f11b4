"""Kernel configurations (NetBSD's sys/arch/*/conf): see kern.kernconf."""
