"""Sub-commands of the ``cimsim`` CLI, one module each (discovered by :mod:`cimsim.cli`)."""
