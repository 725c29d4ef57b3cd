{#-
  Freshness inside `dbt build` (dbt's own `dbt source freshness` reads the source's one schema;
  scripts/source_freshness.py runs it once per workspace): fails when, in any workspace's raw schema (macros/workspaces.sql), the table's newest
  `column` (the loader's _sdc_batched_at) is older than `hours`, and logs one line per stale
  workspace and table. A raw table that does not exist (a provider that workspace does not use)
  or is empty has nothing stale in it.
-#}
{% test loaded_within(model, column_name, hours) %}
{%- set checks = [] -%}
{%- if execute -%}
  {%- for workspace in tap_replies.workspaces() -%}
    {%- set relation = adapter.get_relation(database=workspace.get('database', target.database),
                                            schema=workspace['schema'], identifier=model.identifier) -%}
    {%- set columns = adapter.get_columns_in_relation(relation) if relation is not none else [] -%}
    {%- set loaded_at = tap_replies.find_column(columns, column_name) -%}
    {%- if loaded_at is not none -%}
      {%- do checks.append(tap_replies.newest_load(workspace['name'], relation, loaded_at, hours)) -%}
    {%- endif -%}
  {%- endfor -%}
{%- endif -%}
{%- if not checks -%}
select 1 as stale from (select 1 as no_rows) as nothing where 1 = 0
{%- else -%}
  {%- set stale_sql = checks | join('\nunion all\n') -%}
  {%- for row in run_query(stale_sql) -%}
    {%- do log("loaded_within: workspace " ~ row[0] ~ ", table " ~ row[1] ~ " last loaded at "
               ~ row[2] ~ " UTC, more than " ~ (hours | int) ~ " hours ago", info=True) -%}
  {%- endfor -%}
{{ stale_sql }}
{%- endif -%}
{% endtest %}
