-- Smartlead's replies in the shape of analytics.replies, classified by the lead's category as of
-- its latest event. The inbox stream is incremental on reply time, so a reply re-categorised
-- later is not read again; the leads stream (incremental on event time) is, so the lead's row
-- is the current word on the category. A category removed from Smartlead's list still names
-- its sentiment here (staging keeps it, is_deleted).
with

leads_now as (
    select workspace, campaign_id, lead_email_key, category_id, category_name
    from (
        select
            workspace,
            campaign_id,
            lower(lead_email) as lead_email_key,
            category_id,
            category_name,
            row_number() over (
                partition by workspace, campaign_id, lower(lead_email) order by lead_id desc
            ) as newest_first
        from {{ ref('stg_smartlead_campaign_leads') }}
        where lead_email is not null
    ) as ranked
    where newest_first = 1
),

categorised as (
    select
        r.*,
        case when n.lead_email_key is not null then n.category_id else r.category_id end
            as current_category_id,
        case when n.lead_email_key is not null then n.category_name else r.category_name end
            as current_category_name
    from {{ ref('stg_smartlead_inbox_replies') }} as r
    left join leads_now as n
        on n.workspace = r.workspace
        and n.campaign_id = r.campaign_id
        and n.lead_email_key = lower(r.lead_email)
)

select
    r.workspace,
    cast('smartlead' as {{ dbt.type_string() }}) as provider,
    r.reply_id,
    r.lead_email,
    cast(r.campaign_id as {{ dbt.type_string() }}) as campaign_id,
    r.received_at,
    {{ tap_replies.smartlead_classification(
        'coalesce(r.current_category_name, c.category_name)', 'c.sentiment_type') }}
        as classification,
    coalesce(r.current_category_name, c.category_name) as source_classification,
    {{ tap_replies.left_chars('r.reply_text', 280) }} as snippet
from categorised as r
left join {{ ref('stg_smartlead_lead_categories') }} as c
    on c.workspace = r.workspace and c.category_id = r.current_category_id
