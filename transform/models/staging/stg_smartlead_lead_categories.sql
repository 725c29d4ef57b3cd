-- Smartlead lead categories and their sentiment (positive, negative, neutral).
-- A full-table stream: rows that left the provider's list are marked first (macros/full_table.sql),
-- kept here with is_deleted, and left out by the marts that count.
-- depends_on: {{ source('tap_replies', 'smartlead_lead_categories') }}
{{ config(pre_hook="{{ tap_replies.mark_deleted('smartlead_lead_categories') }}") }}

with loaded as (
    {{ tap_replies.union_workspace_tables('smartlead_lead_categories', {
        'id': 'integer',
        'name': 'string',
        'sentiment_type': 'string',
        'created_at': 'timestamp',
        '_sdc_batched_at': 'timestamp',
        '_read_version': 'timestamp',
        '_sdc_deleted_at': 'timestamp',
    }) }}
)

select
    workspace,
    id as category_id,
    name as category_name,
    sentiment_type,
    created_at,
    _sdc_batched_at as loaded_at,
    _read_version as read_at,
    _sdc_deleted_at as deleted_at,
    _sdc_deleted_at is not null as is_deleted
from loaded
