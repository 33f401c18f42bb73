"""The physical array: crossbar solves with wire parasitics (exact IR drop, linear and
nonlinear cells) and the mapping of weights onto conductances.
"""
