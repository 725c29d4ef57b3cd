-- Tuco AI replies: one row per lead that replied (its newest reply), classified by
-- tuco_classification(): the carriers' opt-out words. Tuco documents no label or classification
-- field (api-docs/tuco-check-replies.txt), so the tap's schema declares none and no rule reads one.
-- depends_on: {{ source('tap_replies', 'tuco_replies') }}
with loaded as (
    {{ tap_replies.union_workspace_tables('tuco_replies', {
        'leadId': 'string',
        'messageId': 'string',
        'message': 'string',
        'respondedAtUtc': 'timestamp',
        'recipientEmail': 'string',
        'recipientPhone': 'string',
        'name': 'string',
        'campaign_id': 'string',
        '_sdc_batched_at': 'timestamp',
    }) }}
)

select
    workspace,
    leadid as lead_id,
    messageid as message_id,
    message as reply_text,
    respondedatutc as received_at,
    recipientemail as lead_email,
    recipientphone as lead_phone,
    name as lead_name,
    -- Known when the tap read per campaign (tuco.campaign_ids); Tuco's rows name none.
    campaign_id,
    {{ tap_replies.tuco_classification('message') }} as classification,
    -- Tuco sends no label of its own.
    cast(null as {{ dbt.type_string() }}) as source_classification,
    _sdc_batched_at as loaded_at
from loaded
