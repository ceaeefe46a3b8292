"""deploy — a model made to run without nncli (``nncli export``): one ONNX graph, raw
columns in, probabilities out. Named so that ``nncli.export`` stays the API function.

- :mod:`~nncli.deploy.graph`: a small graph builder over ``onnx.helper`` (the pinned
  opsets, constants, inlining another model's graph under a prefix);
- :mod:`~nncli.deploy.inputs`: the graph's inputs (one per raw column, or one flat
  float matrix) and the derived ``--feature`` columns computed from them;
- :mod:`~nncli.deploy.build`: each model's preprocessing and model as nodes, the
  ensemble's weighted sum, the outputs;
- :mod:`~nncli.deploy.trees`: LightGBM's trees with LightGBM's own rules;
- :mod:`~nncli.deploy.check`: the graph run in onnxruntime against nncli's own
  predictions on the same rows.

onnx and onnxruntime are the ``onnx`` extra, imported only here.

May import io, prepare, learn, scale and assess."""
