"""Power, performance, area: energy and latency from operation counts, and reports.
"""
