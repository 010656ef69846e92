"""FusionNet and its parts."""

from .attention import AttentionOutput, ModalityAttention
from .config import FusionNetConfig
from .fusionnet import FusionNet, FusionOutput, count_macs, count_parameters

__all__ = ["AttentionOutput", "FusionNet", "FusionNetConfig", "FusionOutput", "ModalityAttention", "count_macs", "count_parameters"]
