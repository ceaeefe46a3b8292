"""``nncli export``: a model file as one ONNX graph, raw columns in, probabilities out.

- :mod:`~nncli.export.graph`: a small graph builder over ``onnx.helper`` (the pinned
  opsets, constants, inlining another model's graph under a prefix);
- :mod:`~nncli.export.inputs`: the graph's inputs (one per raw column, or one flat
  float matrix) and the derived ``--feature`` columns computed from them;
- :mod:`~nncli.export.build`: each model's preprocessing and model as nodes, the
  ensemble's weighted sum, the outputs;
- :mod:`~nncli.export.trees`: LightGBM's trees with LightGBM's own rules;
- :mod:`~nncli.export.check`: the graph run in onnxruntime against nncli's own
  predictions on the same rows.

onnx and onnxruntime are the ``onnx`` extra, imported only here.
"""
