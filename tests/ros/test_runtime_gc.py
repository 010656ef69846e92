"""run_node's start-up freeze: what exists when the node starts is out of the collector's generations."""

from __future__ import annotations

import gc
import weakref

from ivif_fusion._runtime import freeze_startup_objects


class Cycle:
    me: object = None


def test_startup_objects_are_frozen_and_later_ones_are_not() -> None:
    startup = [[i] for i in range(5000)]  # stand-ins for what the imports and the model build
    try:
        freeze_startup_objects()
        frozen = gc.get_freeze_count()
        assert frozen >= len(startup)
        later = [[j] for j in range(100)]
        cycle = Cycle()
        cycle.me = cycle  # garbage only the collector can free
        collected = weakref.ref(cycle)
        del cycle
        gc.collect()
        assert collected() is None  # a cycle made after start-up is collected: later objects are not frozen
        # nothing new was frozen; the count may drop, since a frozen object whose last reference goes (in any
        # thread of this session, e.g. a ROS executor's) is freed by reference counting (CI: 428789 -> 428787)
        assert gc.get_freeze_count() <= frozen
        assert all(gc.is_tracked(x) for x in later)
    finally:
        gc.unfreeze()  # the rest of the test session collects as usual
    assert gc.get_freeze_count() == 0
