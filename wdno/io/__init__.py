"""Files: data sets (HDF5, PDEBench, NetCDF), checkpoints, run directories."""
