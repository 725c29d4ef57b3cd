{#-
  Every state a Leadterra follow-up has been seen in: a new version when its status, SDR or due
  time changes, or when it leaves the due list (is_deleted, macros/full_table.sql). Read by
  analytics.followup_lifecycle.
-#}
{% snapshot leadterra_followup_snapshot %}
{{ config(
    unique_key='followup_key',
    strategy='check',
    check_cols=['status', 'sdr_id', 'due_at', 'is_deleted'],
    hard_deletes='invalidate',
) }}
select
    {{ dbt.concat(['workspace', "'|'", 'followup_id']) }} as followup_key,
    workspace,
    followup_id,
    sdr_id,
    status,
    due_at,
    read_at,
    deleted_at,
    is_deleted,
    loaded_at
from {{ ref('stg_leadterra_followups') }}
{% endsnapshot %}
