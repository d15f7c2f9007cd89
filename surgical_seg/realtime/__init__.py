"""The live path: source and model threads wired into one pipeline, mask-to-frame alignment and
warping, the compositor's overlay, fault injection, thread priorities, frame memory and statistics.

`Pipeline` (pipeline.py) is where the stages are connected; each policy it applies is its own module.
"""
