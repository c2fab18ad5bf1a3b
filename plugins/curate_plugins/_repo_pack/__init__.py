"""Helpers of the `repo_packer` plugin: tree-sitter dependency queries (`queries`, `parse`), resolution to
repository files (`resolve`, `deps`), ordering and components (`graph`), offline token counts (`tokens`),
packing and rendering (`pack`) and the datatrove steps of the stage (`steps`)."""
