-- analytics.workspace_loads: one row per workspace the project knows (var tap_replies_workspaces,
-- or "default"), loaded or not: its streams, rows, last load, and whether that load was older
-- than var tap_replies_max_load_age_hours when the marts were built. A dashboard recomputes
-- staleness from last_loaded_at and max_load_age_hours when it is looked at: a workspace that
-- stopped loading usually stopped being built too. Key: workspace.
{%- set max_age = var('tap_replies_max_load_age_hours', 48) | int %}
with

known as (
{%- for workspace in tap_replies.workspaces() %}
    select
        cast({{ dbt.string_literal(workspace['name']) }} as {{ dbt.type_string() }}) as workspace,
        cast({{ dbt.string_literal(workspace['schema']) }} as {{ dbt.type_string() }}) as raw_schema
    {%- if not loop.last %}
    union all
    {%- endif %}
{%- endfor %}
),

per_workspace as (
    select
        workspace,
        count(*) as streams_loaded,
        sum(row_count) as row_count,
        sum(rows_loaded_last_day) as rows_loaded_last_day,
        max(last_loaded_at) as last_loaded_at,
        min(last_loaded_at) as oldest_stream_loaded_at
    from {{ ref('stream_loads') }}
    group by workspace
)

select
    k.workspace,
    k.raw_schema,
    coalesce(p.streams_loaded, 0) as streams_loaded,
    coalesce(p.row_count, 0) as row_count,
    coalesce(p.rows_loaded_last_day, 0) as rows_loaded_last_day,
    p.last_loaded_at,
    p.oldest_stream_loaded_at,
    {{ max_age }} as max_load_age_hours,
    case
        when p.last_loaded_at is null then true
        when p.last_loaded_at < {{ dbt.dateadd('hour', -max_age, tap_replies.utc_now()) }} then true
        else false
    end as stale_at_build,
    {{ tap_replies.utc_now() }} as built_at
from known as k
left join per_workspace as p
    on p.workspace = k.workspace
