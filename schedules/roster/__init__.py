"""Rosters (排班表), one module per job.

:mod:`.model` (what a roster entry and an import problem are), :mod:`.importing` (CSV/XLSX in, all or
nothing), :mod:`.checks` (the handbook's limits, 第二十条 and 第四十三条), :mod:`.generator` (six_on_one_off
plans), :mod:`.export` (the grid form out). Import names from the module that holds them.
"""
