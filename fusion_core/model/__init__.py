"""FusionNet and its parts."""

from .attention import AttentionOutput, ModalityAttention
from .config import FusionNetConfig
from .fusionnet import FusionNet, FusionOutput, count_macs, count_parameters, with_fixed_stages

__all__ = ["AttentionOutput", "FusionNet", "FusionNetConfig", "FusionOutput", "ModalityAttention", "count_macs", "count_parameters",
           "with_fixed_stages"]
