"""Helpers of the `repo_packer` plugin: dependency references of files (`parse`, on the shared queries of
`curate_plugins.lib.code_refs`), resolution to repository files (`resolve`, `deps`), ordering and components
(`graph`), offline token counts (`tokens`), packing and rendering (`pack`) and the datatrove steps of the
stage (`steps`)."""
