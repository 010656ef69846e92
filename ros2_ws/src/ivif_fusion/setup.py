"""ament_python build of the ivif_fusion ROS 2 package.

``launch`` and ``config`` in this folder are symlinks (checked into git) to the repository root's
``launch/`` and ``config/``, where those files live for everyone else; colcon requires relative
data-file paths inside the package, and the symlinks also work with ``colcon build --symlink-install``.
fusion_core itself is not a ROS package: pip-install the repository (``pip install -e .``) into the
Python that ROS uses.
"""

from glob import glob

from setuptools import find_packages, setup

PACKAGE = "ivif_fusion"

setup(
    name=PACKAGE,
    version="0.1.0",
    packages=find_packages(exclude=["test"]),
    data_files=[
        ("share/ament_index/resource_index/packages", [f"resource/{PACKAGE}"]),
        (f"share/{PACKAGE}", ["package.xml"]),
        (f"share/{PACKAGE}/launch", sorted(glob("launch/*.launch.py"))),
        (f"share/{PACKAGE}/config", sorted(glob("config/*.yaml")) + sorted(glob("config/fastdds_*.xml"))),
    ],
    package_data={PACKAGE: ["py.typed"]},
    install_requires=["setuptools"],
    zip_safe=True,
    maintainer="ivif_fusion contributors",
    maintainer_email="ivif-fusion@example.com",
    description="ROS 2 nodes for infrared-visible image fusion (thin glue over fusion_core).",
    license="Apache-2.0",
    entry_points={
        "console_scripts": [
            "fusion_node = ivif_fusion.fusion_node:main",
            "detector_node = ivif_fusion.detector_node:main",
            "calibrate_node = ivif_fusion.calibrate_node:main",
            "ivif_ros_bench = ivif_fusion.benchmark:main",
            "ivif_ros_soak = ivif_fusion.soak:main",
            "ivif_ros_e2e = ivif_fusion.e2e:main",
            "ivif_camera_publisher = ivif_fusion.camera_publisher:main",
            "bag_player = ivif_fusion.bag_player:main",
            "bag_recorder = ivif_fusion.bag_recorder:main",
        ],
    },
)
