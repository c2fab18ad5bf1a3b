"""Libraries shared by several built-in plugins (tree-sitter parsing, dedup indexes, fastText training).

Plugin helper packages (``curate_plugins._<family>``) are private to their plugin; this package is the one place
plugins share code. It imports only ``curate`` (the public API) and third-party libraries."""
