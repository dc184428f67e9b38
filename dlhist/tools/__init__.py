"""Repository tooling: the command line, the curriculum, notebook execution and output cleaning.

Nothing on the kernel side (what notebooks import) imports this package.
"""
