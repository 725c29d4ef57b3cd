-- analytics.replies_by_day counts every reply of analytics.replies once: per workspace and
-- provider the two totals are equal (a row returned is a workspace/provider where they differ).
-- Attached to replies_by_day as its asset check in Dagster (dagster-dbt reads meta.dagster.ref).
{{ config(meta={'dagster': {'ref': {'name': 'replies_by_day'}}}) }}

with

by_day as (
    select workspace, provider, sum(replies) as replies
    from {{ ref('replies_by_day') }}
    group by workspace, provider
),

replies as (
    select workspace, provider, count(*) as replies
    from {{ ref('replies') }}
    group by workspace, provider
)

select r.workspace, r.provider, r.replies, d.replies as replies_by_day
from replies as r
left join by_day as d
    on d.workspace = r.workspace and d.provider = r.provider
where d.replies is null or d.replies <> r.replies
