-- analytics.stream_loads: per workspace and stream, the rows the warehouse holds and when the
-- loader last wrote one (_sdc_batched_at, as staging's loaded_at). A stream a workspace never
-- loaded has no row. Key: workspace, stream.
{%- set streams = [
    'leadterra_replies', 'leadterra_sdrs', 'leadterra_followups',
    'smartlead_campaigns', 'smartlead_campaign_leads', 'smartlead_inbox_replies',
    'smartlead_lead_categories', 'tuco_replies',
] %}
with

loaded as (
{%- for stream in streams %}
    select
        workspace,
        cast({{ dbt.string_literal(stream.split('_')[0]) }} as {{ dbt.type_string() }}) as provider,
        cast({{ dbt.string_literal(stream) }} as {{ dbt.type_string() }}) as stream,
        loaded_at
    from {{ ref('stg_' ~ stream) }}
    {%- if not loop.last %}
    union all
    {%- endif %}
{%- endfor %}
),

latest as (
    select workspace, provider, stream, max(loaded_at) as last_loaded_at
    from loaded
    group by workspace, provider, stream
)

select
    l.workspace,
    l.provider,
    l.stream,
    count(*) as row_count,
    -- Rows written in the 24 hours up to the stream's last load: what recent runs brought.
    count(case when d.loaded_at >= {{ dbt.dateadd('hour', -24, 'l.last_loaded_at') }} then 1 end)
        as rows_loaded_last_day,
    l.last_loaded_at
from latest as l
inner join loaded as d
    on d.workspace = l.workspace and d.stream = l.stream
group by l.workspace, l.provider, l.stream, l.last_loaded_at
