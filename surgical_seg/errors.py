"""User-facing errors: the CLI prints their message on one line and exits non-zero."""


class SurgicalSegError(Exception):
    """Base of every error caused by user input (files, settings, missing packages)."""


class ConfigError(SurgicalSegError):
    """A YAML setting or CLI option is wrong; the message names the key."""


class ModelError(SurgicalSegError):
    """A model folder or model file is missing, corrupt or does not match its model.yml."""


class SourceError(SurgicalSegError):
    """A video source cannot be opened or read."""


class BackendUnavailable(SurgicalSegError):
    """An inference backend is not installed or cannot run here."""


class DisplayError(SurgicalSegError):
    """The viewer cannot open a window here (no display, or a system library Qt needs is missing)."""


class DataError(SurgicalSegError):
    """A dataset, annotation export or label file is wrong."""


__all__ = ["SurgicalSegError", "ConfigError", "ModelError", "SourceError",
           "BackendUnavailable", "DataError", "DisplayError"]
