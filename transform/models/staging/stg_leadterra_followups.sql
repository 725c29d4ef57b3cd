-- Leadterra follow-ups currently due: whose, when (UTC), in which thread, from which reply.
-- A full-table stream: rows that left the provider's list are marked first (macros/full_table.sql),
-- kept here with is_deleted, and left out by the marts that count.
-- depends_on: {{ source('tap_replies', 'leadterra_followups') }}
{{ config(pre_hook="{{ tap_replies.mark_deleted('leadterra_followups') }}") }}

with loaded as (
    {{ tap_replies.union_workspace_tables('leadterra_followups', {
        'id': 'string',
        'threadId': 'string',
        'sdrId': 'string',
        'status': 'string',
        'dueAt': 'timestamp',
        'replyId': 'string',
        'step': 'integer',
        '_sdc_batched_at': 'timestamp',
        '_read_version': 'timestamp',
        '_sdc_deleted_at': 'timestamp',
    }) }}
)

select
    workspace,
    id as followup_id,
    threadid as thread_id,
    sdrid as sdr_id,
    status,
    dueat as due_at,
    replyid as reply_id,
    step,
    _sdc_batched_at as loaded_at,
    _read_version as read_at,
    _sdc_deleted_at as deleted_at,
    _sdc_deleted_at is not null as is_deleted
from loaded
