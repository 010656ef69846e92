"""run_node's start-up freeze: what exists when the node starts is out of the collector's generations."""

from __future__ import annotations

import gc

from ivif_fusion._runtime import freeze_startup_objects


def test_startup_objects_are_frozen_and_later_ones_are_not() -> None:
    startup = [[i] for i in range(5000)]  # stand-ins for what the imports and the model build
    try:
        freeze_startup_objects()
        frozen = gc.get_freeze_count()
        assert frozen >= len(startup)
        later = [[j] for j in range(100)]
        gc.collect()
        assert gc.get_freeze_count() == frozen  # objects made after start-up stay collectable
        assert all(gc.is_tracked(x) for x in later)
    finally:
        gc.unfreeze()  # the rest of the test session collects as usual
    assert gc.get_freeze_count() == 0
