"""io — the outside world's files: reading data (CSV, Parquet, stdin), the model file
(no pickle), the model card, and writing outputs safely. Imports no other stage."""
