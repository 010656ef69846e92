"""Start fusion_node (+ detector_node) with parameters from the installed YAML.

    ros2 launch ivif_fusion fusion.launch.py device:=cuda thermal_topic:=/flir/image_raw visible_topic:=/cam/image_raw
    ros2 launch ivif_fusion fusion.launch.py --show-args      # every argument with its description
    ros2 launch ivif_fusion fusion.launch.py detector:=inprocess   # YOLOX inside fusion_node: no fusion/image hop

Each node parameter is also a launch argument of the same name (detector ones prefixed ``detector_``);
their default '' keeps the params file's value. ``detector`` (inprocess | node | none) says where
detection runs; with ``inprocess`` the ``detector_*`` settings fusion_node shares become its
``detector.*`` parameters (``launch_support.node_settings``). Not run here: ``launch`` is not
installed on this machine, so only the tables and the glue (test_params, test_launch_exit) are tested. The argument table lives in
``ivif_fusion.launch_support`` so it is tested without a launch installation.

When a node exits non-zero (exit 2: a bad parameter at start-up; a crash) the launch stops the other
node and exits 1, logging "Caught exception in launch …: <node> stopped at start-up: invalid
configuration …"; see ``launch_support.exit_verdict``.
"""

import os
from functools import partial

from ament_index_python.packages import get_package_share_directory
from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument, OpaqueFunction, SetEnvironmentVariable, Shutdown, UnsetEnvironmentVariable
from launch.substitutions import LaunchConfiguration
from launch_ros.actions import Node

from ivif_fusion.launch_support import NodeExitError, exit_verdict, launch_arguments, node_settings, transport_changes

SHARE = get_package_share_directory("ivif_fusion")
ARGS = launch_arguments(os.path.join(SHARE, "config", "fusion.yaml"), os.path.join(SHARE, "config", "detector.yaml"),
                        os.path.join(SHARE, "config", "fastdds_images.xml"))


def _on_node_exit(node_name, event, context):
    """OnProcessExit callback (event: launch.events.process.ProcessExited). Raising is the only way to make
    `ros2 launch` exit non-zero: LaunchService logs the exception, shuts down and returns 1."""
    verdict = exit_verdict(node_name, event.returncode, context.is_shutdown)
    if verdict.action == "fail":
        raise NodeExitError(verdict.message)
    if verdict.action == "shutdown":
        return [Shutdown(reason=verdict.message)]
    return None


def _start_nodes(context, *args, **kwargs):
    values = {arg.name: LaunchConfiguration(arg.name).perform(context) for arg in ARGS}
    actions = [SetEnvironmentVariable(name, value) if value is not None else UnsetEnvironmentVariable(name)
               for name, value in transport_changes(values).items()]  # the image transport (ivif_fusion.transport)
    for node in node_settings(values):
        actions.append(Node(
            package="ivif_fusion",
            executable=node.executable,
            name=node.name,
            namespace=node.namespace,
            parameters=[node.params_file, *node.extra_params_files, node.overrides],
            remappings=node.remappings,
            arguments=["--ros-args", "--log-level", node.log_level],
            output="screen",
            emulate_tty=True,
            on_exit=partial(_on_node_exit, node.name),
        ))
    return actions


def generate_launch_description():
    declared = [DeclareLaunchArgument(arg.name, default_value=arg.default, description=arg.description) for arg in ARGS]
    return LaunchDescription(declared + [OpaqueFunction(function=_start_nodes)])
