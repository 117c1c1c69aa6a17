"""The paper's math as pure functions over tensors and arrays (torch + numpy; never imports verl)."""
