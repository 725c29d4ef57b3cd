-- Tuco AI replies: one row per lead that replied (its newest reply), classified by
-- tuco_classification(): the label Tuco sends, else the carriers' opt-out words.
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
        'classification': 'string',
        'label': 'string',
        '_sdc_batched_at': 'timestamp',
    }) }}
),

labelled as (
    select
        *,
        -- Tuco documents neither; a row that carries one is classified by it.
        coalesce(classification, label) as source_classification
    from loaded
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
    {{ tap_replies.tuco_classification('message', 'source_classification') }} as classification,
    source_classification,
    _sdc_batched_at as loaded_at
from labelled
