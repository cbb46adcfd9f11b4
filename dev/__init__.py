"""Device drivers: fss(4) (dev/fss), memory disks (md) and host-file disks (rumpblk)."""
