-- analytics.followup_lifecycle: one row per Leadterra follow-up ever seen due: when it was first
-- seen in the due list, when it left it (the first complete read without it; NULL while due),
-- and its status, SDR and due time as last seen. Key: workspace, followup_id.
with versions as (
    select
        *,
        row_number() over (
            partition by workspace, followup_id order by dbt_valid_from desc
        ) as newest_first
    from {{ ref('leadterra_followup_snapshot') }}
),

first_seen as (
    select workspace, followup_id, min(coalesce(read_at, loaded_at)) as first_seen_due_at
    from versions
    group by workspace, followup_id
)

select
    v.workspace,
    v.followup_id,
    f.first_seen_due_at,
    case
        when v.is_deleted then cast(v.deleted_at as {{ dbt.type_timestamp() }})
        -- Gone from staging altogether (tap_replies_hard_delete): the snapshot closed it.
        when v.dbt_valid_to is not null then cast(v.dbt_valid_to as {{ dbt.type_timestamp() }})
    end as left_due_list_at,
    v.status as last_status,
    v.sdr_id as last_sdr_id,
    v.due_at as last_due_at,
    not v.is_deleted and v.dbt_valid_to is null as is_due
from versions as v
inner join first_seen as f
    on f.workspace = v.workspace and f.followup_id = v.followup_id
where v.newest_first = 1
