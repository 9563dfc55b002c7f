"""One module per runtime: export a tensor-in / tensors-out module and run the result.

Every backend module (``onnx``, ``executorch``, ``litert``, ``ncnn``, ``coreml``) has the same
interface, used by :mod:`mmmobileone.deploy.export`:

* ``NAME`` (the ``--backend`` value) and ``SUFFIX`` (of the file it writes);
* ``export(module, example, out_dir, name='model', output_names=None) -> paths``: convert
  ``module`` (a tensor-in / tensors-out module in eval mode, see
  :mod:`mmmobileone.deploy.outputs`) for inputs shaped like ``example`` and write
  ``out_dir/name + SUFFIX`` (``out_dir`` is created if needed; files appear complete or not at
  all); ``output_names`` names the outputs where the format keeps names;
* ``run(paths, inputs) -> list of arrays``: run the written files on numpy inputs where the
  runtime runs on this machine (raises :class:`~._common.RuntimeUnavailable` elsewhere).

Each imports its runtime only when called; a missing package names the extra to install.
"""
