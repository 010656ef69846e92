#!/usr/bin/env bash
# CI build check of the ROS 2 package: `colcon build` of ros2_ws/src with the venv's colcon (ROS 2 Kilted
# wheels from PyPI) into a scratch folder, then checks of the installed layout and of the installed
# executable. Usage: scripts/build_ros.sh [SCRATCH_DIR] [extra colcon build args, e.g. --symlink-install]
set -euo pipefail
cd "$(dirname "$0")/.."
REPO=$(pwd)
VENV=${VENV:-$REPO/.venv}
SCRATCH=${1:-$(mktemp -d -t ivif_colcon.XXXXXX)}
shift $(( $# > 0 ? 1 : 0 ))
mkdir -p "$SCRATCH"
INSTALL=$SCRATCH/install
PY=$VENV/bin/python

echo "[build_ros] colcon build --base-paths ros2_ws/src -> $SCRATCH $*"
"$VENV/bin/colcon" --log-base "$SCRATCH/log" build --base-paths ros2_ws/src \
    --build-base "$SCRATCH/build" --install-base "$INSTALL" "$@" --event-handlers console_direct- >"$SCRATCH/colcon.out" 2>&1 \
    || { cat "$SCRATCH/colcon.out"; echo "[build_ros] colcon build failed" >&2; exit 1; }

missing=0
for path in \
    lib/ivif_fusion/fusion_node lib/ivif_fusion/detector_node lib/ivif_fusion/calibrate_node lib/ivif_fusion/ivif_ros_bench \
    share/ivif_fusion/package.xml share/ament_index/resource_index/packages/ivif_fusion \
    share/ivif_fusion/launch/fusion.launch.py share/ivif_fusion/config/fusion.yaml share/ivif_fusion/config/detector.yaml \
    share/ivif_fusion/config/fastdds_images.xml; do
    if [ ! -e "$INSTALL/ivif_fusion/$path" ] && [ ! -e "$INSTALL/$path" ]; then
        echo "[build_ros] missing in the install: $path" >&2
        missing=1
    fi
done
[ "$missing" -eq 0 ] || { find "$INSTALL" -maxdepth 6 | sort >&2; exit 1; }
PREFIX=$INSTALL/ivif_fusion
[ -d "$PREFIX" ] || PREFIX=$INSTALL  # --merge-install

# --symlink-install must really link (with setuptools >= 80, which colcon-core does not accept, colcon's
# ament_python build silently copies instead): the installed launch/config and the imported module must
# resolve to the source tree, so an edit there takes effect without a rebuild.
if [[ " $* " == *" --symlink-install "* ]]; then
    for pair in "share/ivif_fusion/launch/fusion.launch.py:launch/fusion.launch.py" \
                "share/ivif_fusion/config/fusion.yaml:config/fusion.yaml"; do
        installed=$(readlink -f "$PREFIX/${pair%%:*}")
        if [ "$installed" != "$REPO/${pair#*:}" ]; then
            echo "[build_ros] --symlink-install copied ${pair%%:*} instead of linking it (resolves to $installed)" >&2
            exit 1
        fi
    done
fi

# In the environment the install's setup.sh gives (as a user would source it), from a neutral folder:
# the package and its share folder resolve to the install, and the installed entry point runs
# (an invalid parameter makes it exit 2, naming the parameter).
set +e
out=$(set +u && . "$INSTALL/setup.sh" && cd / && "$PY" - <<'PY' 2>&1
import os
import ivif_fusion.fusion_node, ivif_fusion.detector_node, ivif_fusion.calibrate_node, ivif_fusion.launch_support
from ament_index_python.packages import get_package_share_directory
print("module", ivif_fusion.fusion_node.__file__)
print("module_source", os.path.realpath(ivif_fusion.fusion_node.__file__))
print("share", get_package_share_directory("ivif_fusion"))
PY
)
code=$?
set -e
if [ "$code" -ne 0 ] || ! grep -q "^share $PREFIX/share/ivif_fusion" <<<"$out" || grep -q "^module $REPO/" <<<"$out"; then
    echo "$out" >&2
    echo "[build_ros] the installed package does not import from the install (exit $code)" >&2
    exit 1
fi
if [[ " $* " == *" --symlink-install "* ]] && ! grep -q "^module_source $REPO/ros2_ws/src/ivif_fusion/ivif_fusion/fusion_node.py" <<<"$out"; then
    echo "$out" >&2
    echo "[build_ros] --symlink-install: the imported fusion_node is not a link to the source tree" >&2
    exit 1
fi
set +e
out=$(set +u && . "$INSTALL/setup.sh" && cd / && ROS_DOMAIN_ID=${ROS_DOMAIN_ID:-171} "$PY" "$PREFIX/lib/ivif_fusion/fusion_node" --ros-args -p device:=gpu 2>&1)
code=$?
set -e
if [ "$code" -ne 2 ] || ! grep -q "parameter 'device' is 'gpu'" <<<"$out"; then
    echo "$out" >&2
    echo "[build_ros] installed fusion_node did not reject an invalid parameter as expected (exit $code)" >&2
    exit 1
fi
echo "[build_ros] OK: $PREFIX (executables in lib/ivif_fusion, launch + config in share/ivif_fusion)"
