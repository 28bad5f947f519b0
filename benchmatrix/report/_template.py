"""The report's HTML template (kept in Python so it ships with the package)."""

TEMPLATE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>benchmatrix report: {{ run.run_id }}</title>
<style>
 body { font-family: system-ui, sans-serif; margin: 24px; color: #222; max-width: 1100px; }
 h1 { font-size: 22px; } h2 { font-size: 18px; margin-top: 32px; border-bottom: 1px solid #ddd; }
 table { border-collapse: collapse; font-size: 13px; margin: 8px 0; }
 th, td { border: 1px solid #ddd; padding: 3px 8px; text-align: left; }
 td.num { text-align: right; font-variant-numeric: tabular-nums; }
 td:first-child { white-space: nowrap; }
 tr.bad td { background: #fde8e8; }
 .meta td { border: none; padding: 1px 12px 1px 0; }
 svg.plot { display: block; margin: 8px 0 20px; background: #fff; }
 svg .tick, svg .point, svg .legend { font-size: 11px; } svg .label { font-size: 12px; }
 .empty { color: #777; font-style: italic; }
</style>
</head>
<body>
<h1>benchmatrix report: {{ run.matrix_name }} / {{ run.run_id }}</h1>
<table class="meta">
 <tr><td>started</td><td>{{ run.run_started_at }}</td></tr>
 <tr><td>status</td><td>{{ run.run_status }}</td></tr>
 <tr><td>git revision</td><td>{{ run.git_revision or "" }}</td></tr>
 <tr><td>scenarios</td><td>{{ counts }}</td></tr>
</table>

<h2 id="throughput-latency">Throughput vs latency</h2>
{% for svg in throughput_plots %}{{ svg | safe }}{% else %}<p class="empty">No comparable scenarios in this run.</p>{% endfor %}

<h2 id="latency-distributions">TTFT and TPOT distributions</h2>
{% if ttft_plot %}{{ ttft_plot | safe }}{{ tpot_plot | safe }}{% else %}<p class="empty">No successful requests.</p>{% endif %}

<h2 id="replica-load">Per-replica load share</h2>
{% if replica_plot %}{{ replica_plot | safe }}{% else %}<p class="empty">No replica counts.</p>{% endif %}

<h2 id="summary">Scenario summary</h2>
<div style="overflow-x:auto">{{ summary_table | safe }}</div>

<h2 id="plan">Plan</h2>
{{ plan_table | safe }}

<h2 id="failed-checks">Failed checks</h2>
{{ checks_table | safe }}

<h2 id="regressions">Against the previous run</h2>
{{ regression_table | safe }}
</body>
</html>
"""
