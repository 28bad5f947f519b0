-- Mart: regressions with the defaults (median of the previous 7 comparable runs, 10 %).
-- The named query `regressions` takes the window and threshold as parameters.
select * from regressions_over()
