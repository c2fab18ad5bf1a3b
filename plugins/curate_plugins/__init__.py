"""curate's built-in plugins, installed as the ``curate_plugins`` package. Each module holds one plugin and is
registered by one line under ``[project.entry-points."curate.plugins"]`` in pyproject.toml."""
