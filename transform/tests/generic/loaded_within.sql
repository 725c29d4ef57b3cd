{#-
  Freshness inside `dbt build` (dbt's own `dbt source freshness` is a separate command): fails
  when the newest `column` (the loader's _sdc_batched_at) is older than `hours`. A raw table
  that does not exist (a provider nobody configured) or is empty has nothing stale in it.
-#}
{% test loaded_within(model, column_name, hours) %}
{%- set relation = adapter.get_relation(database=model.database, schema=model.schema,
                                        identifier=model.identifier) if execute else none -%}
{%- set columns = adapter.get_columns_in_relation(relation) if relation is not none else [] -%}
{%- set loaded_at = tap_replies.find_column(columns, column_name) -%}
{%- if loaded_at is none -%}
select 1 as stale from (select 1 as no_rows) as nothing where 1 = 0
{%- else -%}
select last_loaded_at, {{ hours | int }} as max_age_hours
from (
    select max({{ tap_replies.utc_timestamp(adapter.quote(loaded_at.name), loaded_at.data_type) }})
        as last_loaded_at
    from {{ model }}
) as newest
where last_loaded_at < {{ dbt.dateadd('hour', -1 * (hours | int), tap_replies.utc_now()) }}
{%- endif -%}
{% endtest %}
