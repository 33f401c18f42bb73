"""Layers, networks (compilation onto tiles, hybrid placement) and model files.
"""
