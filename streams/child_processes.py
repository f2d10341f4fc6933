"""Child processes that do not outlive the process that started them (Linux)."""

import ctypes
import signal

__all__ = ["die_with_parent"]


def die_with_parent() -> None:
    """Runs in the child (before exec, or first thing in a forked worker): ask the kernel
    for SIGTERM when the parent dies, so a parent killed with SIGKILL leaves no orphans."""
    pr_set_pdeathsig = 1
    ctypes.CDLL("libc.so.6", use_errno=True).prctl(pr_set_pdeathsig, signal.SIGTERM)
