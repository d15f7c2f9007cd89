"""Data: the synthetic scene generator, dataset folders and splits, Label Studio import and tasks,
augmentation and degradation, class lists, and video libraries for batch runs."""
