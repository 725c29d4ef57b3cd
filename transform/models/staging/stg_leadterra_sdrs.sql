-- Leadterra SDRs (the people follow-ups are assigned to).
-- depends_on: {{ source('tap_replies', 'leadterra_sdrs') }}
with loaded as (
    {{ tap_replies.union_workspace_tables('leadterra_sdrs', {
        'id': 'string',
        'name': 'string',
        'email': 'string',
        'gmailConnected': 'boolean',
        'gmailEmail': 'string',
        '_sdc_batched_at': 'timestamp',
    }) }}
)

select
    workspace,
    id as sdr_id,
    name as sdr_name,
    email as sdr_email,
    gmailconnected as gmail_connected,
    gmailemail as gmail_email,
    _sdc_batched_at as loaded_at
from loaded
