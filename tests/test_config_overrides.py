"""`--set section.key=value`: YAML values, checked like the file, words that YAML reads as booleans."""
import pytest

from surgical_seg.config import AppConfig, apply_overrides
from surgical_seg.errors import ConfigError


def test_set_overrides_are_typed_and_checked():
    cfg = apply_overrides(AppConfig(), ["pipeline.align_ms=10", "overlay.confidence=off", "engine.upsample=nearest"])
    assert cfg.pipeline.align_ms == 10.0 and cfg.overlay.confidence == "off" and cfg.engine.upsample == "nearest"
    assert apply_overrides(AppConfig(), ["pipeline.warp=false"]).pipeline.warp is False
    with pytest.raises(ConfigError, match="pipeline.align_ms"):
        apply_overrides(AppConfig(), ["pipeline.align_ms=soon"])
    with pytest.raises(ConfigError, match="expected section.key=value"):
        apply_overrides(AppConfig(), ["align_ms=3"])
