-- Smartlead campaigns: id, name, status.
-- depends_on: {{ source('tap_replies', 'smartlead_campaigns') }}
with loaded as (
    {{ tap_replies.union_workspace_tables('smartlead_campaigns', {
        'id': 'integer',
        'name': 'string',
        'status': 'string',
        'created_at': 'timestamp',
        'updated_at': 'timestamp',
        '_sdc_batched_at': 'timestamp',
    }) }}
)

select
    workspace,
    id as campaign_id,
    name as campaign_name,
    status as campaign_status,
    created_at,
    updated_at,
    _sdc_batched_at as loaded_at
from loaded
