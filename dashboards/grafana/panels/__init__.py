"""The pieces of the Grafana dashboard that generate.py puts together: the building blocks every row uses
(blocks.py) and the rows, grouped by topic (status.py, checks.py, failover.py, self_health.py).

A package next to generate.py rather than inside `monitor`: the service does not need it, and generate.py
stays a script (it puts this directory on sys.path, see there).
"""
