"""One module per runtime: export a tensor-in / tensors-out module and run the result."""
