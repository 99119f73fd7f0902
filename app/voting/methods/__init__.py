"""Tallies of the three voting methods (DESIGN.md §4), as pure functions.

Plain data in, plain data out: these modules import nothing from the app (no database, no
models), so the SQL-backed results feed them the counts of a `GROUP BY` and tests exercise them
without a database.

- `support.rank`: proposals ranked by supports;
- `majority_judgment.rank`: grade counts → majority grade, majority value and rank;
- `budget.allocate`: proposals ranked by votes and funded while they fit.
"""
