"""The key helper's releases (DESIGN §7; issue 16): the packages of the helper customers download from
/pc/download, the `helper.json` they run it with, and the oldest helper version the PC pages work with."""
