"""Shared fixtures: each fixture module is owned by the code it exercises."""
import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from fixtures_model import *  # noqa: E402,F401,F403  tiny exported models
from fixtures_media import *  # noqa: E402,F401,F403  small clips encoded with PyAV
