"""PromQL over the stored OTel metrics: parsed by `promql_parser`, planned, translated to ClickHouse SQL.

plan.py (text -> typed plan of the subset) -> engine.py (series from backend.metrics.catalog, one SQL
query built by sql.py) -> result.py (Prometheus's JSON); matchers.py (label matchers, RE2 regexes
evaluated by ClickHouse); errors.py (the errors and the HTTP status each is answered with).
"""
