"""Built-in sources. Each is a plugin registered under the ``curate.plugins`` entry-point group."""
