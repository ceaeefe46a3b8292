"""assess — judging models: metrics, statistics (bootstrap, paired tests, KS), and
compare's plan and run. May import io, prepare, learn and scale."""
