"""Imports every command module so each registers itself on ``main``."""

from lineage.cli import (  # noqa: F401
    analytics_cmds,
    audit_cmds,
    data_cmds,
    demo_cmds,
    history_cmds,
    merge_cmds,
    query_cmds,
    remote_cmds,
    review_cmds,
    show_cmds,
    store_cmds,
    verify_cmds,
)
