"""Learning: schema inference, preprocessing fitted on training rows, the models behind
one registry, the torch training loop, and the fitted predictor."""
