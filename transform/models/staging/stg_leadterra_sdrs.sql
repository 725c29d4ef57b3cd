-- Leadterra SDRs (the people follow-ups are assigned to).
-- A full-table stream: rows that left the provider's list are marked first (macros/full_table.sql),
-- kept here with is_deleted, and left out by the marts that count.
-- depends_on: {{ source('tap_replies', 'leadterra_sdrs') }}
{{ config(pre_hook="{{ tap_replies.mark_deleted('leadterra_sdrs') }}") }}

with loaded as (
    {{ tap_replies.union_workspace_tables('leadterra_sdrs', {
        'id': 'string',
        'name': 'string',
        'email': 'string',
        'gmailConnected': 'boolean',
        'gmailEmail': 'string',
        '_sdc_batched_at': 'timestamp',
        '_read_version': 'timestamp',
        '_sdc_deleted_at': 'timestamp',
    }) }}
)

select
    workspace,
    id as sdr_id,
    name as sdr_name,
    email as sdr_email,
    gmailconnected as gmail_connected,
    gmailemail as gmail_email,
    _sdc_batched_at as loaded_at,
    _read_version as read_at,
    _sdc_deleted_at as deleted_at,
    _sdc_deleted_at is not null as is_deleted
from loaded
