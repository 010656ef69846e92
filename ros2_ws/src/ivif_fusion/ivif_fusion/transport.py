"""The Fast DDS set-up that carries raw images between processes on one host, as environment variables.

``config/fastdds_images.xml`` (installed to ``share/ivif_fusion/config``) makes every participant
that loads it use a shared-memory transport with a 16 MiB segment (room for ~18 rgb8 640×480
frames; the built-in SHM segment is 512 KiB, smaller than one such frame, so LARGE_DATA moves
rgb8 frames over its TCP channel and squeezes one mono8 frame at a time through SHM, which is where
the 0.3–1.5 s stalls came from) plus UDPv4 for discovery and for peers on other hosts. Measured
numbers: the package README, "Transport".

A participant reads the profile when it is created, so the variables must be in the environment of
**every process that publishes images** (camera drivers: their SHM segment carries the frames) and
of the nodes (their segment carries ``fusion/image``). ``FASTDDS_BUILTIN_TRANSPORTS`` is removed:
it would replace the profile's transports.
"""

from __future__ import annotations

import os
from pathlib import Path

PROFILE_FILE = "fastdds_images.xml"
PROFILE_ENV = "FASTDDS_DEFAULT_PROFILES_FILE"
BUILTIN_ENV = "FASTDDS_BUILTIN_TRANSPORTS"


def profile_path() -> Path:
    """The installed profile (share/ivif_fusion/config) when the package is installed, else the repository's config/."""
    try:
        from ament_index_python.packages import PackageNotFoundError, get_package_share_directory

        try:
            installed = Path(get_package_share_directory("ivif_fusion")) / "config" / PROFILE_FILE
            if installed.is_file():
                return installed
        except (PackageNotFoundError, OSError):  # not installed, or no AMENT_PREFIX_PATH at all
            pass
    except ImportError:
        pass
    return Path(__file__).resolve().parents[4] / "config" / PROFILE_FILE


def transport_env(profile: str | os.PathLike | None = None) -> dict[str, str | None]:
    """Variables to set (str) and to unset (None) for the image transport: the profile, no builtin override.

    ``profile``: another profile file ('' = leave Fast DDS to its defaults, i.e. change nothing).
    """
    if profile == "":
        return {}
    path = Path(profile) if profile is not None else profile_path()
    if not path.is_file():
        from fusion_core.errors import ConfigError

        raise ConfigError(f"Fast DDS profile {path} does not exist (pass an existing XML file, or '' for Fast DDS defaults)")
    return {PROFILE_ENV: str(path.resolve()), BUILTIN_ENV: None}


def apply(env: dict[str, str], changes: dict[str, str | None]) -> dict[str, str]:
    """A copy of ``env`` with ``changes`` applied (None removes the variable) — for subprocess environments."""
    out = dict(env)
    for key, value in changes.items():
        if value is None:
            out.pop(key, None)
        else:
            out[key] = value
    return out
