"""Streaming rosbag2 access (mcap or sqlite3) through rosbags: one message at a time, never a whole bag.

rosbags' readers yield messages in log-time order and hold at most the chunks that overlap the current
time (mcap, ~1 MiB each as written here) or one database row (sqlite3); its writers flush mcap chunks
at ~1 MiB and sqlite3 rows as they come. These helpers add topic-name matching (``thermal/image_raw``
finds ``/thermal/image_raw``), storage selection by name, and error messages that name the bag.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import ConfigError, InputError
from .codec import require_rosbags, typestore

STORAGES = ("mcap", "sqlite3")


@dataclass(frozen=True)
class TopicInfo:
    """A topic of a bag: fully qualified name, message type, message count."""

    name: str
    msgtype: str
    count: int


def qualify(topic: str) -> str:
    """ROS 2 bags store fully qualified names: ``thermal/image_raw`` -> ``/thermal/image_raw``."""
    topic = topic.strip()
    if not topic or topic == "/":
        raise ConfigError(f"topic name {topic!r} is empty")
    return topic if topic.startswith("/") else "/" + topic


def _storage_plugin(storage: str) -> Any:
    from rosbags.rosbag2 import StoragePlugin

    if storage not in STORAGES:
        raise ConfigError(f"storage {storage!r} is not one of {', '.join(STORAGES)}")
    return StoragePlugin.MCAP if storage == "mcap" else StoragePlugin.SQLITE3


def bag_storage(path: str | Path) -> str:
    """'mcap' or 'sqlite3' for a rosbag2 directory or a bare storage file (by its files' suffixes)."""
    path = Path(path)
    files = [path] if path.is_file() else list(path.glob("*.mcap")) + list(path.glob("*.db3"))
    if any(f.suffix == ".mcap" for f in files):
        return "mcap"
    if any(f.suffix == ".db3" for f in files):
        return "sqlite3"
    raise InputError(f"{path} holds no .mcap or .db3 storage file; is it a rosbag2?")


@contextmanager
def open_bag(path: str | Path) -> Iterator[Any]:
    """Open a rosbag2 directory (or a bare .mcap/.db3 file) for reading; InputError names the problem."""
    require_rosbags()
    from rosbags.rosbag2 import Reader

    path = Path(path)
    if not path.exists():
        raise InputError(f"bag {path} does not exist")
    try:
        reader = Reader(path)
        reader.open()
    except Exception as exc:  # rosbags raises its own ReaderError and OS errors
        raise InputError(f"cannot open bag {path}: {exc}") from exc
    try:
        yield reader
    finally:
        reader.close()


def topics(reader: Any) -> dict[str, TopicInfo]:
    """Topic name -> :class:`TopicInfo` of an open reader (counts summed over connections)."""
    found: dict[str, TopicInfo] = {}
    for conn in reader.connections:
        old = found.get(conn.topic)
        found[conn.topic] = TopicInfo(conn.topic, conn.msgtype, conn.msgcount + (old.count if old else 0))
    return found


def find_topic(reader: Any, topic: str, path: str | Path, msgtype: str | tuple[str, ...] | None = None) -> TopicInfo:
    """The bag's topic matching ``topic`` (leading slash optional) and carrying ``msgtype`` (one type or any of
    several); InputError lists what the bag has."""
    available = topics(reader)
    info = available.get(qualify(topic))
    if info is None:
        listing = ", ".join(f"{t.name} ({t.msgtype}, {t.count})" for t in available.values()) or "none"
        raise InputError(f"bag {path} has no topic {qualify(topic)!r}; its topics: {listing}")
    wanted = (msgtype,) if isinstance(msgtype, str) else msgtype
    if wanted is not None and info.msgtype not in wanted:
        raise InputError(f"bag {path}: topic {info.name} carries {info.msgtype}, expected {' or '.join(wanted)}")
    return info


def iter_messages(reader: Any, names: Sequence[str]) -> Iterator[tuple[str, int, bytes]]:
    """(topic, log time ns, raw CDR) for the given topics, in log-time order, one at a time."""
    wanted = {qualify(n) for n in names}
    conns = [c for c in reader.connections if c.topic in wanted]
    for conn, log_ns, raw in reader.messages(connections=conns):
        yield conn.topic, log_ns, raw


class BagWriter:
    """Write raw CDR messages into a new rosbag2 directory, one message at a time.

    Topics are declared on first use (:meth:`add_topic`); use as a context manager so the bag's
    index and metadata.yaml are written even when the caller fails half-way.
    """

    def __init__(self, path: str | Path, storage: str = "mcap") -> None:
        require_rosbags()
        from rosbags.rosbag2 import Writer

        self.path = Path(path)
        if self.path.exists():
            raise InputError(f"output bag {self.path} exists already; remove it or choose another path")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.storage = storage
        self._writer = Writer(self.path, version=9, storage_plugin=_storage_plugin(storage))
        self._connections: dict[str, Any] = {}
        self.counts: dict[str, int] = {}

    def __enter__(self) -> BagWriter:
        self._writer.open()
        return self

    def __exit__(self, *exc: object) -> None:
        self._writer.close()

    def add_topic(self, topic: str, msgtype: str) -> None:
        """Declare ``topic`` (typed ``msgtype``, which the Kilted typestore must know)."""
        topic = qualify(topic)
        if topic not in self._connections:
            if msgtype not in typestore().types:
                raise ConfigError(f"message type {msgtype!r} of {topic} is unknown to the rosbags typestore")
            self._connections[topic] = self._writer.add_connection(topic, msgtype, typestore=typestore())
            self.counts[topic] = 0

    def write(self, topic: str, log_ns: int, raw: bytes | memoryview) -> None:
        """Append one message; ``topic`` must have been declared with :meth:`add_topic`."""
        topic = qualify(topic)
        self._writer.write(self._connections[topic], int(log_ns), raw)
        self.counts[topic] += 1
