{#-
  Workspaces: each is one account set loaded into a raw schema of its own. The staging models
  union every workspace's table, with a `workspace` column, so the marts hold them all.

    --vars '{tap_replies_workspaces: [{name: acme, schema: tap_replies_acme}, ...]}'

  Without that var there is one workspace, "default", reading var('tap_replies_schema').
  A workspace entry may also name a `database` (default: the target's).
-#}

{% macro workspaces() %}
  {%- set configured = var('tap_replies_workspaces', none) -%}
  {%- if configured -%}
    {%- for workspace in configured -%}
      {%- if not (workspace is mapping and workspace.get('name') and workspace.get('schema')) -%}
        {{ exceptions.raise_compiler_error(
            "var tap_replies_workspaces: every entry needs a name and a schema, got " ~ workspace) }}
      {%- endif -%}
    {%- endfor -%}
    {{ return(configured) }}
  {%- endif -%}
  {{ return([{'name': 'default', 'schema': var('tap_replies_schema', 'tap_replies')}]) }}
{% endmacro %}


{#-
  One select per workspace whose schema holds `table`, unioned; a workspace without the table
  (a provider it does not use, or not loaded yet) contributes no rows. `columns` maps each
  property, as the API names it, to a kind (string, integer, timestamp, json, boolean). Each comes
  out as an unquoted column named after the property, lower-cased, cast to that kind: NULL where
  the table lacks it. Loaders spell the same property differently (target-duckdb `campaignid`,
  target-postgres `"campaignId"`, target-snowflake `CAMPAIGNID`); find_column() reads them all.
-#}
{% macro union_workspace_tables(table, columns) %}
  {%- set selects = [] -%}
  {%- if execute -%}
    {%- for workspace in tap_replies.workspaces() -%}
      {%- set relation = adapter.get_relation(
            database=workspace.get('database', target.database),
            schema=workspace['schema'],
            identifier=table) -%}
      {%- if relation is not none -%}
        {%- do selects.append(tap_replies.workspace_select(workspace['name'], relation, columns)) -%}
      {%- endif -%}
    {%- endfor -%}
  {%- endif -%}
  {%- if selects -%}
    {{ selects | join('\n    union all\n') }}
  {%- else -%}
    {{ tap_replies.empty_select(columns) }}
  {%- endif -%}
{% endmacro %}


{% macro workspace_select(workspace_name, relation, columns) %}
  {%- set present = adapter.get_columns_in_relation(relation) -%}
    select
        cast({{ dbt.string_literal(workspace_name) }} as {{ dbt.type_string() }}) as workspace
    {%- for property, kind in columns.items() %},
        {{ tap_replies.typed_column(tap_replies.find_column(present, property), kind) }} as {{ property | lower }}
    {%- endfor %}
    from {{ relation }}
{%- endmacro %}


{% macro empty_select(columns) %}
    select
        cast(null as {{ dbt.type_string() }}) as workspace
    {%- for property, kind in columns.items() %},
        cast(null as {{ tap_replies.sql_type(kind) }}) as {{ property | lower }}
    {%- endfor %}
    from (select 1 as no_rows) as nothing
    where 1 = 0
{%- endmacro %}


{#- The table's column for `property`: the same name in any case, with or without underscores. -#}
{% macro find_column(columns, property) %}
  {%- set wanted = property | lower | replace('_', '') -%}
  {%- for column in columns -%}
    {%- if column.name | lower | replace('_', '') == wanted -%}
      {{ return(column) }}
    {%- endif -%}
  {%- endfor -%}
  {{ return(none) }}
{% endmacro %}


{% macro typed_column(column, kind) %}
  {%- if column is none -%}
    cast(null as {{ tap_replies.sql_type(kind) }})
  {%- elif kind == 'timestamp' -%}
    {{ tap_replies.utc_timestamp(adapter.quote(column.name), column.data_type) }}
  {%- elif kind == 'json' -%}
    {{ tap_replies.as_json(adapter.quote(column.name)) }}
  {%- else -%}
    cast({{ adapter.quote(column.name) }} as {{ tap_replies.sql_type(kind) }})
  {%- endif -%}
{% endmacro %}


{% macro sql_type(kind) %}
  {%- if kind == 'string' -%} {{ dbt.type_string() }}
  {%- elif kind == 'integer' -%} {{ dbt.type_bigint() }}
  {%- elif kind == 'timestamp' -%} {{ dbt.type_timestamp() }}
  {%- elif kind == 'boolean' -%} {{ dbt.type_boolean() }}
  {%- elif kind == 'json' -%} {{ tap_replies.type_json() }}
  {%- else -%} {{ exceptions.raise_compiler_error("unknown column kind " ~ kind) }}
  {%- endif -%}
{% endmacro %}
