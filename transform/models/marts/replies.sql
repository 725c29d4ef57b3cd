-- analytics.replies: every reply from every provider, one row each, one vocabulary
-- (macros/classification.sql). Key: workspace, provider, reply_id.
with

smartlead_leads_now as (
    -- A lead's category as of its latest event. The inbox stream is incremental on reply time, so
    -- a reply re-categorised later is not read again; the leads stream (incremental on event
    -- time) is, so the lead's row is the current word on the category.
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

smartlead_categorised as (
    select
        r.*,
        case when n.lead_email_key is not null then n.category_id else r.category_id end
            as current_category_id,
        case when n.lead_email_key is not null then n.category_name else r.category_name end
            as current_category_name
    from {{ ref('stg_smartlead_inbox_replies') }} as r
    left join smartlead_leads_now as n
        on n.workspace = r.workspace
        and n.campaign_id = r.campaign_id
        and n.lead_email_key = lower(r.lead_email)
),

leadterra as (
    select
        workspace,
        'leadterra' as provider,
        reply_id,
        lead_email,
        campaign_id,
        received_at,
        classification,
        source_classification,
        snippet
    from {{ ref('stg_leadterra_replies') }}
),

smartlead as (
    select
        r.workspace,
        'smartlead' as provider,
        r.reply_id,
        r.lead_email,
        cast(r.campaign_id as {{ dbt.type_string() }}) as campaign_id,
        r.received_at,
        {{ tap_replies.smartlead_classification(
            'coalesce(r.current_category_name, c.category_name)', 'c.sentiment_type') }}
            as classification,
        coalesce(r.current_category_name, c.category_name) as source_classification,
        {{ tap_replies.left_chars('r.reply_text', 280) }} as snippet
    from smartlead_categorised as r
    left join {{ ref('stg_smartlead_lead_categories') }} as c
        on c.workspace = r.workspace and c.category_id = r.current_category_id
),

tuco as (
    select
        workspace,
        'tuco' as provider,
        -- Tuco lists one row per lead that replied: the lead is the reply's identity.
        lead_id as reply_id,
        lead_email,
        campaign_id,
        received_at,
        classification,
        source_classification,
        {{ tap_replies.left_chars('reply_text', 280) }} as snippet
    from {{ ref('stg_tuco_replies') }}
)

select * from leadterra
union all
select * from smartlead
union all
select * from tuco
