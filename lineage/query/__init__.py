"""The query layer: DuckDB views over a revision's segments, and SQL built on them."""
