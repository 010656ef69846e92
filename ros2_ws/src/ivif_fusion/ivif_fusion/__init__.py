"""ivif_fusion: the ROS 2 doors onto fusion_core (fusion_node, detector_node, message conversion, parameters).

Modules import rclpy lazily where they can, so :mod:`ivif_fusion.image_conversion` and
:mod:`ivif_fusion.params` tables are usable in tests and tools without a running ROS graph.
"""
