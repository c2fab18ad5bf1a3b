"""fastText training shared by the web classifier and the quality scorer: data, iterative rounds, labellers, CLI."""
