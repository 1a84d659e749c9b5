"""The payments domain's routes, one module per channel (the blueprint prefix names the channel)."""
