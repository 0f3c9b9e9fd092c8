//! coldkit-core: similarity kernels and exact top-k selection. No Python here.
