-- Tuco AI's replies in the shape of analytics.replies. Tuco lists one row per lead that replied:
-- the lead is the reply's identity.
select
    workspace,
    cast('tuco' as {{ dbt.type_string() }}) as provider,
    lead_id as reply_id,
    lead_email,
    campaign_id,
    received_at,
    classification,
    source_classification,
    {{ tap_replies.left_chars('reply_text', 280) }} as snippet
from {{ ref('stg_tuco_replies') }}
