-- analytics.lead_category_history: one row per Smartlead lead per category period. valid_from is
-- when the load that carried the category was written, valid_to when the next one's was (NULL:
-- the current period). "How long from Interested to Meeting Booked", "what was this lead's
-- category last week": read the periods. Key: workspace, campaign_id, lead_id, valid_from.
with versions as (
    select
        workspace,
        campaign_id,
        lead_id,
        lead_email,
        category_id,
        category_name,
        loaded_at as valid_from,
        dbt_valid_from,
        dbt_valid_to
    from {{ ref('smartlead_lead_category_snapshot') }}
)

select
    workspace,
    campaign_id,
    lead_id,
    lead_email,
    category_id,
    category_name,
    valid_from,
    lead(valid_from) over (
        partition by workspace, campaign_id, lead_id order by dbt_valid_from
    ) as valid_to,
    dbt_valid_to is null as is_current
from versions
