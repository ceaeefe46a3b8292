"""show — presenting results: terminal tables and progress, JSON, the HTML report and the
run folder. May import io, prepare, learn, scale, assess and deploy."""
