{#- Freshness per workspace, for the loaded_within test (tests/generic/loaded_within.sql). -#}

{#- One workspace's table, one row when its newest load is older than `hours`. -#}
{% macro newest_load(workspace_name, relation, loaded_at, hours) %}
select workspace, raw_table, last_loaded_at, {{ hours | int }} as max_age_hours
from (
    select
        {{ dbt.string_literal(workspace_name) }} as workspace,
        {{ dbt.string_literal(relation.identifier) }} as raw_table,
        max({{ tap_replies.utc_timestamp(adapter.quote(loaded_at.name), loaded_at.data_type) }})
            as last_loaded_at
    from {{ relation }}
) as newest
where last_loaded_at < {{ dbt.dateadd('hour', -1 * (hours | int), tap_replies.utc_now()) }}
{% endmacro %}
