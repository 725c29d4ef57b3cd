-- Smartlead lead categories and their sentiment (positive, negative, neutral).
-- depends_on: {{ source('tap_replies', 'smartlead_lead_categories') }}
with loaded as (
    {{ tap_replies.union_workspace_tables('smartlead_lead_categories', {
        'id': 'integer',
        'name': 'string',
        'sentiment_type': 'string',
        'created_at': 'timestamp',
        '_sdc_batched_at': 'timestamp',
    }) }}
)

select
    workspace,
    id as category_id,
    name as category_name,
    sentiment_type,
    created_at,
    _sdc_batched_at as loaded_at
from loaded
