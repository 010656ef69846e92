"""The ``main`` shared by the node executables: init, build, spin, clean shutdown."""

from __future__ import annotations

from typing import Callable

from fusion_core.errors import ConfigError


def run_node(factory: Callable[[], object], name: str, args: list[str] | None = None) -> int:
    """Spin the node ``factory()`` builds until Ctrl-C or an external shutdown.

    Returns the process exit code: 0 after a normal shutdown, 2 when the configuration is invalid
    (the message names the parameter).
    """
    import rclpy
    from rclpy.executors import ExternalShutdownException, SingleThreadedExecutor

    rclpy.init(args=args)
    node = None
    code = 0
    try:
        # The executor first: the node's start-up log line means "ready", and a Ctrl-C right after it
        # must not interrupt the executor's own construction.
        executor = SingleThreadedExecutor()
        node = factory()
        executor.add_node(node)
        executor.spin()
    except ConfigError as exc:
        rclpy.logging.get_logger(name).fatal(f"invalid configuration, not starting: {exc}")
        code = 2
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    finally:
        if node is not None:
            node.destroy_node()
        rclpy.try_shutdown()
    return code
