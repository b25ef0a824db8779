"""Network definitions (TOML) shipped with sheetgen; installed as ``sheetgen.templates``."""
