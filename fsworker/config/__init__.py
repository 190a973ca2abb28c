"""Configuration: the TOML file's sections and field specs, loading with environment
overrides (settings), and import/export of rules and entities as TOML (toml_io).

Rules: reads files and the environment, nothing else; imports core and store only.
"""
