"""The label set of the clinical study: ids are fixed across synth, training, eval and the app."""

CLASS_NAMES = ("background", "bone", "ligament", "disc")
FOREGROUND = ("bone", "ligament", "disc")
IGNORE_INDEX = 255  # pixels outside the scope circle; excluded from loss and metrics
# RGB overlay colours: bone yellow, ligament green, disc blue (distinct on red tissue).
CLASS_COLORS_RGB = ((0, 0, 0), (250, 220, 50), (60, 220, 60), (40, 150, 255))

__all__ = ["CLASS_NAMES", "FOREGROUND", "IGNORE_INDEX", "CLASS_COLORS_RGB"]
