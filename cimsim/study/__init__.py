"""Parameter sweeps on Dask and their crash-safe, resumable HDF5 store.
"""
