-- analytics.followups_due_by_sdr: Leadterra's due follow-ups per SDR, overdue ones counted apart
-- ("overdue" is relative to when the model was built). Key: workspace, sdr_id; follow-ups that
-- name no SDR are counted under sdr_id '(unassigned)'.
with

open_followups as (
    select *
    from {{ ref('stg_leadterra_followups') }}
    -- No longer in Leadterra's due list (completed, skipped, its SDR removed): not due.
    where not is_deleted
        and (status is null or lower(status) not in ('completed', 'skipped', 'done', 'cancelled'))
)

select
    f.workspace,
    coalesce(f.sdr_id, '(unassigned)') as sdr_id,
    coalesce(s.sdr_name, f.sdr_id, '(unassigned)') as sdr_name,
    s.sdr_email,
    count(*) as due,
    count(case when f.due_at < {{ tap_replies.utc_now() }} then 1 end) as overdue,
    min(f.due_at) as next_due_at
from open_followups as f
left join {{ ref('stg_leadterra_sdrs') }} as s
    on s.workspace = f.workspace and s.sdr_id = f.sdr_id
group by f.workspace, f.sdr_id, s.sdr_name, s.sdr_email
