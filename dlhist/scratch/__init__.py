"""From-scratch implementations, one small module per paper mechanism, each tested against its PyTorch twin.

Modules here import only torch and each other. Notebooks teach the build-up step by step, then show the finished
code with ``dlhist.show_source`` and check it against PyTorch with ``dlhist.check``. Import the modules explicitly,
e.g. ``from dlhist.scratch import optim``.
"""
