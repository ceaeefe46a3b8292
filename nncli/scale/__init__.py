"""scale — training where the data do not fit here: in passes over a file larger than
memory, or on a Dask cluster. May import io, prepare and learn."""
