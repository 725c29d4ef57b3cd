-- Leadterra's replies in the shape of analytics.replies (one row per reply, one vocabulary).
select
    workspace,
    cast('leadterra' as {{ dbt.type_string() }}) as provider,
    reply_id,
    lead_email,
    campaign_id,
    received_at,
    classification,
    source_classification,
    snippet
from {{ ref('stg_leadterra_replies') }}
