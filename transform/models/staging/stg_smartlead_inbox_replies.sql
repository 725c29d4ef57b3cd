-- Smartlead master-inbox replies, the nested lead / campaign / category / last message flattened.
-- The category here is the one at reply time; the lead's row (stg_smartlead_campaign_leads)
-- carries the current one.
-- depends_on: {{ source('tap_replies', 'smartlead_inbox_replies') }}
with loaded as (
    {{ tap_replies.union_workspace_tables('smartlead_inbox_replies', {
        'id': 'string',
        'received_at': 'timestamp',
        'lead': 'json',
        'campaign': 'json',
        'category': 'json',
        'last_message': 'json',
        'email_status': 'string',
        '_sdc_batched_at': 'timestamp',
    }) }}
)

select
    workspace,
    id as reply_id,
    {{ tap_replies.json_text('lead', 'email') }} as lead_email,
    {{ tap_replies.json_text('lead', 'first_name') }} as lead_first_name,
    {{ tap_replies.json_text('lead', 'last_name') }} as lead_last_name,
    {{ tap_replies.json_text('lead', 'company') }} as lead_company,
    cast({{ tap_replies.json_text('campaign', 'id') }} as {{ dbt.type_bigint() }}) as campaign_id,
    {{ tap_replies.json_text('campaign', 'name') }} as campaign_name,
    cast({{ tap_replies.json_text('category', 'id') }} as {{ dbt.type_bigint() }}) as category_id,
    {{ tap_replies.json_text('category', 'name') }} as category_name,
    coalesce(
        received_at,
        {{ tap_replies.parse_utc_timestamp(tap_replies.json_text('last_message', 'received_at')) }}
    ) as received_at,
    {{ tap_replies.json_text('last_message', 'subject') }} as subject,
    {{ tap_replies.json_text('last_message', 'body') }} as reply_text,
    email_status,
    _sdc_batched_at as loaded_at
from loaded
