"""Pairing of the thermal and visible streams by header stamp, shared by the ROS node and offline replay.

:class:`ApproximateTimePairer` is message_filters' C++ ``ApproximateTime`` policy for two inputs
(see :mod:`fusion_core.pairing.approximate_time`); :class:`PairingStats` and :data:`DROP_REASONS`
account for every item; :class:`InterMessageBoundEstimator` learns an input's inter-message lower
bound from its stamps, which lets pairs out without waiting for the next frame;
:class:`StampOffsetEstimate` measures how far the two cameras' stamps lie apart, and :func:`offset_advice` says
so when that keeps pairs from forming.
"""

from ._stats import DROP_REASONS, INPUTS, PairingStats
from .approximate_time import ApproximateTimePairer
from .bound_estimate import InterMessageBoundEstimator
from .stamp_offset import StampOffsetEstimate, few_pairs, offset_advice

__all__ = ["DROP_REASONS", "INPUTS", "ApproximateTimePairer", "InterMessageBoundEstimator", "PairingStats",
           "StampOffsetEstimate", "few_pairs", "offset_advice"]
