{#-
  For scripts/source_freshness.py (`meltano invoke dbt-<warehouse>:freshness`): every workspace
  (the same rule as the build, macros/workspaces.sql) with the source tables its raw schema holds,
  printed as one JSON line. dbt's `source freshness` reads one schema per run; the script runs it
  once per workspace on these tables only, so a provider a workspace does not use stays quiet.
-#}
{% macro print_workspace_sources() %}
  {%- set found = [] -%}
  {%- for workspace in tap_replies.workspaces() -%}
    {%- set database = workspace.get('database', target.database) -%}
    {%- set tables = [] -%}
    {%- for source in graph.sources.values() | sort(attribute='name')
          if source.source_name == 'tap_replies' -%}
      {%- if adapter.get_relation(database=database, schema=workspace['schema'],
                                  identifier=source.identifier) is not none -%}
        {%- do tables.append(source.name) -%}
      {%- endif -%}
    {%- endfor -%}
    {%- do found.append({'name': workspace['name'], 'schema': workspace['schema'],
                         'database': database, 'tables': tables}) -%}
  {%- endfor -%}
  {{ print(tojson(found)) }}
{% endmacro %}
