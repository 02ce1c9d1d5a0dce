"""The one exception type the CLI turns into a one-line message instead of a traceback."""


class AdamlabError(Exception):
    """A problem with the user's input or environment, stated in one line.

    Raise it with a message that names the file, the key and what is allowed, e.g.
    ``configs/x.yaml: optimizers[0].lr: must be >= 0, got -0.1``.
    """
