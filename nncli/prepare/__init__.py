"""prepare — the data made ready for a model: the schema, derived columns, sequences and
the preprocessing fitted on training rows. May import io."""
