"""surgical_seg: real-time bone / ligament / disc segmentation overlay for spinal endoscopy."""
from .errors import (BackendUnavailable, ConfigError, DataError, ModelError, SourceError,
                     SurgicalSegError)
from .modelcard import CLASS_COLORS_RGB, CLASS_NAMES, FOREGROUND, IGNORE_INDEX, ModelCard
from .packet import FramePacket, Segmentation

__version__ = "0.1.0"
__all__ = ["CLASS_NAMES", "CLASS_COLORS_RGB", "FOREGROUND", "IGNORE_INDEX", "ModelCard",
           "FramePacket", "Segmentation", "SurgicalSegError", "ConfigError", "DataError",
           "ModelError", "SourceError", "BackendUnavailable", "__version__"]
