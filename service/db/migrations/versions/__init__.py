"""One file per revision; each branch's first revision adopts a file made before the storage layer."""
