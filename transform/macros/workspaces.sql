{#-
  Workspaces: each is one account set loaded into a raw schema of its own. The staging models
  union every workspace's table, with a `workspace` column, so the marts hold them all.

  Every workspace loaded into the warehouse is found, whichever command builds (`make sync-all`,
  `meltano run replies-postgres`, dbt by hand): the raw schemas present in the target database
  named `tap_replies` (workspace "default"; or var('tap_replies_schema')) and
  `tap_replies__<name>` (workspace <name>, the schema Meltano gives plugin `tap-replies--<name>`).
  A var lists further workspaces, or names them, by schema:

    --vars '{tap_replies_workspaces: [{name: acme, schema: tap_replies_acme}, ...]}'

  An entry may also name a `database` (default: the target's). A build that would read nothing
  fails, in one line naming the schema (and the var): a schema the var names that does not
  exist, a workspace schema without a single table, or no raw schema at all.
-#}

{% macro workspaces() %}
  {%- set configured = var('tap_replies_workspaces', none) or [] -%}
  {%- for workspace in configured -%}
    {%- if not (workspace is mapping and workspace.get('name') and workspace.get('schema')) -%}
      {{ exceptions.raise_compiler_error(
          "var tap_replies_workspaces: every entry needs a name and a schema, got " ~ workspace) }}
    {%- endif -%}
  {%- endfor -%}
  {%- if not execute -%}
    {{ return(configured or [{'name': 'default', 'schema': var('tap_replies_schema', 'tap_replies')}]) }}
  {%- endif -%}
  {{ return(tap_replies.workspaces_present(configured)) }}
{% endmacro %}


{% macro workspaces_present(configured) %}
  {%- set tables = tap_replies.raw_tables_per_schema(target.database) -%}
  {%- set default_schema = var('tap_replies_schema', 'tap_replies') -%}
  {%- set found, listed = [], [] -%}
  {%- for workspace in configured -%}
    {%- set schema = workspace['schema'] | lower -%}
    {#- Said, not fatal: a workspace listed before its first load is shown as never loaded
        (analytics.workspace_loads); the build fails below only if it reads nothing at all. -#}
    {%- if workspace.get('database', target.database) | lower == target.database | lower
          and schema not in tables -%}
      {%- do log("var tap_replies_workspaces: workspace '" ~ workspace['name'] ~ "' reads schema '"
                 ~ workspace['schema'] ~ "', which does not exist in database '" ~ target.database
                 ~ "': not loaded yet, or fix the entry", info=True) -%}
    {%- endif -%}
    {%- do found.append(workspace) -%}
    {%- do listed.append(schema) -%}
  {%- endfor -%}
  {%- if default_schema | lower in tables and default_schema | lower not in listed -%}
    {%- do found.append({'name': 'default', 'schema': tables[default_schema | lower]['name']}) -%}
  {%- elif default_schema | lower != 'tap_replies' and default_schema | lower not in tables -%}
    {{ exceptions.raise_compiler_error(
        "var tap_replies_schema: schema '" ~ default_schema ~ "' does not exist in database '"
        ~ target.database ~ "': fix the var, or load into it first") }}
  {%- endif -%}
  {%- for schema in tables | sort -%}
    {%- if schema.startswith('tap_replies__') and schema not in listed -%}
      {%- do found.append({'name': schema[13:], 'schema': tables[schema]['name']}) -%}
    {%- endif -%}
  {%- endfor -%}
  {%- if not found -%}
    {{ exceptions.raise_compiler_error(
        "no raw schema in database '" ~ target.database ~ "': none is named tap_replies or "
        ~ "tap_replies__<workspace>; load first (meltano run replies-duckdb), or set the var "
        ~ "tap_replies_schema") }}
  {%- endif -%}
  {#- An empty schema someone named fails; one only found is a first load that wrote nothing
      (a wrong key): left out, so it fails its own workspace, not everyone's build. -#}
  {%- set readable = [] -%}
  {%- for workspace in found -%}
    {%- set schema = workspace['schema'] | lower -%}
    {%- set named = schema in listed or schema == default_schema | lower
                    and default_schema | lower != 'tap_replies' -%}
    {%- if schema in tables and tables[schema]['tables'] == 0 and named -%}
      {{ exceptions.raise_compiler_error(
          "raw schema '" ~ workspace['schema'] ~ "' (workspace " ~ workspace['name']
          ~ ") holds no table: its load wrote nothing; run it again, or fix the var") }}
    {%- elif schema in tables and tables[schema]['tables'] == 0 -%}
      {%- do log("workspaces: raw schema " ~ workspace['schema'] ~ " holds no table yet; "
                 ~ "workspace " ~ workspace['name'] ~ " left out", info=True) -%}
    {%- else -%}
      {%- do readable.append(workspace) -%}
    {%- endif -%}
  {%- endfor -%}
  {%- set reading = [] -%}
  {%- for workspace in readable -%}
    {%- if workspace['schema'] | lower in tables
          or workspace.get('database', target.database) | lower != target.database | lower -%}
      {%- do reading.append(workspace) -%}
    {%- endif -%}
  {%- endfor -%}
  {%- if not reading -%}
    {{ exceptions.raise_compiler_error(
        "var tap_replies_workspaces: no schema it names exists in database '" ~ target.database
        ~ "' (" ~ (configured | map(attribute='schema') | join(', ')) ~ "), and no raw schema "
        ~ "tap_replies or tap_replies__<workspace> is there: load first, or fix the var") }}
  {%- endif -%}
  {{ return(readable) }}
{% endmacro %}


{#- {lower-cased schema name: {name: as the warehouse spells it, tables: how many}} in `database`. -#}
{% macro raw_tables_per_schema(database) %}
  {%- set query -%}
    select s.schema_name, count(t.table_name) as tables
    from {{ tap_replies.information_schema(database) }}.schemata as s
    left join {{ tap_replies.information_schema(database) }}.tables as t
        on t.table_schema = s.schema_name and t.table_catalog = s.catalog_name
    where lower(s.catalog_name) = lower({{ dbt.string_literal(database) }})
    group by s.schema_name
  {%- endset -%}
  {%- set per_schema = {} -%}
  {%- for row in run_query(query) -%}
    {%- do per_schema.update({row[0] | lower: {'name': row[0], 'tables': row[1] | int}}) -%}
  {%- endfor -%}
  {{ return(per_schema) }}
{% endmacro %}

{% macro information_schema(database) %}
  {{- return(adapter.dispatch('information_schema', 'tap_replies')(database)) -}}
{% endmacro %}
{% macro default__information_schema(database) %}information_schema{% endmacro %}
{% macro snowflake__information_schema(database) %}{{ database }}.information_schema{% endmacro %}


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
