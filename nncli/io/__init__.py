"""Reading: CSV/Parquet input files, and the model files nncli writes (no pickle)."""
