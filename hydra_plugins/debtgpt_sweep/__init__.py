"""DebtGPT's Hydra launchers (launchers.py): sweeps that end with a table of their points and the best one.

hydra_plugins is a namespace package shared with Hydra's other plugins: no __init__.py one level up.
"""
