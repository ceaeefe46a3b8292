"""Assessment: metrics, statistics (bootstrap, paired tests, KS), and compare's plan and run."""
