"""Keep freed memory in the process for the next frame instead of returning it to the kernel.

A frame loop (the ROS nodes, ``ivif`` replay, fuse, bench) allocates and frees several MiB of images and
tensors per frame. With glibc's default thresholds the freed top of a thread's heap goes back to the
kernel after each frame and the next frame faults it in again page by page. Measured side by side:
fusion_node at 30 Hz about 18,000 minor page faults a second with glibc's defaults, about 0 with this;
fuse + detect of a 640x480 pair on one thread 460-1100 faults and 1-3 ms more; the engine's pre- and
post-processing repeated alone 4.1 + 3.8 ms against 2.1 + 1.9 ms. Where one thread does all the work in
a steady loop (``ivif bench``) glibc's own adaptive threshold already avoids most of it (the same
timings within 1 ms); the worker threads of the nodes are where it counts. This is the
allocator part of the ROS 2 real-time guidance (no page faults in the loop). Memory then stays at the
stream's steady-state peak instead of shrinking between frames (fusion_node: +20 MiB RSS).

A process-wide setting: the library never calls it on its own. The ``ivif`` command and the ROS nodes do,
at start-up; a program that embeds :mod:`fusion_core` in its own frame loop can call it once.
"""

from __future__ import annotations

import ctypes
import sys

# glibc mallopt parameters (<malloc.h>) and the values keep_freed_memory sets
M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3
MMAP_THRESHOLD = 32 << 20  # the largest glibc accepts on 64-bit (half its 64 MiB arena heap)
TRIM_THRESHOLD = 256 << 20


def keep_freed_memory() -> bool:
    """Let glibc serve blocks up to 32 MiB from the heap (not fresh mmaps) and trim a heap only when more
    than 256 MiB are free at its top. False where the C library has no ``mallopt`` (not glibc) or
    refuses a value; nothing changes then."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        mallopt = ctypes.CDLL(None).mallopt  # the C library this process runs on
    except (OSError, AttributeError):
        return False
    return bool(mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD)) and bool(mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD))
