-- Leadterra follow-ups currently due: whose, when (UTC), in which thread, from which reply.
-- depends_on: {{ source('tap_replies', 'leadterra_followups') }}
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
    _sdc_batched_at as loaded_at
from loaded
