"""From-scratch implementations, one small module per concept, each tested against its PyTorch twin in ``tests/``.

Notebooks teach the build-up step by step, then show the finished code with ``dlhist.show_source`` and check it
against PyTorch numerically. Import the modules explicitly, e.g. ``from dlhist.scratch import mlp``.
"""
