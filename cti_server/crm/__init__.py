"""CRM views for agents: the screen pop (``screenpop``) and the agent script tree
(``scripts``, ``script_schema``, ``script_loader``, ``script_settings``).

Nothing is imported here on purpose: ``cti_server.config`` imports ``script_settings``, and
an eager import of the screen pop would pull in the storage modules that import the config.
"""
