"""The Cell Thalamus model: parameters, cell fate (physics), then assays."""
