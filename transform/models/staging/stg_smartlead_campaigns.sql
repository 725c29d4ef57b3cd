-- Smartlead campaigns: id, name, status.
-- A full-table stream: rows that left the provider's list are marked first (macros/full_table.sql),
-- kept here with is_deleted, and left out by the marts that count.
-- depends_on: {{ source('tap_replies', 'smartlead_campaigns') }}
{{ config(pre_hook="{{ tap_replies.mark_deleted('smartlead_campaigns') }}") }}

with loaded as (
    {{ tap_replies.union_workspace_tables('smartlead_campaigns', {
        'id': 'integer',
        'name': 'string',
        'status': 'string',
        'created_at': 'timestamp',
        'updated_at': 'timestamp',
        '_sdc_batched_at': 'timestamp',
        '_read_version': 'timestamp',
        '_sdc_deleted_at': 'timestamp',
    }) }}
)

select
    workspace,
    id as campaign_id,
    name as campaign_name,
    status as campaign_status,
    created_at,
    updated_at,
    _sdc_batched_at as loaded_at,
    _read_version as read_at,
    _sdc_deleted_at as deleted_at,
    _sdc_deleted_at is not null as is_deleted
from loaded
