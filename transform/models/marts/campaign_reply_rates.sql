-- analytics.campaign_reply_rates: per campaign, how many replies and how many of them positive.
-- positive_rate = interested replies / all replies. Smartlead campaigns also get their name and
-- lead count (so positive replies per lead too); the other providers send no names.
-- Key: workspace, provider, campaign_id.
with

per_campaign as (
    select
        workspace,
        provider,
        campaign_id,
        count(*) as replies,
        count(case when classification = 'interested' then 1 end) as interested,
        count(case when classification in ('not_interested', 'unsubscribe') then 1 end)
            as negative,
        max(received_at) as last_reply_at
    from {{ ref('replies') }}
    where campaign_id is not null
    group by workspace, provider, campaign_id
),

smartlead_leads as (
    select
        workspace,
        cast(campaign_id as {{ dbt.type_string() }}) as campaign_id,
        count(*) as leads
    from {{ ref('stg_smartlead_campaign_leads') }}
    group by workspace, campaign_id
),

smartlead_campaigns as (
    select workspace, cast(campaign_id as {{ dbt.type_string() }}) as campaign_id, campaign_name
    from {{ ref('stg_smartlead_campaigns') }}
)

select
    p.workspace,
    p.provider,
    p.campaign_id,
    c.campaign_name,
    l.leads,
    p.replies,
    p.interested,
    p.negative,
    {{ tap_replies.ratio('p.interested', 'p.replies') }} as positive_rate,
    case when l.leads > 0 then {{ tap_replies.ratio('p.interested', 'l.leads') }} end
        as positive_per_lead,
    p.last_reply_at
from per_campaign as p
left join smartlead_campaigns as c
    on p.provider = 'smartlead' and c.workspace = p.workspace and c.campaign_id = p.campaign_id
left join smartlead_leads as l
    on p.provider = 'smartlead' and l.workspace = p.workspace and l.campaign_id = p.campaign_id
