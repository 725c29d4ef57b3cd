-- Leadterra replies, one row per reply: who replied, to which campaign, when (UTC), and the label.
-- depends_on: {{ source('tap_replies', 'leadterra_replies') }}
with loaded as (
    {{ tap_replies.union_workspace_tables('leadterra_replies', {
        'id': 'string',
        'email': 'string',
        'campaignId': 'string',
        'classification': 'string',
        'receivedAt': 'timestamp',
        'threadSnippet': 'string',
        '_sdc_batched_at': 'timestamp',
    }) }}
)

select
    workspace,
    id as reply_id,
    email as lead_email,
    campaignid as campaign_id,
    receivedat as received_at,
    {{ tap_replies.leadterra_classification('classification') }} as classification,
    classification as source_classification,
    threadsnippet as snippet,
    _sdc_batched_at as loaded_at
from loaded
