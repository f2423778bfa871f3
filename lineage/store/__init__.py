"""The label store: schemas, staged transactions and committed segments."""
