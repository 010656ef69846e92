"""Rosbag replay: make a two-camera bag from image folders, replay any rosbag2 through the engine with
the node's pairing policy (offline, or live through the ROS nodes), and report on it.

No ROS install is needed offline: rosbags reads and writes the bags (imported inside the functions
that touch a bag). The live path only starts ``python -m ivif_fusion.*`` processes; it never imports rclpy.
"""

from .collect import CollectSettings
from .live import LiveConfig, rclpy_available
from .make_bag import MakeBagSummary, make_bag, write_pairs_bag
from .offline import ReplayConfig, ReplayResult, replay
from .report import write_report
from .runner import run_replay

__all__ = ["CollectSettings", "LiveConfig", "MakeBagSummary", "ReplayConfig", "ReplayResult", "make_bag", "rclpy_available",
           "replay", "run_replay", "write_pairs_bag", "write_report"]
