"""learn — fitting models: the registry of models, the torch training loop (data-parallel
under torchrun), fitting one model on a split, ensembles, the predictor and the
scikit-learn estimator. May import io and prepare."""
