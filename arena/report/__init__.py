"""Season and experiment reports: what a season's database says, drawn and written down.

Why a package of small modules: each answer the report gives (who earned the eyes and why, how fast a stream
becomes content-positive, what the compute reached) is one query module's typed values and one plot family;
the HTML assembly only lays them out, so a number shown in the report has exactly one place it comes from.

`data` reads a season into typed values (never writes); `summary` computes the tables and headline numbers;
`plots_*`, `filmstrip` and `timelapse` draw; `html` lays a page out; `season_report`, `compare` and
`experiment_report` build the three reports; `export` writes every table as CSV or parquet.
"""
